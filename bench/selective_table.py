"""Two confidences on the same answers: accuracy (or the metric) at a coverage, and AURC.

Reads a run folder's ``<retriever>/scores.json`` and one confidence file per confidence,
``<retriever>/confidence-<name>.json`` (copies of ``confidence.json`` from runs with
``--confidence <name>``; the answers are the same, only the confidence differs). Per
retriever and confidence: the metric at 50% and 80% coverage (the most confident answers,
ties kept as `pergen.evaluation.selective` keeps them), AURC (lower is better) and ECE;
then the second confidence against the first, paired over the questions: the difference
of AURC and of the metric at 50% coverage, with a 95% percentile bootstrap interval and
its two-sided bootstrap p (2,000 resamples, seed 0).

    python bench/selective_table.py /work/runs/t-paper --confidence prob \\
        --confidence agreement --metric accuracy
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pergen.evaluation.metrics import LOWER_IS_BETTER
from pergen.evaluation.selective import aurc, ece, threshold_for_coverage

ROUNDS, SEED = 2000, 0


def at_coverage(conf: np.ndarray, value: np.ndarray, coverage: float) -> float:
    kept = conf >= threshold_for_coverage(conf, coverage)
    return float(value[kept].mean())


def loss_of(value: np.ndarray, lower_is_better: bool) -> np.ndarray:
    """What AURC averages: 1 - accuracy for a share metric, the error itself for MAE."""
    return value if lower_is_better else 1.0 - value


def figures(conf: np.ndarray, value: np.ndarray, lower: bool) -> dict[str, float]:
    out = {"at50": at_coverage(conf, value, 0.5), "at80": at_coverage(conf, value, 0.8),
           "all": float(value.mean()), "aurc": aurc(conf, loss_of(value, lower))}
    if not lower and set(np.unique(value)) <= {0.0, 1.0}:
        out["ece"] = ece(conf, value)
    return out


def bootstrap(stat, n: int) -> tuple[float, tuple[float, float], float]:
    """The statistic, its 95% interval and a two-sided p (share of resamples across 0)."""
    rng = np.random.default_rng(SEED)
    draws = np.array([stat(rng.integers(0, n, n)) for _ in range(ROUNDS)])
    value = stat(np.arange(n))
    p = min(1.0, 2 * min((draws <= 0).mean(), (draws >= 0).mean()))
    return value, (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))), p


def p_text(p: float) -> str:
    """A bootstrap p of 0 only says no resample crossed 0: print the bound it supports."""
    return f"p < {1 / ROUNDS:.2g}" if p == 0 else f"p = {p:.3g}"


def contrast(a: np.ndarray, b: np.ndarray, value: np.ndarray, lower: bool) -> tuple:
    """Confidence b against a on the same answers: AURC and the metric at 50% coverage."""
    def d_aurc(i: np.ndarray) -> float:
        loss = loss_of(value[i], lower)
        return aurc(b[i], loss) - aurc(a[i], loss)

    def d_at50(i: np.ndarray) -> float:
        return at_coverage(b[i], value[i], 0.5) - at_coverage(a[i], value[i], 0.5)
    return bootstrap(d_aurc, len(value)), bootstrap(d_at50, len(value))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--confidence", action="append", required=True)
    parser.add_argument("--metric", required=True)
    args = parser.parse_args()
    lower = args.metric in LOWER_IS_BETTER
    print(f"| retriever | confidence | n | {args.metric} at 50% | at 80% | at 100% | AURC | "
          "ECE |")
    print("|---|---|---|---|---|---|---|---|")
    contrasts = []
    for scores_path in sorted(args.folder.glob("*/scores.json")):
        run = scores_path.parent
        files = [run / f"confidence-{c}.json" for c in args.confidence]
        if not all(f.exists() for f in files):
            continue
        scores = json.loads(scores_path.read_text())
        ids = sorted(scores)
        value = np.array([scores[q][args.metric] for q in ids], dtype=float)
        confs = [np.array([json.loads(f.read_text()).get(q, 0.0) for q in ids]) for f in files]
        for name, conf in zip(args.confidence, confs):
            f = figures(conf, value, lower)
            calib = f"{f['ece']:.4f}" if "ece" in f else "-"
            print(f"| {run.name} | {name} | {len(ids)} | {f['at50']:.4f} | {f['at80']:.4f} | "
                  f"{f['all']:.4f} | {f['aurc']:.4f} | {calib} |")
        if len(confs) == 2:
            contrasts.append((run.name, *contrast(confs[0], confs[1], value, lower)))
    if contrasts:
        second, first = args.confidence[1], args.confidence[0]
        print(f"\n| retriever | AURC {second} - {first} [95% CI], p | {args.metric} at 50%: "
              f"{second} - {first} [95% CI], p |")
        print("|---|---|---|")
        for name, (da, ca, pa), (d5, c5, p5) in contrasts:
            print(f"| {name} | {da:+.4f} [{ca[0]:+.4f}, {ca[1]:+.4f}], {p_text(pa)} | "
                  f"{d5:+.4f} [{c5[0]:+.4f}, {c5[1]:+.4f}], {p_text(p5)} |")


if __name__ == "__main__":
    main()

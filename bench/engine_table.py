"""Quality of each (model, engine) run of bench/compare_engines.py against a reference, paired.

Reads ``OUT/<model-engine>/<set>/<retriever>/scores.json`` (the per-question scores every
`evaluate` writes) and prints, per data set and retriever, each model's task metric and
gold-loglik on the questions every listed model answered, with the paired test against
the reference model (t-test for ROUGE and gold-loglik, McNemar for accuracy; the same
tests as `evaluate`'s significance marks). The trivial baselines are scored on the same
questions. Speed, memory and load time come from compare_engines.py's own table.

    python bench/engine_table.py [--out runs/engines] [--reference smollm2-llama.cpp]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pergen.evaluation.significance import compare

ROOT = Path(__file__).resolve().parents[1]
METRIC = {"huffpost": "rouge-1", "tweets": "accuracy"}


def scores(folder: Path) -> dict[str, dict[str, float]]:
    path = folder / "scores.json"
    return json.loads(path.read_text()) if path.exists() else {}


def trivial(out: Path, name: str, ids: list[str]) -> tuple[str, list[float]] | None:
    """Per-question metric of copy-input on HuffPost (its run folder), of always answering
    the majority gold label on the tweets."""
    if name == "huffpost":
        base = scores(out / "trivial-huffpost" / "none")
        return ("copy-input", [base[i]["rouge-1"] for i in ids]) \
            if all(i in base for i in ids) else None
    return always_top(ROOT.parent / "shared" / "data" / "troll_tweets_authorship", ids)


def always_top(data: Path, ids: list[str]) -> tuple[str, list[float]]:
    """The constant answer: always the gold label most frequent on these questions (an
    optimistic trivial baseline: it is chosen knowing the golds), scored per question."""
    golds = {g["id"]: g["output"] for g in
             json.loads((data / "dev_outputs.json").read_text())["golds"]}
    labels = [golds[i] for i in ids]
    top = max(sorted(set(labels)), key=labels.count)
    return f'always "{top}"', [float(x == top) for x in labels]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "engines")
    p.add_argument("--reference", default="smollm2-llama.cpp")
    a = p.parse_args()
    models = sorted(d.name for d in a.out.iterdir() if d.is_dir() and not d.name.startswith("trivial"))
    for name, metric in METRIC.items():
        for retriever in ("none", "bm25"):
            runs = {m: scores(a.out / m / name / retriever) for m in models}
            runs = {m: s for m, s in runs.items() if s}
            if not runs:
                continue
            ids = sorted(set.intersection(*(set(s) for s in runs.values())))
            print(f"\n{name}, {retriever} (n = {len(ids)}; p: paired, against {a.reference})")
            base = trivial(a.out, name, ids)
            print(f"| model:engine | {metric} | p | p vs trivial | gold-loglik | p |")
            print("|---|---|---|---|---|---|")
            if base:
                print(f"| {base[0]} (trivial) | {np.mean(base[1]):.4f} | | | | |")
            ref = runs.get(a.reference)
            for m, s in runs.items():
                cells = []
                for key in (metric, "gold-loglik"):
                    values = [s[i].get(key) for i in ids]
                    if any(v is None for v in values):
                        cells += ["", ""]
                        continue
                    cell = f"{np.mean(values):.4f}" if key == metric else f"{np.mean(values):.3f}"
                    pval = ""
                    if ref is not None and m != a.reference:
                        pval = f"{compare(key, values, [ref[i][key] for i in ids]).p_value:.2g}"
                    cells += [cell, pval]
                    if key == metric:
                        cells.append(f"{compare(key, values, base[1]).p_value:.2g}" if base else "")
                print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

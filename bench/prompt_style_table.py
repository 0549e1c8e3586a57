"""Runs side by side, and every row against a baseline row and the best no-LLM reference.

Reads ``FOLDER/<run>/scores.json`` from labelled run folders (``paper=runs/h-paper``,
``chat=runs/h-chat``), so a row is ``<label>/<run>`` (``paper/bm25``, ``chat/bm25``,
``paper/ref_copy-input``). Per row: the task metric and gold-loglik over the questions
every row answered, with paired tests against ``--against`` (default ``paper/bm25``) and
against the best reference (a ``ref_*`` run: copy-input, knn, the votes, the prior). Each
cell is the delta, its 95% paired bootstrap interval (1000 resamples of the questions,
seeded) and the test's p. Issue 21 compared prompt styles with it, issue 22 ROPG:

    python bench/prompt_style_table.py paper=/work/runs/h-paper chat=/work/runs/h-chat \\
        --metric rouge-1
    python bench/prompt_style_table.py ropg=/work/runs/results/huffpost-qwen2.5-coder-1.5b \\
        --metric rouge-1 --against ropg/dense
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pergen.evaluation.metrics import GOLD_LOGLIK, LOWER_IS_BETTER, METRICS
from pergen.evaluation.significance import bootstrap_interval, compare


def rows_of(specs: list[str]) -> dict[str, dict[str, dict]]:
    rows: dict[str, dict[str, dict]] = {}
    for spec in specs:
        label, _, folder = spec.partition("=")
        for path in sorted(Path(folder).glob("*/scores.json")):
            rows[f"{label}/{path.parent.name}"] = json.loads(path.read_text())
    return rows


def units(scores: dict[str, dict], ids: list[str], metric: str) -> list:
    return [(scores[q].get("units") or {}).get(metric, scores[q][metric]) for q in ids]


def mean(scores: dict[str, dict], ids: list[str], metric: str) -> float:
    return sum(scores[q][metric] for q in ids) / len(ids)


def cell(metric: str, a: list, b: list) -> str:
    """delta [95% CI], p of a against b on the same questions."""
    res = compare(metric, a, b)
    stat = METRICS[metric].from_units
    lo, hi = bootstrap_interval(lambda i: stat([a[j] for j in i]) - stat([b[j] for j in i]),
                                len(a))
    return f"{res.delta:+.4f} [{lo:+.4f}, {hi:+.4f}], p = {res.p_value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="LABEL=RUN_FOLDER")
    parser.add_argument("--metric", required=True)
    parser.add_argument("--against", default="paper/bm25")
    args = parser.parse_args()
    rows = rows_of(args.folders)
    ids = sorted(set.intersection(*(set(r) for r in rows.values())))
    metric, lower = args.metric, args.metric in LOWER_IS_BETTER
    if not ids or any(metric not in rows[r][ids[0]] for r in rows):
        known = sorted(set.intersection(*(set(r[ids[0]]) for r in rows.values()))) if ids else []
        parser.error(f"--metric {metric}: not in every run's scores.json (shared metrics: "
                     f"{', '.join(known) or 'none: no question is shared'})")
    refs = [r for r in rows if "/ref_" in r]
    best_ref = (min if lower else max)(refs, key=lambda r: mean(rows[r], ids, metric)) \
        if refs else None
    print(f"n = {len(ids)} questions; best reference: {best_ref}\n")
    print(f"| row | {metric} | vs {args.against}: delta [95% CI], p | vs {best_ref}: "
          f"delta [95% CI], p | {GOLD_LOGLIK} | vs {args.against}: delta [95% CI], p |")
    print("|---|---|---|---|---|---|")
    for name, scores in rows.items():
        cells = [f"{mean(scores, ids, metric):.4f}"]
        for other in (args.against, best_ref):
            if other is None or other == name or other not in rows:
                cells.append("")
                continue
            cells.append(cell(metric, units(scores, ids, metric), units(rows[other], ids, metric)))
        has_ll = all(GOLD_LOGLIK in scores[q] for q in ids)
        cells.append(f"{mean(scores, ids, GOLD_LOGLIK):.4f}" if has_ll else "-")
        base = rows.get(args.against)
        if has_ll and base and name != args.against and all(GOLD_LOGLIK in base[q] for q in ids):
            cells.append(cell(GOLD_LOGLIK, units(scores, ids, GOLD_LOGLIK),
                              units(base, ids, GOLD_LOGLIK)))
        else:
            cells.append("")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Paper vs chat prompts, and every row against the best no-LLM reference: one table.

Reads ``FOLDER/<run>/scores.json`` from labelled run folders (``paper=runs/h-paper``,
``chat=runs/h-chat``), so a row is ``<label>/<run>`` (``paper/bm25``, ``chat/bm25``,
``paper/ref_copy-input``). Per row: the task metric and gold-loglik over the questions
every row answered, with paired tests against ``--against`` (default ``paper/bm25``) and
against the best reference (a ``ref_*`` run: copy-input, knn, the votes, the prior).

    python bench/prompt_style_table.py paper=/work/runs/h-paper chat=/work/runs/h-chat \\
        --metric rouge-1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pergen.evaluation.metrics import GOLD_LOGLIK, LOWER_IS_BETTER
from pergen.evaluation.significance import compare


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="LABEL=RUN_FOLDER")
    parser.add_argument("--metric", required=True)
    parser.add_argument("--against", default="paper/bm25")
    args = parser.parse_args()
    rows = rows_of(args.folders)
    ids = sorted(set.intersection(*(set(r) for r in rows.values())))
    metric, lower = args.metric, args.metric in LOWER_IS_BETTER
    refs = [r for r in rows if "/ref_" in r]
    best_ref = (min if lower else max)(refs, key=lambda r: mean(rows[r], ids, metric)) \
        if refs else None
    print(f"n = {len(ids)} questions; best reference: {best_ref}\n")
    print(f"| row | {metric} | vs {args.against}: delta, p | vs {best_ref}: delta, p | "
          f"{GOLD_LOGLIK} | vs {args.against}: delta, p |")
    print("|---|---|---|---|---|---|")
    for name, scores in rows.items():
        cells = [f"{mean(scores, ids, metric):.4f}"]
        for other in (args.against, best_ref):
            if other is None or other == name or other not in rows:
                cells.append("")
                continue
            res = compare(metric, units(scores, ids, metric), units(rows[other], ids, metric))
            cells.append(f"{res.delta:+.4f}, p = {res.p_value:.3g}")
        has_ll = all(GOLD_LOGLIK in scores[q] for q in ids)
        cells.append(f"{mean(scores, ids, GOLD_LOGLIK):.4f}" if has_ll else "-")
        base = rows.get(args.against)
        if has_ll and base and name != args.against and all(GOLD_LOGLIK in base[q] for q in ids):
            res = compare(GOLD_LOGLIK, units(scores, ids, GOLD_LOGLIK),
                          units(base, ids, GOLD_LOGLIK))
            cells.append(f"{res.delta:+.4f}, p = {res.p_value:.3g}")
        else:
            cells.append("")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

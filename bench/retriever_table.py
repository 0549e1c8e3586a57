"""One dev-split table from run folders: each retriever against no profile and the trivial answer.

Reads ``FOLDER/<retriever>/scores.json`` (what every `evaluate` writes, per question) from
one or more run folders of the same model and data set, keeps the questions every row
answered (or the first ``--limit`` of them), and prints per retriever the task metric and
gold-loglik with paired tests: against ``none`` (McNemar for accuracy, t-test otherwise)
and against the trivial answer (copy-input's run folder for headlines; always the most
frequent gold label, an optimistic constant, for the tweets).

    python bench/retriever_table.py runs/engines/qwen2.5-coder-1.5b-llama.cpp/tweets \\
        runs/dev-1.5b/tweets-60 --set tweets [--limit 60]
    python bench/retriever_table.py runs/dev-1.5b/huffpost --set huffpost \\
        --trivial runs/engines/trivial-huffpost/none
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine_table import always_top  # bench/ is on sys.path when run as a script

from pergen.evaluation.metrics import GOLD_LOGLIK
from pergen.evaluation.significance import compare

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SETS = {"huffpost": ("huffpost_headlines", "rouge-1"),
        "tweets": ("troll_tweets_authorship", "accuracy")}
ORDER = ("none", "bm25", "recency", "dense", "rrf")


def runs_in(folders: list[Path]) -> dict[str, dict[str, dict[str, float]]]:
    """Per retriever, its per-question scores; a later folder adds retrievers, never
    replaces one."""
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*/scores.json")):
            runs.setdefault(path.parent.name, json.loads(path.read_text()))
    return runs


def trivial(name: str, ids: list[str], folder: Path | None) -> tuple[str, list[float]]:
    data, metric = SETS[name]
    if folder is not None:
        base = json.loads((folder / "scores.json").read_text())
        model = json.loads((folder / "run.json").read_text())["settings"]["model"]
        return f"trivial: {model}", [base[i][metric] for i in ids]
    label, values = always_top(DATA / data, ids)
    return f"trivial: {label}", values


def _p(metric: str, a: list[float], b: list[float]) -> str:
    return f"{compare(metric, a, b).p_value:.2g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--set", choices=list(SETS), required=True)
    p.add_argument("--limit", type=int, default=None, help="the first N common questions")
    p.add_argument("--trivial", type=Path, default=None,
                   help="a run folder whose answers are the trivial baseline (copy-input)")
    a = p.parse_args()
    metric = SETS[a.set][1]
    runs = runs_in(a.folders)
    if "none" not in runs:
        p.error(f"no none/scores.json in {', '.join(map(str, a.folders))}: the table compares "
                "every retriever with a finished `--retriever none` run of the same model")
    names = [r for r in ORDER if r in runs] + sorted(set(runs) - set(ORDER))
    ids = [q for q in runs["none"] if all(q in runs[r] for r in names)][:a.limit]
    label, base = trivial(a.set, ids, a.trivial)
    none = [runs["none"][q][metric] for q in ids]
    gold_none = [runs["none"][q].get(GOLD_LOGLIK) for q in ids]
    print(f"| method | n | {metric} | p vs none | p vs trivial | {GOLD_LOGLIK} | p vs none |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {label} | {len(ids)} | {sum(base) / len(ids):.4f} | {_p(metric, base, none)} "
          "| | | |")
    for name in names:
        vals = [runs[name][q][metric] for q in ids]
        gold = [runs[name][q].get(GOLD_LOGLIK) for q in ids]
        has_gold = None not in gold and None not in gold_none
        mean_gold = f"{sum(gold) / len(gold):.3f}" if has_gold else ""  # type: ignore[arg-type]
        cells = ["", _p(metric, base, vals)] if name == "none" else \
            [_p(metric, vals, none), _p(metric, vals, base)]
        gold_p = _p(GOLD_LOGLIK, gold, gold_none) if has_gold and name != "none" else ""  # type: ignore[arg-type]
        print(f"| {name} | {len(ids)} | {sum(vals) / len(ids):.4f} | {cells[0]} | {cells[1]} "
              f"| {mean_gold} | {gold_p} |")


if __name__ == "__main__":
    main()

"""Tables of `bench/run_memory_levels.sh`: memory and levels against no personalization.

    python bench/memory_levels_table.py runs/memory-levels

For each data set: every configuration's task metric and gold-loglik, with the paired
test against `none` of the same set (McNemar for accuracy, t-test for ROUGE and
gold-loglik), next to the trivial baselines (copy-input for headlines, the constant
first label for the tweets), then the cold-start tables when the sweeps are there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pergen.evaluation.metrics import GOLD_LOGLIK
from pergen.evaluation.significance import compare
from pergen.run.pipeline import evaluate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {"huffpost": ("huffpost_headlines", "rouge-1", None),
        "tweets": ("troll_tweets_authorship", "accuracy", "examples/tasks/tweet_authorship.toml")}
ROWS = [("no profile", "items", "none"), ("items: bm25", "items", "bm25"),
        ("items: recency", "items", "recency"),
        ("summary (stats)", "summary-stats", "none"), ("summary (llm)", "summary-llm", "none"),
        ("summary+items (stats)", "summary+items-stats", "bm25"),
        ("summary+items (llm)", "summary+items-llm", "bm25"),
        ("level persona (bm25)", "level-persona", "bm25"),
        ("level global (bm25)", "level-global", "bm25"), ("level auto (bm25)", "level-auto", "bm25")]


def _values(folder: Path, retriever: str, metric: str) -> dict[str, float] | None:
    path = folder / retriever / "scores.json"
    if not path.exists():
        return None
    return {q: row[metric] for q, row in json.loads(path.read_text()).items() if metric in row}


def _model(folder: Path, retriever: str) -> str | None:
    path = folder / retriever / "run.json"
    return json.loads(path.read_text())["settings"]["model"] if path.exists() else None


def trivial(name: str, out: Path, n: int) -> list[str]:
    """Table cells of the trivial answers on the same first `n` questions (name, n, value,
    p against no profile), run through pergen itself (no LLM: seconds)."""
    folder, metric, task = SETS[name]
    if name == "tweets":  # a choice task: the constant answer is the trivial one
        golds = json.loads((DATA / folder / "dev_outputs.json").read_text())["golds"][:n]
        share = sum(g["output"] == "[1]" for g in golds) / len(golds)
        return [f"always [1] | {n} | {share:.4f} |"]
    rows = []
    for model, retriever in (("copy-input", "none"), ("knn", "bm25")):
        folder_out = out / f"{name}-{model}-{n}"
        runs = evaluate(DATA / folder, "dev", [retriever], folder_out, task=task, model=model,
                        limit=n, progress=False)
        base = _values(out / f"{name}-items", "none", metric) or {}
        mine = _values(folder_out, retriever, metric) or {}
        ids = [q for q in base if q in mine]
        p = compare(metric, [mine[q] for q in ids], [base[q] for q in ids]).p_value
        label = model + (f" ({retriever})" if model == "knn" else "")
        rows.append(f"{label} | {n} | {runs[retriever].metrics[metric]:.4f} | {p:.3g}")
    return rows


def table(out: Path, name: str) -> str:
    _, metric, _ = SETS[name]
    base = {m: _values(out / f"{name}-items", "none", m) for m in (metric, GOLD_LOGLIK)}
    if not base[metric]:
        return f"### {name} dev\n\nnot run yet\n"
    n = len(base[metric])
    lines = [f"### {name} dev", "", f"| configuration | n | {metric} | p | {GOLD_LOGLIK} | p |",
             "|---|---|---|---|---|---|"]
    lines += [f"| trivial: {cells} | | |" for cells in trivial(name, out, n)]
    model = _model(out / f"{name}-items", "none")
    for row, suffix, retriever in ROWS:
        other = _model(out / f"{name}-{suffix}", retriever)
        if other not in (None, model):  # a row run with another model is not comparable
            row = f"{row} [model {other}, not {model}]"
        cells = []
        n = 0
        for m in (metric, GOLD_LOGLIK):
            vals = _values(out / f"{name}-{suffix}", retriever, m)
            ref = base[m]
            if not vals or not ref:
                cells += ["", ""]
                continue
            ids = [q for q in ref if q in vals]
            n = len(ids)
            a, b = [vals[q] for q in ids], [ref[q] for q in ids]
            p = compare(m, a, b).p_value if (suffix, retriever) != ("items", "none") else None
            cells += [f"{sum(a) / n:.4f}", "" if p is None else f"{p:.3g}"]
        if any(cells):
            lines.append(f"| {row} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/memory-levels")
    for name in SETS:
        print(table(out, name))
        cold = out / f"{name}-cold" / "cold_start.md"
        if cold.exists():
            print(cold.read_text().replace("# Cold-start study", f"### {name}: cold start"))


if __name__ == "__main__":
    main()

"""The rating-task table: every label mode and the trivial baselines on one split.

    python bench/rating_table.py --data runs/data/movielens_rating --split dev --limit 150 \
        --scored runs/rating/ml-scored --generate runs/rating/ml-generate

`--scored` is a `pergen evaluate --label-mode calibrate` run folder: its journals hold the
model's label scores of every question, from which choose, calibrate, prior and expected
are all derived here with pergen's own functions (the same scores, so the modes differ
only in how a rating is picked from them: one LLM pass instead of four on 2 cores).
`--generate` is the same run with `--label-mode generate`. Baselines: profile-prior (each
user's mean rating rounded), always 4, and the global mode (the most frequent rating of
all profile items). Each row: MAE, RMSE, MAE's difference from profile-prior with the
paired t-test's p, the most frequent answer's share, and pergen's degenerate-answer
warning where it fires.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from pergen.baselines.priors import global_distribution, label_counts, prior_scores
from pergen.data.splits import golds_for, load_split, resolve_task
from pergen.evaluation.calibration import argmax_labels, calibrated_scores
from pergen.evaluation.metrics import get_metric
from pergen.evaluation.significance import compare
from pergen.memory.levels import Population
from pergen.run.folder import degenerate, journal
from pergen.tasks.rating import expected_ratings, prior_answers


def modes(scores: np.ndarray, questions: list, task, everyone: list, strength: float
          ) -> dict[str, list[str]]:
    """Answers of every scored label mode from the same raw label scores."""
    labels = list(task.labels)
    calibrated = calibrated_scores(scores, len(labels))
    glob = global_distribution(task, everyone)
    with_prior = prior_scores(calibrated, [q.profile for q in questions], task, glob, strength)
    return {"choose": argmax_labels(scores, labels),
            "calibrate": argmax_labels(calibrated, labels),
            f"prior (strength {strength:g})": argmax_labels(with_prior, labels),
            "expected, raw scores (no calibration, no prior)": expected_ratings(scores, task),
            "expected, calibrated (no prior)": expected_ratings(calibrated, task),
            f"expected (calibrated + prior, strength {strength:g})":
                expected_ratings(with_prior, task),
            f"median (calibrated + prior, strength {strength:g})": _medians(with_prior, labels)}


def _medians(matrix: np.ndarray, labels: list[str]) -> list[str]:
    """The posterior median rating: the first label whose cumulative probability reaches
    1/2 (what minimizes the expected absolute error, where the mean minimizes the squared)."""
    p = np.exp(matrix - matrix.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    return [labels[int(np.searchsorted(row, 0.5))] for row in cdf]


def row(name: str, answers: list[str], golds: list[str], base: list[str], task) -> str:
    mae, rmse = get_metric("mae"), get_metric("rmse")
    a, b = mae.values(answers, golds), mae.values(base, golds)
    test = compare("mae", a, b)
    top, n = Counter(answers).most_common(1)[0]
    warn = degenerate(dict(enumerate(answers)))
    return (f"| {name} | {mae(answers, golds):.3f} | {rmse(answers, golds):.3f} | "
            f"{test.delta:+.3f} | {test.p_value:.2g} | {top}: {n / len(answers):.0%} | "
            f"{'fires' if warn else ''} |")


def _journal(folders: list[Path], retriever: str) -> dict[str, dict]:
    """The retriever's finished records from whichever folder ran it."""
    for folder in folders:
        if (folder / retriever / "journal.jsonl").exists():
            return journal(folder, retriever)
    return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--scored", type=Path, action="append", required=True,
                    help="calibrate run folder(s); repeat when retrievers ran apart")
    ap.add_argument("--generate", type=Path, action="append", default=[])
    ap.add_argument("--strength", type=float, action="append",
                    help="prior strength(s) for prior/expected/median (default 1; repeat to sweep)")
    args = ap.parse_args()
    task = resolve_task(args.data, args.split, None)
    questions = load_split(args.data, args.split, args.limit, task=task)
    gold_map = golds_for(args.data, args.split, questions)
    assert gold_map is not None
    golds = [gold_map[q.id] for q in questions]
    base = prior_answers(task, questions, questions)
    baseline = [base[q.id] for q in questions]
    items = Population(questions, task).items()
    mode = max(task.labels, key=lambda lab: label_counts(task, items)[task.labels.index(lab)])
    print(f"n = {len(questions)} questions of {args.data} {args.split}; p: paired t-test on "
          "MAE against profile-prior\n")
    print("| method | MAE | RMSE | MAE - prior | p | top answer | degenerate |")
    print("|---|---|---|---|---|---|---|")
    print(row("profile-prior (user's mean rating)", baseline, golds, baseline, task))
    print(row("always 4", ["4"] * len(golds), golds, baseline, task))
    print(row(f"global mode ({mode})", [mode] * len(golds), golds, baseline, task))
    for retriever in ("none", "bm25"):
        done = _journal(args.generate, retriever)
        if all(q.id in done for q in questions):
            answers = [done[q.id]["output"] for q in questions]
            print(row(f"{retriever}: generate", answers, golds, baseline, task))
        elif done:
            print(f"| {retriever}: generate run incomplete ({len(done)} done) |")
        done = _journal(args.scored, retriever)
        if not all(q.id in done for q in questions):
            print(f"| {retriever}: scored run incomplete ({len(done)} done) |")
            continue
        scores = np.array([done[q.id]["label_scores"] for q in questions], dtype=float)
        shown: set[str] = set()
        for strength in args.strength or [1.0]:
            for name, answers in modes(scores, questions, task, questions, strength).items():
                if name not in shown:
                    print(row(f"{retriever}: {name}", answers, golds, baseline, task))
                    shown.add(name)


if __name__ == "__main__":
    main()

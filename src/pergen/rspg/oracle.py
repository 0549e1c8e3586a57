"""Per-question analyses of a retriever pool (Salemi et al., SIGIR 2024, section 5).

Everything here works on a score matrix ``scores[retriever][question_id] -> value`` of one
metric (the per-example values of ``scores.json``). It answers the questions that motivate
retriever selection: how often is each retriever the best one (Figure 3, winning rate),
what would a perfect or a worst-possible selector reach (Table 5, oracle bounds), and how
often does a selector pick a best retriever (Table 4, selection success rate).

Ties follow the paper's rule: "If two or more retrieval models achieve the same and the
highest performance, they all get rewarded." Values that differ only by floating-point
noise (``TIE_TOL``) count as equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..errors import ConfigError, DataError

Scores = Mapping[str, Mapping[str, float]]

TIE_TOL = 1e-12


def _questions(scores: Scores) -> list[str]:
    """The question ids shared by every retriever, in the first retriever's order.

    Every analysis compares retrievers question by question, so a question one retriever
    lacks cannot be judged: it is an error rather than silently dropped.
    """
    if not scores:
        raise ConfigError("no retrievers in the score matrix")
    first_name, first = next(iter(scores.items()))
    if not first:
        raise DataError(f"retriever {first_name!r} has no questions")
    questions = list(first)
    wanted = set(questions)
    for name, values in scores.items():
        missing = wanted - set(values)
        extra = set(values) - wanted
        if missing or extra:
            which = sorted(missing)[:3] if missing else sorted(extra)[:3]
            what = (f"lacks {len(missing)} question(s) of {first_name!r}" if missing
                    else f"has {len(extra)} question(s) {first_name!r} lacks")
            raise DataError(f"retriever {name!r} {what}, e.g. {', '.join(map(repr, which))}")
        for qid in questions:
            value = values[qid]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise DataError(f"retriever {name!r}: value {value!r} is not a finite number",
                                record=qid)
    return questions


def _best(values: list[float], lower_is_better: bool) -> float:
    return min(values) if lower_is_better else max(values)


def _worst(values: list[float], lower_is_better: bool) -> float:
    return max(values) if lower_is_better else min(values)


def _ties(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TIE_TOL, abs_tol=TIE_TOL)


def winners(scores: Scores, lower_is_better: bool = False) -> dict[str, list[str]]:
    """The best retriever(s) of each question; all tied best retrievers are listed."""
    names = list(scores)
    result: dict[str, list[str]] = {}
    for qid in _questions(scores):
        values = [scores[n][qid] for n in names]
        best = _best(values, lower_is_better)
        result[qid] = [n for n, v in zip(names, values) if _ties(v, best)]
    return result


def winning_rate(scores: Scores, lower_is_better: bool = False) -> dict[str, float]:
    """Share of wins of each retriever (paper, Figure 3), summing to 1.

    Each question rewards every retriever that reaches its best value (ties: all of them
    win), and the win counts are normalized by their total. Retrievers that never win get
    0.0, so the result has every retriever of `scores`, in its order.
    """
    counts = dict.fromkeys(scores, 0)
    for best in winners(scores, lower_is_better).values():
        for name in best:
            counts[name] += 1
    total = sum(counts.values())  # >= number of questions: every question has a winner
    return {name: count / total for name, count in counts.items()}


def oracle_bounds(scores: Scores, lower_is_better: bool = False) -> tuple[float, float]:
    """(lower, upper) bound of any per-question selector (paper, Table 5): the mean over
    questions of the worst and of the best retriever's value.

    "Lower" and "upper" are in performance, so with `lower_is_better` (MAE) the lower
    bound is the larger number.
    """
    questions = _questions(scores)
    worst = best = 0.0
    for qid in questions:
        values = [v[qid] for v in scores.values()]
        worst += _worst(values, lower_is_better)
        best += _best(values, lower_is_better)
    return worst / len(questions), best / len(questions)


def _check_chosen(scores: Scores, chosen: Mapping[str, str]) -> list[str]:
    questions = _questions(scores)
    missing = [q for q in questions if q not in chosen]
    if missing:
        raise DataError(f"the selection lacks {len(missing)} of {len(questions)} question(s), "
                        f"e.g. {', '.join(map(repr, missing[:3]))}")
    extra = sorted(set(chosen) - set(questions))
    if extra:
        raise DataError(f"the selection has {len(extra)} question(s) not in the scores, "
                        f"e.g. {', '.join(map(repr, extra[:3]))}")
    for qid in questions:
        if chosen[qid] not in scores:
            raise DataError(f"chosen retriever {chosen[qid]!r} is not in the pool "
                            f"({', '.join(map(repr, scores))})", record=qid)
    return questions


def selected_scores(scores: Scores, chosen: Mapping[str, str]) -> dict[str, float]:
    """Per-question value of the retriever a selector chose for that question."""
    return {qid: scores[chosen[qid]][qid] for qid in _check_chosen(scores, chosen)}


def success_rate(scores: Scores, chosen: Mapping[str, str], lower_is_better: bool = False) -> float:
    """Share of questions where the chosen retriever reaches the best value of the pool
    (paper, Table 4); choosing any of several tied best retrievers is a success."""
    questions = _check_chosen(scores, chosen)
    hits = 0
    for qid in questions:
        best = _best([v[qid] for v in scores.values()], lower_is_better)
        hits += _ties(scores[chosen[qid]][qid], best)
    return hits / len(questions)

"""Winning rate, oracle bounds and selection success on hand-checked score matrices."""

from __future__ import annotations

import math

import pytest

from pergen.errors import ConfigError, DataError
from pergen.rspg.oracle import oracle_bounds, selected_scores, success_rate, winners, winning_rate

# Higher is better (ROUGE-like). Per question, best / worst:
#   q1: bm25 0.4 best;              recency 0.1 worst
#   q2: none = bm25 = 0.5 (tie);    recency 0.2 worst
#   q3: recency 0.3 best;           none 0.0 worst
#   q4: none 0.3 best;              bm25 0.1 worst
# Wins: none 2 (q2, q4), bm25 2 (q1, q2), recency 1 (q3); 5 wins in all (q2 counts twice)
#   -> rates 2/5 = 0.4, 2/5 = 0.4, 1/5 = 0.2.
# Bounds: worst (0.1 + 0.2 + 0.0 + 0.1) / 4 = 0.1; best (0.4 + 0.5 + 0.3 + 0.3) / 4 = 0.375.
ROUGE = {
    "none": {"q1": 0.2, "q2": 0.5, "q3": 0.0, "q4": 0.3},
    "bm25": {"q1": 0.4, "q2": 0.5, "q3": 0.1, "q4": 0.1},
    "recency": {"q1": 0.1, "q2": 0.2, "q3": 0.3, "q4": 0.2},
}

# Lower is better (absolute rating error, MAE). Per question, best / worst:
#   a: bm25 0 best;                  recency 2 worst
#   b: none = bm25 = 0 (tie);        recency 1 worst
#   c: bm25 = recency = 1 (tie);     none 2 worst
#   d: recency 0 best;               bm25 2 worst
# Wins: none 1 (b), bm25 3 (a, b, c), recency 2 (c, d); 6 in all -> 1/6, 1/2, 1/3.
# Bounds: worst (2 + 1 + 2 + 2) / 4 = 1.75; best (0 + 0 + 1 + 0) / 4 = 0.25.
MAE = {
    "none": {"a": 1.0, "b": 0.0, "c": 2.0, "d": 1.0},
    "bm25": {"a": 0.0, "b": 0.0, "c": 1.0, "d": 2.0},
    "recency": {"a": 2.0, "b": 1.0, "c": 1.0, "d": 0.0},
}


def test_winners_list_every_tied_best():
    assert winners(ROUGE) == {"q1": ["bm25"], "q2": ["none", "bm25"], "q3": ["recency"],
                              "q4": ["none"]}


def test_winning_rate_rewards_all_tied_and_sums_to_one():
    rates = winning_rate(ROUGE)
    assert list(rates) == ["none", "bm25", "recency"]
    assert rates == pytest.approx({"none": 0.4, "bm25": 0.4, "recency": 0.2})
    assert sum(rates.values()) == pytest.approx(1.0)


def test_winning_rate_lower_is_better():
    rates = winning_rate(MAE, lower_is_better=True)
    assert rates == pytest.approx({"none": 1 / 6, "bm25": 1 / 2, "recency": 1 / 3})


def test_winning_rate_gives_zero_to_a_retriever_that_never_wins():
    # "bad" is below "good" everywhere: good wins both questions -> 1.0 and 0.0.
    rates = winning_rate({"good": {"x": 1.0, "y": 0.5}, "bad": {"x": 0.0, "y": 0.4}})
    assert rates == {"good": 1.0, "bad": 0.0}


def test_float_noise_is_a_tie():
    # 0.1 + 0.2 == 0.30000000000000004: the same value up to rounding, so both win.
    assert winning_rate({"a": {"q": 0.1 + 0.2}, "b": {"q": 0.3}}) == {"a": 0.5, "b": 0.5}


def test_oracle_bounds():
    assert oracle_bounds(ROUGE) == pytest.approx((0.1, 0.375))
    # Lower/upper are in performance: for MAE the lower bound is the larger error.
    assert oracle_bounds(MAE, lower_is_better=True) == pytest.approx((1.75, 0.25))


def test_success_rate_and_selected_scores():
    # q1 bm25 = best (hit); q2 none ties bm25 at the best (hit); q3 none 0.0 < 0.3 (miss);
    # q4 recency 0.2 < 0.3 (miss) -> 2/4.
    chosen = {"q1": "bm25", "q2": "none", "q3": "none", "q4": "recency"}
    assert success_rate(ROUGE, chosen) == 0.5
    assert selected_scores(ROUGE, chosen) == {"q1": 0.4, "q2": 0.5, "q3": 0.0, "q4": 0.2}


def test_success_rate_lower_is_better():
    # a bm25 0 (hit); b recency 1 > 0 (miss); c recency ties bm25 at 1 (hit); d recency 0 (hit).
    chosen = {"a": "bm25", "b": "recency", "c": "recency", "d": "recency"}
    assert success_rate(MAE, chosen, lower_is_better=True) == 0.75
    # The same choice judged as if higher were better: a 0 < 2 (miss), b recency 1 is the
    # max (hit), c 1 < 2 (miss), d 0 < 2 (miss) -> 1/4.
    assert success_rate(MAE, chosen) == 0.25


def test_oracle_selector_reaches_the_upper_bound():
    best = {q: names[0] for q, names in winners(ROUGE).items()}
    assert success_rate(ROUGE, best) == 1.0
    values = selected_scores(ROUGE, best)
    assert sum(values.values()) / len(values) == pytest.approx(oracle_bounds(ROUGE)[1])


def test_empty_input():
    with pytest.raises(ConfigError, match="no retrievers"):
        winning_rate({})
    with pytest.raises(DataError, match="'none' has no questions"):
        oracle_bounds({"none": {}})


def test_question_missing_for_a_retriever():
    broken = {**ROUGE, "recency": {"q1": 0.1, "q2": 0.2, "q3": 0.3}}
    with pytest.raises(DataError, match=r"'recency' lacks 1 question.*'q4'"):
        winning_rate(broken)
    extra = {**ROUGE, "bm25": {**ROUGE["bm25"], "q5": 0.9}}
    with pytest.raises(DataError, match=r"'bm25' has 1 question.*'q5'"):
        oracle_bounds(extra)


def test_non_finite_value():
    with pytest.raises(DataError, match="record q2.*not a finite number"):
        winning_rate({"a": {"q1": 0.1, "q2": math.nan}})


def test_bad_selection():
    with pytest.raises(DataError, match=r"lacks 1 of 4 question.*'q4'"):
        success_rate(ROUGE, {"q1": "bm25", "q2": "bm25", "q3": "bm25"})
    with pytest.raises(DataError, match="not in the scores"):
        selected_scores(ROUGE, {"q1": "bm25", "q2": "bm25", "q3": "bm25", "q4": "bm25", "q9": "bm25"})
    with pytest.raises(DataError, match="record q3.*'dense' is not in the pool"):
        success_rate(ROUGE, {"q1": "bm25", "q2": "bm25", "q3": "dense", "q4": "bm25"})

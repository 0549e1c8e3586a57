"""Selective-prediction math (`pergen.evaluation.selective`), checked against values worked by hand,
and the scoring rule of abstained questions (`pergen.evaluation.abstention`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pergen.evaluation import selective
from pergen.evaluation.abstention import score_predictions, selective_figures
from pergen.tasks import get_task


def test_risk_coverage_and_aurc_by_hand() -> None:
    # Most confident first: losses 0, 1, 0, 1 -> risks 0/1, 1/2, 1/3, 2/4.
    cov, risk = selective.risk_coverage([0.6, 0.9, 0.7, 0.8], [1, 0, 0, 1])
    assert cov.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert risk.tolist() == pytest.approx([0.0, 0.5, 1 / 3, 0.5])
    assert selective.aurc([0.6, 0.9, 0.7, 0.8], [1, 0, 0, 1]) == pytest.approx(
        (0 + 1 / 2 + 1 / 3 + 1 / 2) / 4)


def test_ties_take_the_expected_risk_over_their_orders() -> None:
    # Two tied answers, one right one wrong: at k = 1 the risk is 1/2 whichever comes first.
    cov, risk = selective.risk_coverage([0.5, 0.5, 0.1], [0, 1, 1])
    assert risk.tolist() == pytest.approx([0.5, 0.5, 2 / 3])
    # Tie order in the input does not matter.
    assert selective.aurc([0.5, 0.5, 0.1], [1, 0, 1]) == selective.aurc([0.5, 0.5, 0.1], [0, 1, 1])


def test_perfect_ranking_has_the_lowest_aurc() -> None:
    losses = [0, 0, 1, 1]
    best = selective.aurc([4, 3, 2, 1], losses)
    worst = selective.aurc([1, 2, 3, 4], losses)
    assert best < selective.aurc([1, 1, 1, 1], losses) < worst
    assert best == pytest.approx((0 + 0 + 1 / 3 + 1 / 2) / 4)
    assert math.isnan(selective.aurc([], []))


def test_threshold_for_coverage() -> None:
    conf = [0.9, 0.1, 0.5, 0.7, 0.3]
    assert selective.threshold_for_coverage(conf, 1.0) == 0.1
    assert selective.threshold_for_coverage(conf, 0.6) == 0.5  # 3 of 5
    assert selective.threshold_for_coverage(conf, 0.5) == 0.5  # ceil(2.5) = 3
    assert selective.threshold_for_coverage([0.2] * 10, 0.8) == 0.2  # 0.8 * 10: no float slip
    assert selective.threshold_for_coverage(list(np.arange(10) / 10), 0.8) == 0.2
    for bad in (0.0, 1.5, -1.0):
        with pytest.raises(ValueError, match="coverage"):
            selective.threshold_for_coverage(conf, bad)


def test_ece_and_reliability_bins_by_hand() -> None:
    conf = [0.95, 0.95, 0.55, 0.55, 1.0]
    correct = [1, 0, 1, 1, 1]
    bins = selective.reliability(conf, correct)
    assert [(b.lo, b.count) for b in bins] == [(0.5, 2), (0.9, 3)]  # 1.0 falls in the last bin
    assert bins[1].confidence == pytest.approx((0.95 + 0.95 + 1.0) / 3)
    # |1 - 0.55| * 2/5 + |2/3 - 0.9667| * 3/5
    assert selective.ece(conf, correct) == pytest.approx(
        0.45 * 2 / 5 + abs(2 / 3 - 2.9 / 3) * 3 / 5)
    assert selective.ece([0.0, 1.0], [0, 1]) == 0.0  # perfectly calibrated


def test_a_fake_model_with_known_confidence_gives_the_exact_aurc() -> None:
    """Four label answers whose confidences and correctness are known."""
    task = get_task("LaMP_2")
    golds = {"a": "comedy", "b": "action", "c": "fantasy", "d": "comedy"}
    preds = {"a": "comedy", "b": "comedy", "c": "fantasy", "d": "action"}  # right, wrong, right, wrong
    conf = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}
    figures = selective_figures(task, golds, preds, conf)
    assert figures["aurc"] == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    assert figures["at_coverage"]["0.5"]["accuracy"] == 0.5  # a, b
    assert figures["at_coverage"]["1"]["accuracy"] == 0.5
    assert figures["at_coverage"]["0.8"]["coverage"] == 1.0  # ceil(3.2) = 4
    # ECE: bins 0.9 (a: right), 0.8 (b: wrong), 0.7 (c: right), 0.6 (d: wrong)
    assert figures["ece"] == pytest.approx((0.1 + 0.8 + 0.3 + 0.6) / 4)


def test_abstained_answers_are_scored_as_the_rule_says() -> None:
    """Abstained: left out of the answered metric, worst in the full-coverage one."""
    task = get_task("LaMP_2")
    golds = {"a": "comedy", "b": "action", "c": "fantasy", "d": "comedy"}
    preds = {"a": "comedy", "b": "action", "c": "comedy"}  # d abstained
    found = score_predictions(task, golds, preds, missing="abstain")
    assert found["answered"]["coverage"] == 0.75
    assert found["answered"]["accuracy"] == pytest.approx(2 / 3)
    assert found["metrics"]["accuracy"] == 0.5  # d counted as wrong
    rating = get_task("LaMP_3")
    found = score_predictions(rating, {"a": "2", "b": "5"}, {"a": "3"}, missing="abstain")
    assert found["answered"]["mae"] == 1.0
    assert found["metrics"]["mae"] == pytest.approx((1 + 4) / 2)  # b: the worst rating, 1


def test_rating_loss_and_correctness() -> None:
    task = get_task("LaMP_3")
    golds = {"a": "4", "b": "2"}
    figures = selective_figures(task, golds, {"a": "4", "b": "5"}, {"a": 0.9, "b": 0.2})
    assert figures["metric"] == "mae"
    assert figures["curve"]["risk"] == pytest.approx([0.0, 1.5])  # |4-4|, then |5-2| averaged
    assert figures["ece"] == pytest.approx((0.1 + 0.2) / 2)  # exact rating is correct

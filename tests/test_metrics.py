"""Metrics: hand-computed cases and agreement with rouge_score on the shared HuffPost data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pergen.errors import ConfigError, DataError
from pergen.evaluation import metrics
from pergen.tasks import get_task

LABELS = ("a", "b", "c")


def test_accuracy_strips_and_rejects_out_of_label():
    preds = [" a ", "x", "b\n", "b"]
    golds = ["a", "a", " b", "c"]
    assert metrics.accuracy_per_example(preds, golds, LABELS) == [1.0, 0.0, 1.0, 0.0]
    assert metrics.accuracy(preds, golds, LABELS) == 0.5


def test_out_of_label_prediction_is_wrong_even_if_gold_is_out_of_label():
    assert metrics.accuracy(["zzz"], ["zzz"], LABELS) == 0.0


def test_macro_f1_hand_computed_with_out_of_label_prediction():
    # a: TP1 FP0 FN1 -> 2/3; b: TP1 FP1 FN0 -> 2/3; c: TP0 FN1 -> 0; "x" adds no FP
    preds, golds = ["a", "x", "b", "b"], ["a", "a", "b", "c"]
    assert metrics.macro_f1(preds, golds, LABELS) == pytest.approx(4 / 9)
    # a label never gold nor predicted counts as F1 = 0 in the macro average
    assert metrics.macro_f1(preds, golds, LABELS + ("d",)) == pytest.approx(1 / 3)


def test_macro_f1_matches_sklearn_semantics():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = [str(i) for i in range(5)]
    pool = labels + ["junk", "7"]
    for _ in range(20):
        golds = list(rng.choice(labels, 30))
        preds = list(rng.choice(pool, 30))
        idx = {lab: i for i, lab in enumerate(labels)}
        expected = sk.f1_score([idx.get(g, -1) for g in golds], [idx.get(p, -1) for p in preds],
                               labels=list(range(5)), average="macro", zero_division=0)
        assert metrics.macro_f1(preds, golds, labels) == pytest.approx(expected)


def test_classification_needs_labels():
    with pytest.raises(ConfigError):
        metrics.accuracy(["a"], ["a"], None)


def test_mae_rmse_worst_extreme_rule():
    golds = ["5", "1", "3", "4", "2"]
    preds = ["4", " 2 ", "five", "", "nan"]
    # errors: 1, 1, |5-3| (tie -> 5) = 2, |1-4| = 3, |5-2| = 3
    assert metrics.abs_error_per_example(preds, golds) == [1.0, 1.0, 2.0, 3.0, 3.0]
    assert metrics.mae(preds, golds) == pytest.approx(10 / 5)
    assert metrics.rmse(preds, golds) == pytest.approx(math.sqrt((1 + 1 + 4 + 9 + 9) / 5))
    assert metrics.squared_error_per_example(preds, golds) == [1.0, 1.0, 4.0, 9.0, 9.0]


def test_parse_rating():
    assert metrics.parse_rating(" 3.5 ", 1.0) == 3.5
    assert metrics.parse_rating("inf", 4.0) == 1.0
    assert metrics.parse_rating("5 stars", 2.0) == 5.0
    with pytest.raises(DataError):
        metrics.mae(["3"], ["three"])


def test_rating_reward():
    assert metrics.rating_reward("4", "5") == pytest.approx(0.75)   # worst 4
    assert metrics.rating_reward("3", "3") == 1.0
    assert metrics.rating_reward("3.5", 3) == pytest.approx(0.75)   # worst 2
    assert metrics.rating_reward("five", "2") == 0.0                # -> 5, worst 3
    assert metrics.rating_reward("", "1") == 0.0


def test_rouge_hand_computed():
    # unigrams: 3 of 3 predicted, 3 of 6 gold -> F = 2/3; LCS 3 -> same
    assert metrics.rouge1(["the cat sat"], ["The cat sat on the mat"]) == pytest.approx(2 / 3)
    assert metrics.rougeL(["the cat sat"], ["the cat sat on the mat"]) == pytest.approx(2 / 3)
    # LCS "the cat" = 2: P = 2/3, R = 1/3 -> F = 4/9
    assert metrics.rougeL(["mat the cat"], ["the cat sat on the mat"]) == pytest.approx(4 / 9)
    assert metrics.rouge1(["!!"], ["headline"]) == 0.0


def test_metrics_table():
    assert set(metrics.METRICS) == {"accuracy", "f1", "mae", "rmse", "rouge-1", "rouge-L",
                                    "gold-loglik"}
    assert [m for m, spec in metrics.METRICS.items() if spec.test == "randomization"] == ["f1", "rmse"]
    with pytest.raises(ConfigError, match="measured on the model"):
        metrics.METRICS["gold-loglik"](["a"], ["a"])
    assert {"mae", "rmse"} == metrics.LOWER_IS_BETTER
    assert metrics.METRICS["mae"](["2"], ["4"]) == 2.0
    assert metrics.METRICS["f1"].per_example(["a", "b"], ["a", "a"], LABELS) == [1.0, 0.0]


def test_feedback_by_task():
    assert metrics.feedback(get_task("LaMP_2"), " comedy ", "comedy") == 1.0
    assert metrics.feedback(get_task("LaMP_2"), "funny", "comedy") == 0.0
    assert metrics.feedback(get_task("LaMP_3"), "4", "5") == pytest.approx(0.75)
    assert metrics.feedback(get_task("LaMP_4"), "the cat sat", "the cat sat on the mat") \
        == pytest.approx(2 / 3)


def test_score_missing_and_extra_ids():
    task = get_task("LaMP_3")
    golds = {"q1": "5", "q2": "1", "q3": "3"}
    with pytest.raises(ConfigError, match="q2") as info:
        metrics.score(task, golds, {"q1": "5", "q3": "3"})
    assert "missing=worst" in str(info.value)
    assert "--missing=worst" in info.value.render("--missing")
    got = metrics.score(task, golds, {"q1": "5", "q3": "3", "extra": "1"}, missing="worst")
    assert got["mae"] == pytest.approx(4 / 3)  # q2 missing -> "" -> 5, error 4
    assert got["rmse"] == pytest.approx(math.sqrt(16 / 3))
    per = metrics.per_example(task, golds, {"q3": "3", "q2": "2", "q1": "1"})
    assert per == {"mae": [4.0, 1.0, 0.0], "rmse": [16.0, 1.0, 0.0]}
    with pytest.raises(ConfigError):
        metrics.score(task, golds, golds, missing="skip")


def test_score_classification_task():
    task = get_task("LaMP_1")
    golds = {"1": "[1]", "2": "[2]", "3": "[2]"}
    got = metrics.score(task, golds, {"1": "[1]", "2": "[1]", "3": "2"})
    assert got["accuracy"] == pytest.approx(1 / 3)
    # [1]: TP1 FP1 -> 2/3; [2]: TP0 FN2 -> 0
    assert got["f1"] == pytest.approx(1 / 3)


def test_rouge_on_real_data_matches_rouge_score(huffpost: Path):
    from rouge_score import rouge_scorer

    from pergen.data.lamp import load_outputs, load_questions

    task = get_task("LaMP_4")
    golds = load_outputs(huffpost / "dev_outputs.json").by_id
    preds = {q.id: task.query(q.input) for q in load_questions(huffpost / "dev_questions.json")}
    got = metrics.score(task, golds, preds)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    direct = [scorer.score(golds[k], preds[k]) for k in golds]
    assert got["rouge-1"] == pytest.approx(np.mean([s["rouge1"].fmeasure for s in direct]))
    assert got["rouge-L"] == pytest.approx(np.mean([s["rougeL"].fmeasure for s in direct]))
    assert round(got["rouge-1"], 3) == 0.135
    assert round(got["rouge-L"], 3) == 0.108
    assert len(metrics.per_example(task, golds, preds)["rouge-1"]) == len(golds)

"""Significance tests: hand formulas for the paired t-test and McNemar."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from pergen.errors import ConfigError, DataError
from pergen.evaluation.significance import compare, mcnemar_test, paired_t_test


def test_paired_t_test_matches_hand_formula():
    a = np.array([0.30, 0.12, 0.50, 0.41, 0.22, 0.18, 0.35])
    b = np.array([0.25, 0.15, 0.40, 0.33, 0.20, 0.21, 0.30])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    expected = 2 * stats.t.sf(abs(t), df=d.size - 1)
    assert paired_t_test(a, b) == pytest.approx(expected)
    res = compare("rouge-1", a, b)
    assert res.p_value == pytest.approx(expected)
    assert res.delta == pytest.approx(d.mean())
    assert res.test_name.startswith("paired t-test")


def test_rmse_delta_is_on_root_mean():
    a, b = [1.0, 4.0, 4.0, 0.0], [0.0, 1.0, 4.0, 1.0]
    res = compare("rmse", a, b)
    assert res.delta == pytest.approx(math.sqrt(9 / 4) - math.sqrt(6 / 4))


def _correctness(n_both: int, n01: int, n10: int, n_none: int) -> tuple[list[float], list[float]]:
    a = [1.0] * n_both + [1.0] * n01 + [0.0] * n10 + [0.0] * n_none
    b = [1.0] * n_both + [0.0] * n01 + [1.0] * n10 + [0.0] * n_none
    return a, b


def test_mcnemar_exact_small_table():
    a, b = _correctness(5, 2, 8, 3)  # 10 discordant pairs
    expected = 2 * sum(math.comb(10, k) for k in range(3)) / 2 ** 10  # 112 / 1024
    assert mcnemar_test(a, b) == pytest.approx(expected)
    res = compare("accuracy", a, b)
    assert res.p_value == pytest.approx(expected)
    assert res.test_name == "McNemar exact binomial"
    assert res.delta == pytest.approx((7 - 13) / 18)


def test_mcnemar_chi_square_with_continuity_correction():
    a, b = _correctness(40, 10, 30, 20)  # 40 discordant pairs
    statistic = (abs(10 - 30) - 1) ** 2 / 40
    expected = math.erfc(math.sqrt(statistic / 2))  # chi-square(1) survival function
    res = compare("accuracy", a, b)
    assert res.p_value == pytest.approx(expected)
    assert "chi-square" in res.test_name


def test_randomization_matches_exact_enumeration():
    """With 4 examples there are 16 swap patterns: the exact two-sided p is the share whose
    |difference| reaches the observed one; 5000 random rounds must land close to it."""
    import itertools

    a, b = [4.0, 9.0, 1.0, 16.0], [0.0, 1.0, 1.0, 4.0]  # squared errors
    stat = lambda u: math.sqrt(sum(u) / len(u))  # noqa: E731
    observed = abs(stat(a) - stat(b))
    hits = 0
    for swap in itertools.product([False, True], repeat=4):
        x = [bi if s_ else ai for ai, bi, s_ in zip(a, b, swap)]
        y = [ai if s_ else bi for ai, bi, s_ in zip(a, b, swap)]
        hits += abs(stat(x) - stat(y)) >= observed - 1e-12
    res = compare("rmse", a, b)
    assert "randomization" in res.test_name
    assert res.p_value == pytest.approx(hits / 16, abs=0.02)
    assert res.delta == pytest.approx(stat(a) - stat(b))
    assert compare("rmse", a, b).p_value == res.p_value  # seeded: repeatable


def test_f1_is_tested_on_label_pairs_not_correctness():
    """Same correctness, different F1: McNemar would see no difference; macro-F1 does."""
    from pergen.evaluation.metrics import label_pairs, macro_f1

    labels = ["x", "y", "z"]
    golds = ["x"] * 30 + ["y"] * 5 + ["z"] * 5
    a = ["x"] * 30 + ["y"] * 5 + ["z"] * 5          # perfect
    b = ["x"] * 30 + ["x"] * 5 + ["x"] * 5          # always x: macro-F1 much lower
    res = compare("f1", label_pairs(a, golds, labels), label_pairs(b, golds, labels))
    assert res.delta == pytest.approx(macro_f1(a, golds, labels) - macro_f1(b, golds, labels))
    assert res.p_value < 0.01 and "randomization" in res.test_name
    same = compare("f1", label_pairs(a, golds, labels), label_pairs(a, golds, labels))
    assert same.p_value == 1.0 and same.delta == 0.0


@pytest.mark.parametrize("metric", ["rouge-1", "rouge-L", "mae", "rmse", "accuracy", "f1"])
def test_identical_inputs_give_p_one_without_warnings(metric):
    values = [[0, 0], [1, 0], [1, 1], [2, 2]] if metric == "f1" else [1.0, 0.0, 1.0, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = compare(metric, values, list(values))
    assert res.p_value == 1.0 and res.delta == 0.0


def test_degenerate_t_test_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert paired_t_test([0.5, 0.6, 0.7], [0.4, 0.5, 0.6]) == 0.0  # constant shift
        assert paired_t_test([0.5], [0.1]) == 1.0
        assert paired_t_test([], []) == 1.0


def test_bad_inputs():
    with pytest.raises(DataError):
        compare("mae", [1.0, 2.0], [1.0])
    with pytest.raises(ConfigError):
        compare("bleu", [1.0], [1.0])

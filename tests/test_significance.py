"""Significance tests: hand formulas for the paired t-test and McNemar."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from pergen.errors import ConfigError, DataError
from pergen.significance import compare, mcnemar_test, paired_t_test


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
    res = compare("f1", a, b)
    assert res.p_value == pytest.approx(expected)
    assert "chi-square" in res.test_name


@pytest.mark.parametrize("metric", ["rouge-1", "rouge-L", "mae", "rmse", "accuracy", "f1"])
def test_identical_inputs_give_p_one_without_warnings(metric):
    values = [1.0, 0.0, 1.0, 1.0]
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

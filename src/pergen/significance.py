"""Significance of the difference between two systems on the same examples (paper's tests).

- ROUGE-1/L, MAE, RMSE: two-tailed paired t-test (``scipy.stats.ttest_rel``) on the
  per-example values of `pergen.metrics.per_example` (RMSE: squared errors).
- accuracy, F1: McNemar's test on per-example correctness (1.0 correct, 0.0 wrong).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .errors import ConfigError, DataError

MCNEMAR_EXACT_BELOW = 25
_TINY = 1e-12
T_TEST_METRICS = frozenset({"rouge-1", "rouge-L", "mae", "rmse"})
MCNEMAR_METRICS = frozenset({"accuracy", "f1"})


@dataclass(frozen=True)
class SignificanceResult:
    """p-value of a two-sided test, the test's name, and delta = metric(a) - metric(b)."""

    p_value: float
    test_name: str
    delta: float


def _pair(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"paired values differ in length: {x.size} vs {y.size}")
    return x, y


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-tailed paired t-test p-value: t = mean(d) / (sd(d) / sqrt(n)), d = a - b, n - 1
    degrees of freedom (``scipy.stats.ttest_rel``).

    Degenerate cases, where scipy would return NaN or warn: p = 1.0 when n < 2 or every
    difference is 0; p = 0.0 when every difference is the same non-zero value (both up to
    floating-point noise).
    """
    x, y = _pair(a, b)
    d = x - y
    if d.size < 2 or np.allclose(d, 0.0, rtol=0.0, atol=_TINY):
        return 1.0
    if np.allclose(d, d[0], rtol=1e-12, atol=_TINY):
        return 0.0
    return float(stats.ttest_rel(x, y).pvalue)


def mcnemar_test(a: Sequence[float], b: Sequence[float]) -> float:
    """McNemar's test p-value on paired correctness (values > 0.5 count as correct).

    With discordant counts n01 (a right, b wrong) and n10 (a wrong, b right), n = n01 + n10:
    if n < 25, the exact two-sided binomial test of min(n01, n10) ~ Bin(n, 1/2)
    (``scipy.stats.binomtest``); otherwise the chi-square statistic with continuity
    correction, (|n01 - n10| - 1)^2 / n, against chi-square with 1 degree of freedom.
    No discordant pair gives p = 1.0.
    """
    x, y = _pair(a, b)
    ca, cb = x > 0.5, y > 0.5
    n01, n10 = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
    n = n01 + n10
    if n == 0:
        return 1.0
    if n < MCNEMAR_EXACT_BELOW:
        return float(min(1.0, stats.binomtest(min(n01, n10), n, 0.5).pvalue))
    statistic = (abs(n01 - n10) - 1) ** 2 / n
    return float(stats.chi2.sf(statistic, df=1))


def _aggregate(metric: str, values: np.ndarray) -> float:
    """The corpus value of per-example values (mean; sqrt of the mean for RMSE)."""
    if values.size == 0:
        return 0.0
    mean = float(values.mean())
    return math.sqrt(mean) if metric == "rmse" else mean


def compare(metric: str, a: Sequence[float], b: Sequence[float]) -> SignificanceResult:
    """Test whether systems `a` and `b` differ on `metric`, from their per-example values.

    Uses the paired t-test for ROUGE/MAE/RMSE and McNemar for accuracy/F1. `delta` is the
    aggregate of `a` minus that of `b` (for F1, whose per-example values are correctness,
    it is the accuracy difference; take the F1 delta from `pergen.metrics.score`).
    """
    x, y = _pair(a, b)
    if metric in T_TEST_METRICS:
        p, name = paired_t_test(x, y), "paired t-test (two-tailed)"
    elif metric in MCNEMAR_METRICS:
        n = int(np.sum((x > 0.5) != (y > 0.5)))
        p = mcnemar_test(x, y)
        name = "McNemar exact binomial" if n < MCNEMAR_EXACT_BELOW else "McNemar chi-square (cc)"
    else:
        known = ", ".join(sorted(T_TEST_METRICS | MCNEMAR_METRICS))
        raise ConfigError(f"no significance test for metric {metric!r}; known: {known}")
    return SignificanceResult(p_value=p, test_name=name,
                              delta=_aggregate(metric, x) - _aggregate(metric, y))

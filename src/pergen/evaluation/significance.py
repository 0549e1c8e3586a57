"""Significance of the difference between two systems on the same examples.

Which test a metric gets is a fact of the metric (`pergen.evaluation.metrics.METRICS`):

- ROUGE-1/L, MAE: two-tailed paired t-test (``scipy.stats.ttest_rel``) on per-example
  values, as in the paper.
- accuracy: McNemar's test on per-example correctness (1.0 correct, 0.0 wrong).
- macro-F1, RMSE: their per-example values do not add up to the metric, so a t-test or
  McNemar on them tests something else (the paper used McNemar for F1). They get a paired
  approximate randomization test instead (Noreen 1989; Yeh 2000, "More accurate tests for
  the statistical significance of result differences"): swap the two systems' outputs of
  each example with probability 1/2, recompute the metric, and count how often the
  shuffled difference is at least the observed one.

Two helpers serve comparisons that are not two systems on the same examples:
`bootstrap_interval` (a seeded percentile interval of any statistic of resampled
questions) and `subset_test` (is a chosen subset, such as a model's most confident
answers, better than the whole beyond what a random subset of that size would be?).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..errors import ConfigError, DataError
from .metrics import METRICS

MCNEMAR_EXACT_BELOW = 25
RANDOMIZATION_ROUNDS = 5000
_TINY = 1e-12
TEST_NAMES = {"t-test": "paired t-test (two-tailed)",
              "randomization": f"paired approximate randomization ({RANDOMIZATION_ROUNDS} rounds)"}


@dataclass(frozen=True)
class SignificanceResult:
    """p-value of a two-sided test, the test's name, and delta = metric(a) - metric(b)."""

    p_value: float
    test_name: str
    delta: float


def _pair(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"paired values differ in length: {x.size} vs {y.size}")
    return x, y


def paired_t_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
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


def mcnemar_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
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


def randomization_test(a: Sequence[Any], b: Sequence[Any],
                       statistic: Callable[[Sequence[Any]], float],
                       rounds: int = RANDOMIZATION_ROUNDS, seed: int = 0) -> float:
    """Two-sided paired approximate randomization p-value of statistic(a) - statistic(b).

    Each round swaps a[i] and b[i] with probability 1/2 for every i; p = (r + 1) /
    (rounds + 1), r the rounds whose |difference| reaches the observed one (up to float
    noise). Seeded: the same inputs always give the same p.
    """
    if len(a) != len(b):
        raise DataError(f"paired values differ in length: {len(a)} vs {len(b)}")
    observed = abs(statistic(a) - statistic(b))
    if observed <= _TINY:
        return 1.0
    xa, xb = np.asarray(a), np.asarray(b)
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(rounds):
        swap = (rng.random(len(xa)) < 0.5).reshape((-1,) + (1,) * (xa.ndim - 1))
        x, y = np.where(swap, xb, xa), np.where(swap, xa, xb)
        hits += abs(statistic(x) - statistic(y)) >= observed - _TINY  # type: ignore[arg-type]
    return (hits + 1) / (rounds + 1)


def compare(metric: str, a: Sequence[Any], b: Sequence[Any]) -> SignificanceResult:
    """Test whether systems `a` and `b` differ on `metric`.

    `a` and `b` are the metric's units (`Metric.units_of`): per-example values for most
    metrics, [predicted, gold] label index pairs for f1. `delta` is the metric of `a` minus
    that of `b`.
    """
    spec = METRICS.get(metric)
    if spec is None:
        raise ConfigError(f"no significance test for metric {metric!r}; known: "
                          f"{', '.join(sorted(METRICS))}")
    if len(a) != len(b):
        raise DataError(f"paired values differ in length: {len(a)} vs {len(b)}")
    delta = spec.from_units(a) - spec.from_units(b) if len(a) else 0.0
    if spec.test == "randomization":
        return SignificanceResult(randomization_test(a, b, spec.from_units),
                                  TEST_NAMES["randomization"], delta)
    x, y = _pair(a, b)
    if spec.test == "mcnemar":
        n = int(np.sum((x > 0.5) != (y > 0.5)))
        name = "McNemar exact binomial" if n < MCNEMAR_EXACT_BELOW else "McNemar chi-square (cc)"
        return SignificanceResult(mcnemar_test(x, y), name, delta)
    return SignificanceResult(paired_t_test(x, y), TEST_NAMES["t-test"], delta)


BOOTSTRAP_ROUNDS = 1000


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, seed: int = 0,
                       rounds: int = BOOTSTRAP_ROUNDS) -> tuple[float, float]:
    """95% percentile interval of statistic(indices) over `rounds` resamples of n
    questions (indices drawn with replacement, all rounds drawn at once, seeded).

    A paired difference passes ``lambda i: value(a[i]) - value(b[i])``: both systems see
    the same resample. The draws are those of ``rng.integers(0, n, (rounds, n))``, as
    `pergen.reports.swapstats` draws them, so the same seed gives the same resamples there.
    """
    if n < 2:
        point = float(statistic(np.arange(n)))
        return point, point
    idx = np.random.default_rng(seed).integers(0, n, (rounds, n))
    lo, hi = np.percentile([statistic(row) for row in idx], [2.5, 97.5])
    return float(lo), float(hi)


def subset_test(units: Sequence[Any] | np.ndarray, kept: Sequence[bool] | np.ndarray,
                statistic: Callable[[np.ndarray], float], rounds: int = RANDOMIZATION_ROUNDS,
                seed: int = 0) -> float:
    """Two-sided permutation p-value of statistic(kept units) - statistic(all units).

    The null hypothesis: the subset is no better chosen than at random (a confidence that
    says nothing about correctness). Each round draws a uniform random subset of the same
    size; p = (r + 1) / (rounds + 1), r the rounds whose |difference| reaches the observed
    one (up to float noise). An empty or full subset gives p = 1.0. Seeded.
    """
    x = np.asarray(units)
    mask = np.asarray(kept, dtype=bool)
    if len(x) != len(mask):
        raise DataError(f"units and subset differ in length: {len(x)} vs {len(mask)}")
    size = int(mask.sum())
    if size in (0, len(x)):
        return 1.0
    whole = statistic(x)
    observed = abs(statistic(x[mask]) - whole)
    if observed <= _TINY:
        return 1.0
    rng = np.random.default_rng(seed)
    hits = sum(abs(statistic(x[rng.permutation(len(x))[:size]]) - whole) >= observed - _TINY
               for _ in range(rounds))
    return (hits + 1) / (rounds + 1)

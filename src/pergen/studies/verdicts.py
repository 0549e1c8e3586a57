"""Verdicts on a research claim from two conditions measured on the same questions.

A claim says condition A does better (or worse) than condition B. On n paired questions,
`paired` measures it with one metric: both values, the effect metric(A) - metric(B) (a
difference of means for mean metrics), its 95% paired percentile bootstrap interval
(`pergen.evaluation.significance.bootstrap_interval`, seeded) and the metric's own paired test
(`pergen.evaluation.significance.compare`: McNemar for accuracy, t-test for ROUGE, MAE and
gold-loglik, randomization for F1 and RMSE). `selected` does the same for a subset of
one run (a model's most confident answers) against the whole run, with a permutation
test over random subsets of the same size (`pergen.evaluation.significance.subset_test`).

The verdict rule (`verdict`), at ALPHA = 0.05:

- *reproduced*: p < ALPHA and A is better than B in the direction the claim states;
- *contradicted*: p < ALPHA and A is better the other way;
- *inconclusive at this n*: otherwise. It is not evidence against the claim: too few
  questions, or a model too small to use the difference, look the same.

"Better" reads the metric's direction from `pergen.evaluation.metrics.METRICS` (lower MAE/RMSE is
better), so a claim is stated once, whatever the task's metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ..evaluation.metrics import METRICS, macro_f1_of_ids
from ..evaluation.significance import BOOTSTRAP_ROUNDS, bootstrap_interval, compare, subset_test
from ..reports.tables import ALPHA

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive at this n"
VERDICTS = (REPRODUCED, CONTRADICTED, INCONCLUSIVE)
SUBSET_TEST = "permutation over random subsets of the same size"


def verdict(effect: float, p: float, expects: int, lower_is_better: bool = False,
            alpha: float = ALPHA) -> str:
    """The verdict on a claim that A is better (`expects` +1) or worse (-1) than B, from
    the effect metric(A) - metric(B) and its p-value (see the module docstring)."""
    if expects not in (1, -1):
        raise ValueError(f"expects must be +1 (A better) or -1 (A worse), got {expects}")
    if not p < alpha or effect == 0:
        return INCONCLUSIVE
    a_better = effect < 0 if lower_is_better else effect > 0
    return REPRODUCED if a_better == (expects > 0) else CONTRADICTED


@dataclass(frozen=True)
class Measure:
    """One metric's comparison of A with B on `n` questions, and its verdict."""

    metric: str
    n: int
    a: float
    b: float
    effect: float  # metric(A) - metric(B)
    ci: tuple[float, float]  # 95% bootstrap interval of the effect
    p: float
    test: str
    verdict: str


def value_of_units(metric: str, n_labels: int) -> Callable[[np.ndarray], float]:
    """The metric recomputed from an array of its units (`pergen.evaluation.metrics.units`).
    Macro-F1 is taken over the task's whole label set, so that a resample or a subset
    holding fewer labels stays on the same scale."""
    spec = METRICS[metric]
    if metric == "f1":
        return lambda u: macro_f1_of_ids(u[:, 0].astype(int), u[:, 1].astype(int), n_labels)
    return lambda u: float(spec.from_units(cast(Sequence[Any], u)))


def paired(metric: str, a: Sequence[Any], b: Sequence[Any], expects: int, n_labels: int = 0,
           seed: int = 0, rounds: int = BOOTSTRAP_ROUNDS) -> Measure:
    """A against B on the same questions, in the same order (see the module docstring)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    value = value_of_units(metric, n_labels)
    result = compare(metric, list(a), list(b))
    ci = bootstrap_interval(lambda i: value(x[i]) - value(y[i]), len(x), seed, rounds)
    va, vb = value(x), value(y)
    effect = va - vb
    return Measure(metric, len(x), va, vb, effect, ci, result.p_value, result.test_name,
                   verdict(effect, result.p_value, expects, METRICS[metric].lower_is_better))


def selected(metric: str, units: Sequence[Any], kept: Sequence[bool], expects: int,
             n_labels: int = 0, seed: int = 0, rounds: int = BOOTSTRAP_ROUNDS) -> Measure:
    """The kept questions (A) against all questions (B) of one run; `n` counts all."""
    x, mask = np.asarray(units, dtype=float), np.asarray(kept, dtype=bool)
    value = value_of_units(metric, n_labels)

    def effect_of(i: np.ndarray) -> float:
        chosen = i[mask[i]]
        return value(x[chosen]) - value(x[i]) if len(chosen) else 0.0
    va, vb = (value(x[mask]) if mask.any() else float("nan")), value(x)
    effect = va - vb if mask.any() else 0.0
    ci = bootstrap_interval(effect_of, len(x), seed, rounds)
    p = subset_test(x, mask, value, seed=seed)
    return Measure(metric, len(x), va, vb, effect, ci, p, SUBSET_TEST,
                   verdict(effect, p, expects, METRICS[metric].lower_is_better))

"""Unsupervised query-performance predictors (QPP) used as retriever selectors.

Salemi et al. (SIGIR 2024, section 5, Table 4) compare RSPG against WIG, NQC, sigma_max and
sigma_x%: each predictor scores every retriever's ranked list for one input and the retriever
with the highest prediction is selected. The paper's conventions, kept here:

* a retriever without scores (recency) uses the reciprocal rank 1/r as each item's score
  (`reciprocal_rank_scores`);
* "no personalization" assigns score 0 to every profile item. Every predictor below gives 0.0
  for such a list, and also for an empty list, so an empty score list stands for "none".

All predictors sort the scores themselves (highest first), so "top-k" means the k highest
scores whatever order the caller passes. Query-length factors of the original formulas
(1/sqrt|q| in WIG, sigma_max and sigma_x%) are dropped: they are the same for every retriever
of one input and cannot change which retriever is selected. Standard deviations are
population ones (divide by n), so one score has deviation 0. Results are never NaN: empty lists
give 0.0 and non-finite scores are rejected with `DataError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

ScoreList = Sequence[float] | np.ndarray

#: below this magnitude the NQC corpus score counts as zero (no normalisation possible).
_ZERO = 1e-12


def _sorted_scores(scores: ScoreList) -> np.ndarray:
    """Scores as a 1-D float array, highest first; reject what would make a prediction NaN."""
    arr = np.asarray(scores, dtype=float)
    if arr.ndim != 1:
        raise DataError(f"QPP needs one ranked list of scores (1-D), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError("QPP scores must be finite (no NaN or infinity)")
    return np.sort(arr)[::-1]


def _check_k(k: int) -> None:
    if k < 1:
        raise ConfigError(f"QPP cut-off k must be >= 1, got {k}")


def _corpus(arr: np.ndarray, corpus_score: float | None) -> float:
    # A user profile has no collection score; the mean score over all ranked profile items
    # plays the role of score(q, D), the score of the whole "collection" seen as one document.
    return float(arr.mean()) if corpus_score is None else float(corpus_score)


def reciprocal_rank_scores(n: int) -> list[float]:
    """Scores 1, 1/2, ..., 1/n: the paper's stand-in for rankers without scores (recency)."""
    return [1.0 / r for r in range(1, n + 1)]


def wig(scores: ScoreList, k: int = 5, corpus_score: float | None = None) -> float:
    """Weighted Information Gain (Zhou & Croft, SIGIR 2007).

    WIG = (1/k) * sum_{d in top-k} (s(d) - s(D)) = mean(top-k scores) - s(D).

    s(D) is `corpus_score`; by default the mean score over all given items (pass the whole
    ranked profile), since a profile has no collection score. k larger than the list is cut to
    its length (then WIG is 0 with the default s(D)). Empty list: 0.0.
    """
    _check_k(k)
    arr = _sorted_scores(scores)
    if arr.size == 0:
        return 0.0
    return float(arr[:k].mean() - _corpus(arr, corpus_score))


def nqc(scores: ScoreList, k: int = 5, corpus_score: float | None = None) -> float:
    """Normalized Query Commitment (Shtok, Kurland, Carmel et al., ACM TOIS 2012).

    NQC = sqrt((1/k) * sum_{d in top-k} (s(d) - mu)^2) / |s(D)|, mu = mean of the top-k scores.

    s(D) is `corpus_score`; by default the mean score over all given items (a profile has no
    collection score). When |s(D)| is 0 the ratio is undefined and the unnormalised standard
    deviation is returned instead of infinity. k larger than the list is cut to its length.
    Empty list: 0.0.
    """
    _check_k(k)
    arr = _sorted_scores(scores)
    if arr.size == 0:
        return 0.0
    spread = float(arr[:k].std())
    denom = abs(_corpus(arr, corpus_score))
    return spread if denom < _ZERO else spread / denom


def sigma_max(scores: ScoreList) -> float:
    """sigma_max (Cummins, Jose & O'Riordan, SIGIR 2011, "Improved query performance
    prediction using standard deviation").

    sigma_max = max_{i = 1..n} std(s_1, ..., s_i): the largest standard deviation of the top-i
    scores over all cut-offs i, so no cut-off k has to be tuned. Empty list: 0.0.
    """
    arr = _sorted_scores(scores)
    if arr.size == 0:
        return 0.0
    # Prefix variances by running sums. Variance ignores shifts, so centre first to limit float
    # cancellation on large scores, and clamp the tiny negatives that may remain.
    centred = arr - arr.mean()
    i = np.arange(1, arr.size + 1)
    mean = np.cumsum(centred) / i
    var = np.cumsum(centred * centred) / i - mean * mean
    return float(np.sqrt(np.clip(var, 0.0, None)).max())


def sigma_x(scores: ScoreList, x: float = 0.5) -> float:
    """sigma_x% (Cummins, Jose & O'Riordan, SIGIR 2011).

    sigma_x% = std{s(d) : s(d) >= t}, with t = x * s_top when s_top >= 0.

    The original assumes non-negative scores. For a negative top score x * s_top would lie above
    s_top and select nothing, so then t = s_top / x: keep the items whose score magnitude is at
    most 1/x times the top one (e.g. log-probabilities). Both rules give t = 0 at s_top = 0 and
    always keep the top item. `x` must be in (0, 1]. Empty list: 0.0.
    """
    if not 0.0 < x <= 1.0:
        raise ConfigError(f"sigma_x% needs 0 < x <= 1, got {x}")
    arr = _sorted_scores(scores)
    if arr.size == 0:
        return 0.0
    top = float(arr[0])
    threshold = x * top if top >= 0 else top / x
    return float(arr[arr >= threshold].std())


PREDICTORS: dict[str, Callable[..., float]] = {
    "wig": wig,
    "nqc": nqc,
    "sigma_max": sigma_max,
    "sigma_x%": sigma_x,
}


def get_predictor(name: str) -> Callable[..., float]:
    """The predictor registered under `name`; `ConfigError` listing the known names otherwise."""
    try:
        return PREDICTORS[name]
    except KeyError:
        raise ConfigError(f"unknown QPP predictor {name!r}; known: {', '.join(PREDICTORS)}") from None


def select_by_qpp(rankings: Mapping[str, ScoreList], predictor: str, **params: Any) -> str:
    """The retriever whose ranked scores get the highest prediction for one input.

    `rankings` maps retriever name -> its scores, best first; `params` go to the predictor
    (e.g. k=5, x=0.5). A retriever with no scores (e.g. "none") is predicted 0.0, exactly what
    the paper's convention of scoring every profile item 0 yields. As the predictors are
    non-negative with their default corpus score, "none" is chosen only when no retriever
    predicts better than 0 and it comes first among the tied ones, or when it is the only
    candidate. Ties go to the first name in mapping order.
    """
    fn = get_predictor(predictor)
    if not rankings:
        raise ConfigError("select_by_qpp needs at least one candidate retriever")
    best_name, best_value = "", -np.inf
    for name, scores in rankings.items():
        value = fn(scores, **params)
        if value > best_value:  # strict: a tie keeps the earlier name
            best_name, best_value = name, value
    return best_name

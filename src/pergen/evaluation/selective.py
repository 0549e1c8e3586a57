"""Selective prediction: how good the answers a model is sure of are, as it answers fewer.

Pure functions of per-answer confidences (higher: surer) and losses (lower: better), no
task or model knowledge, so that `pergen score`, `evaluate` and the report compute the
same figures.

- Risk-coverage curve (El-Yaniv & Wiener 2010): answer the k most confident questions;
  coverage k/n, risk the mean loss of those k. Tied confidences cannot be ordered, so at
  a k inside a tie the risk is its expectation over the tie's orders: the losses before
  the tie plus (k - before) times the tie's mean loss, over k.
- AURC (Geifman et al., "Bias-Reduced Uncertainty Estimation for Deep Neural
  Classifiers", ICLR 2019): the mean of the curve's n risks, (1/n) sum_k risk(k). Lower
  is better; a model whose confidence orders its answers perfectly reaches the minimum
  for its losses.
- ECE (Naeini et al. 2015; Guo et al. 2017): with B equal-width bins on [0, 1] (the
  last one closed), sum_b |B_b|/n * |mean correctness in b - mean confidence in b|.
- Threshold for a coverage C: the confidence T of the ceil(C n)-th most confident
  answer; answering every confidence >= T covers at least C (more where T is tied).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ECE_BINS = 10


def _arrays(confidence: npt.ArrayLike, values: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(confidence, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if c.shape != v.shape or c.ndim != 1:
        raise ValueError(f"confidences and values must be aligned lists, got {c.shape} and {v.shape}")
    return c, v


def risk_coverage(confidence: npt.ArrayLike, loss: npt.ArrayLike
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, risk) at k = 1..n answered questions, most confident first.

    Args:
        confidence: one value per question; higher means surer.
        loss: one value per question; lower is better (1 - correctness, absolute error...).

    Returns:
        coverage k/n and risk(k), the expected mean loss of the k most confident answers
        (ties in confidence: expectation over their orders, see the module docstring).
    """
    c, loss_ = _arrays(confidence, loss)
    n = len(c)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(-c, kind="stable")
    c, loss_ = c[order], loss_[order]
    risk = np.empty(n)
    before, start = 0.0, 0  # loss of the questions in earlier ties; first index of this tie
    while start < n:
        end = start
        while end + 1 < n and c[end + 1] == c[start]:
            end += 1
        tie = loss_[start:end + 1]
        ks = np.arange(start + 1, end + 2)
        risk[start:end + 1] = (before + (ks - start) * tie.mean()) / ks
        before += float(tie.sum())
        start = end + 1
    return np.arange(1, n + 1) / n, risk


def aurc(confidence: npt.ArrayLike, loss: npt.ArrayLike) -> float:
    """Area under the risk-coverage curve: (1/n) sum_k risk(k); nan without questions."""
    _, risk = risk_coverage(confidence, loss)
    return float(risk.mean()) if len(risk) else math.nan


def threshold_for_coverage(confidence: npt.ArrayLike, coverage: float) -> float:
    """The smallest threshold T whose answered set, confidence >= T, covers >= `coverage`.

    Raises ValueError for a coverage outside (0, 1] or no confidences.
    """
    if not 0.0 < coverage <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    c = np.sort(np.asarray(confidence, dtype=np.float64))[::-1]
    if not len(c):
        raise ValueError("no confidences to choose a threshold from")
    k = max(1, math.ceil(coverage * len(c) - 1e-9))  # 0.8 * 10 is 8.000000000000002
    return float(c[k - 1])


@dataclass(frozen=True)
class Bin:
    """One bin of a reliability diagram: [lo, hi), its size, mean confidence and correctness."""

    lo: float
    hi: float
    count: int
    confidence: float
    correct: float


def reliability(confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = ECE_BINS
                ) -> list[Bin]:
    """The non-empty equal-width bins of [0, 1] (last bin closed at 1)."""
    c, ok = _arrays(confidence, correct)
    index = np.clip((c * bins).astype(int), 0, bins - 1)
    out = []
    for b in range(bins):
        hit = index == b
        if hit.any():
            out.append(Bin(b / bins, (b + 1) / bins, int(hit.sum()), float(c[hit].mean()),
                           float(ok[hit].mean())))
    return out


def ece(confidence: npt.ArrayLike, correct: npt.ArrayLike, bins: int = ECE_BINS) -> float:
    """Expected calibration error: sum_b |B_b|/n |correct(b) - confidence(b)|; nan if empty.

    `correct` is 1/0 for right/wrong answers, or a graded value in [0, 1] (ROUGE).
    """
    found = reliability(confidence, correct, bins)
    n = sum(b.count for b in found)
    if not n:
        return math.nan
    return float(sum(b.count / n * abs(b.correct - b.confidence) for b in found))

"""Label-bias correction for picking labels by likelihood.

Small LLMs prefer some labels whatever the input (SmolLM2-135M answers "[1]" to every
troll-tweet question), so the raw argmax of log p(label | prompt) scores the prior, not
the input. Batch calibration (Zhou et al., "Batch Calibration: Rethinking Calibration
for In-Context Learning and Prompt Engineering", ICLR 2024) removes that prior: normalize
the scores over the label set, subtract each label's mean over all inputs, take argmax.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import logsumexp


def calibrated_scores(scores: Sequence[Sequence[float]], n_labels: int) -> np.ndarray:
    """``log p(l|x) - mean_x' log p(l|x')`` with p normalized over the labels, per input."""
    x = np.asarray(scores, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_labels:
        raise ValueError(f"expected (inputs, {n_labels}) scores, got shape {x.shape}")
    x = x - logsumexp(x, axis=1, keepdims=True)
    return x - x.mean(axis=0, keepdims=True)


def argmax_labels(x: np.ndarray, labels: Sequence[str]) -> list[str]:
    """The best label of each row; ties go to the label listed first."""
    return [labels[i] for i in np.asarray(x).argmax(axis=1)]


def batch_calibrated(scores: Sequence[Sequence[float]], labels: Sequence[str]) -> list[str]:
    """Labels by argmax of the `calibrated_scores`.

    Ties go to the label listed first. Needs the scores of the whole set of inputs, so a
    run applies it once all questions are answered.
    """
    return argmax_labels(calibrated_scores(scores, len(labels)), labels)

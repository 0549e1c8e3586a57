"""Shared helper: turn a score array into the ranked list every retriever returns."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..records import ProfileItem, Scored


def ranked(profile: Sequence[ProfileItem], scores: np.ndarray) -> list[Scored]:
    """Items by descending score, profile order among ties.

    Same order as `base.sort_scored` (a stable sort on ``-score``), but with numpy's
    stable argsort, which matters when BM25 ranks thousands of profiles per second.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    values = scores.tolist()
    return [Scored(profile[i], values[i]) for i in order.tolist()]

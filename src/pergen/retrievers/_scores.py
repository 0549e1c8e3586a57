"""Shared helper: turn a score array into the ranked list every retriever returns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..records import ProfileItem, Scored


def ranked(profile: Sequence[ProfileItem], scores: np.ndarray) -> list[Scored]:
    """Items by descending score, profile order among ties.

    Same order as `base.sort_scored` (a stable sort on ``-score``), but with numpy's
    stable argsort and one map: ranking is per request, so its overhead adds up.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return list(map(Scored, map(profile.__getitem__, order.tolist()), scores[order].tolist()))

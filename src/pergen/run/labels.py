"""Labels decided over the whole run: the label modes that need every question's scores.

``calibrate`` removes each label's mean log-probability over the run (batch calibration,
`pergen.evaluation.calibration`); ``prior`` adds the user's own label distribution
(`pergen.baselines.priors`); ``expected`` (rating tasks) takes the expected rating under
those scores. Per-question answers are written as they come; these replace them once
the run is complete.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..baselines.priors import prior_scores
from ..data.records import Question
from ..evaluation.calibration import argmax_labels, calibrated_scores
from ..tasks import TaskSpec
from ..tasks.rating import expected_ratings
from .fusion import Fuser
from .settings import PRIOR_MODES, EvalSettings

CALIBRATED = ("calibrate", "prior", "expected", "fused")  # answers need the whole run


def whole_run_labels(scores: Sequence[Sequence[float]], questions: Sequence[Question],
                     task: TaskSpec, settings: EvalSettings, label_prior: np.ndarray | None,
                     fuser: Fuser | None = None) -> tuple[list[str], np.ndarray]:
    """The answer of each question and the score matrix they were chosen from."""
    labels = list(task.labels or ())
    if settings.label_mode == "fused":
        assert fuser is not None
        matrix = fuser.matrix(scores, questions)
        chosen = (expected_ratings(matrix, task) if task.kind == "rating"
                  else argmax_labels(matrix, labels))
        return chosen, matrix
    matrix = calibrated_scores(scores, len(labels))
    if settings.label_mode in PRIOR_MODES:
        assert label_prior is not None
        matrix = prior_scores(matrix, [q.profile for q in questions], task, label_prior,
                              settings.prior_strength)
    chosen = (expected_ratings(matrix, task) if settings.label_mode == "expected"
              else argmax_labels(matrix, labels))
    return chosen, matrix

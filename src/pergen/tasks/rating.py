"""Rating tasks (LaMP-3): an answer from the label scores that respects the scale's order,
and the check that a run beats answering each user's own prior.

Picking the rating label with the highest likelihood treats "1" ... "5" as unrelated
names: a small model's argmax lands on one label for nearly every review, and batch
calibration spreads the answers evenly over the scale, sending many to the extremes
where an error costs most (MAE and RMSE measure distance, not correctness). Label mode
``expected`` keeps the order: p(r) is the softmax over the rating labels of the
batch-calibrated scores plus ``strength`` x log of the user's smoothed rating
distribution (`pergen.baselines.priors.prior_scores`), and the answer is the expected rating
sum_r r p(r), rounded half up to the nearest label. Where the model's scores say nothing,
that is the user's mean rating (the ``profile-prior`` answer); where they say something,
it moves the answer from there. Measured in ``bench/RESULTS.md`` ("Rating task").

`prior_gap` is the check that every labelled run gets: the run's first metric against
``profile-prior`` on the same questions, and a warning when the run is worse, since a run
that loses to each user's own mean rating (or most frequent label) measures nothing a
user would want.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import softmax

from ..baselines.priors import ProfilePrior
from ..baselines.votes import RATING_METRICS, check_labelled, weighted_rating
from ..data.records import Question
from ..errors import ConfigError
from ..evaluation.metrics import get_metric
from ..evaluation.significance import compare
from ..llm.base import Request
from . import TaskSpec


def is_rating(task: TaskSpec) -> bool:
    """A task scored by distance on a numeric scale (MAE/RMSE) whose labels are numbers."""
    if not task.labels or not RATING_METRICS & set(task.metrics):
        return False
    try:
        [float(label) for label in task.labels]
    except ValueError:
        return False
    return True


def check_rating(task: TaskSpec) -> None:
    """Refuse label mode ``expected`` on a task that is not a rating task."""
    if not is_rating(task):
        raise ConfigError(f"{{option}} expected needs a rating task (numeric labels scored by "
                          f"MAE/RMSE); {task.name} is not one: use calibrate or prior",
                          option="label_mode")


def expected_ratings(matrix: np.ndarray, task: TaskSpec) -> list[str]:
    """Per row of label scores (any additive offset), sum_r r softmax(row)_r rounded half up
    to the nearest rating label (`pergen.baselines.votes.weighted_rating`)."""
    check_rating(task)
    labels = list(task.labels or ())
    probs = softmax(np.asarray(matrix, dtype=np.float64), axis=1)
    answers = []
    for row in probs:
        label, _ = weighted_rating(list(zip(labels, row.tolist())), task)
        answers.append(label or labels[len(labels) // 2])
    return answers


def prior_answers(task: TaskSpec, questions: Sequence[Question],
                  everyone: Sequence[Question]) -> dict[str, str]:
    """What ``--model profile-prior`` answers: each user's mean rating rounded (or most
    frequent label), the split's prior for users without labelled items."""
    model = ProfilePrior()
    model.prepare(everyone, task)
    requests = [Request(prompt="", input=q.input, retrieved=(), task=task, profile=q.profile)
                for q in questions]
    return {q.id: a for q, a in zip(questions, model.generate(requests, 1))}


def prior_gap(task: TaskSpec, questions: Sequence[Question], everyone: Sequence[Question],
              predictions: Mapping[str, str], golds: Mapping[str, str], hint: bool = True
              ) -> str | None:
    """A warning when the run's first metric is worse than ``profile-prior``'s on the same
    questions (with the paired test's p), else None; None too where no prior applies (a
    generation task, or labels that name candidates of the input). `hint`: suggest label
    mode ``expected`` (not when the run used it)."""
    try:
        check_labelled(task, "profile-prior")
    except ConfigError:
        return None
    ids = [q.id for q in questions if q.id in golds and q.id in predictions]
    if not ids or not task.metrics:
        return None
    name = task.metrics[0]
    metric = get_metric(name)
    prior = prior_answers(task, [q for q in questions if q.id in set(ids)], everyone)
    gold = [golds[i] for i in ids]
    mine, theirs = [predictions[i] for i in ids], [prior[i] for i in ids]
    ours, base = metric(mine, gold, task.labels), metric(theirs, gold, task.labels)
    worse = ours > base if metric.lower_is_better else ours < base
    if not worse:
        return None
    p = compare(name, metric.units_of(mine, gold, task.labels),
                metric.units_of(theirs, gold, task.labels)).p_value
    what = "mean rating" if is_rating(task) else "most frequent label"
    tip = " (try --label-mode expected)" if hint and is_rating(task) else ""
    return (f"{name} {ours:.3f} is worse than answering each user's own {what} "
            f"(--model profile-prior: {base:.3f}, p = {p:.2g}, n = {len(ids)}){tip}")

"""The user's prior: what a user usually answers, from their profile alone.

Research note 003 asks how far each method is from such trivial answers, and whether an
LLM too small to read a profile can still be personalized through it:

- ``profile-prior`` (a model, no LLM): the user's most frequent label, or mean rating
  rounded (`pergen.baselines.votes.prior`), and for a user without labelled items the global
  prior (the same over every profile item of the split: never a gold output).
- ``label_mode="prior"`` (in `evaluate`): the LLM's batch-calibrated label
  log-probabilities plus `strength` x log of the user's label distribution, smoothed
  toward the global one with `PSEUDO_COUNT` pseudo-items (`prior_scores`).

Both need profile items that carry the task's labels (LaMP-2, LaMP-3); on a task whose
labels name candidates of the input (LaMP-1, the tweets) they are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data.records import ProfileItem, Question
from ..errors import ConfigError
from ..llm.base import MODELS, BaseGenerator, Request, Tokenizer, WhitespaceTokenizer
from ..memory.levels import Population
from ..tasks import TaskSpec
from .votes import check_labelled, prior

PSEUDO_COUNT = 4.0  # global-prior items added to every user's counts: a new user's prior is global


def label_counts(task: TaskSpec, profile: Sequence[ProfileItem]) -> np.ndarray:
    """How often the user gave each of the task's labels (other outputs are not counted)."""
    labels = list(task.labels or ())
    counts = np.zeros(len(labels))
    for item in profile:
        out = task.output_of(item).strip()
        if out in labels:
            counts[labels.index(out)] += 1
    return counts


def global_distribution(task: TaskSpec, questions: Sequence[Question]) -> np.ndarray:
    """The label distribution over every distinct profile item of the split (add-one)."""
    counts = label_counts(task, Population(questions, task).items()) + 1.0
    return counts / counts.sum()


def prior_scores(calibrated: np.ndarray, profiles: Sequence[Sequence[ProfileItem]],
                 task: TaskSpec, global_probs: np.ndarray, strength: float) -> np.ndarray:
    """calibrated + strength * log p_user, p_user = (counts + c * global) / (n + c)."""
    rows = []
    for profile in profiles:
        counts = label_counts(task, profile)
        rows.append((counts + PSEUDO_COUNT * global_probs) / (counts.sum() + PSEUDO_COUNT))
    return np.asarray(calibrated) + strength * np.log(np.vstack(rows))


class ProfilePrior(BaseGenerator):
    """Answers with the user's prior, or the split's for a user without labelled items."""

    name = "profile-prior"

    def __init__(self) -> None:
        self.tokenizer: Tokenizer = WhitespaceTokenizer()
        self.global_answer: str | None = None
        self.fallbacks = 0  # questions answered with the global prior

    def check_task(self, task: TaskSpec) -> None:
        check_labelled(task, "profile-prior")

    def prepare(self, questions: Sequence[Question], task: TaskSpec) -> None:
        """Learn the global prior from every profile of the split."""
        self.global_answer = prior(task, Population(questions, task).items())

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        answers = []
        for r in requests:
            self.check_task(r.task)
            if label_counts(r.task, r.profile).sum() > 0:
                answers.append(prior(r.task, r.profile))
                continue
            self.fallbacks += 1
            answers.append(self.global_answer or prior(r.task, ()))
        return answers


@MODELS.register("profile-prior", llm=False, reference="none",
                 reference_kinds=("label", "rating"))
def profile_prior(arg: str = "", **options: Any) -> ProfilePrior:
    if arg:
        raise ConfigError(f"profile-prior takes no argument (got profile-prior:{arg})")
    return ProfilePrior()

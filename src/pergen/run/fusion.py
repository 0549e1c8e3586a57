"""Fused evidence for label and rating tasks: ``label_mode="fused"``.

The LLM reads the candidates or the input; the no-LLM scorers read the profile: the
user's own label distribution (`pergen.baselines.priors`) and the vote over the most
similar profile items (the cosine similarity vote on choice tasks, the kNN label vote
elsewhere). On the tweets their margins are nearly uncorrelated (r = .07, issue 21), so
each sees what the other misses. Fusion scores every label as a weighted sum of the three
features, ``w . (llm, prior, vote)``, with the LLM's batch-calibrated log-probabilities,
and answers the best label (the expected rating on rating tasks).

The weights are learned, not tuned: a conditional logit (softmax over the labels) fitted
on the train split's questions, answered by the same model and retriever, by
scikit-learn's logistic regression on feature differences (gold label minus each other
label, both signs, no intercept, L2, lbfgs: deterministic). Features are scaled by their
train standard deviation. The fit is stored in ``OUT/<retriever>/fused.json`` with a
digest of its inputs (settings, retriever, the train questions and their scores) and
reused until they change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..baselines.priors import global_distribution, prior_scores
from ..baselines.votes import SimilarityVote, vote_evidence
from ..data.records import Question
from ..evaluation.calibration import calibrated_scores
from ..tasks import TaskSpec
from .storage import atomic_write_json

FEATURES = ("llm", "prior", "vote")
FILE = "fused.json"


def features(scores: Sequence[Sequence[float]], questions: Sequence[Question],
             everyone: Sequence[Question], task: TaskSpec) -> np.ndarray:
    """(questions, labels, features): calibrated LLM log-probability, log p(label | user)
    (0 on choice tasks, whose labels name candidates) and the vote's score."""
    labels = list(task.labels or ())
    llm = calibrated_scores(scores, len(labels))
    if task.kind == "choice":
        prior = np.zeros_like(llm)
    else:
        prior = prior_scores(np.zeros_like(llm), [q.profile for q in questions], task,
                             global_distribution(task, everyone), 1.0)
    return np.stack([llm, prior, vote_scores(questions, task)], axis=2)


def vote_scores(questions: Sequence[Question], task: TaskSpec) -> np.ndarray:
    """The vote's score of every label: the similarity vote's candidate scores (cosine,
    comparable across questions) on choice tasks, the kNN vote's label shares elsewhere."""
    vote, requests = vote_evidence(task, questions)
    rows = vote.candidate_scores(requests) if isinstance(vote, SimilarityVote) \
        else vote.label_shares(requests)
    n = len(task.labels or ())
    return np.asarray([(list(r) + [0.0] * n)[:n] for r in rows], dtype=np.float64)


def fit(x: np.ndarray, gold: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the conditional logit and the feature scale, from train features."""
    from sklearn.linear_model import LogisticRegression

    scale = x.reshape(-1, x.shape[2]).std(axis=0)
    scale[scale == 0] = 1.0
    z = x / scale
    diffs = [z[i, g] - z[i, j] for i, g in enumerate(gold) for j in range(z.shape[1]) if j != g]
    pairs = np.asarray(diffs)
    model = LogisticRegression(fit_intercept=False, C=1.0, solver="lbfgs", max_iter=1000)
    model.fit(np.vstack([pairs, -pairs]), np.r_[np.ones(len(pairs)), np.zeros(len(pairs))])
    return model.coef_[0], scale


def fused_scores(x: np.ndarray, weights: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(questions, labels) fused scores."""
    return np.asarray((x / scale) @ weights)


def stored_or_fit(folder: Path, key: dict[str, Any], x: np.ndarray, gold: Sequence[int]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The stored fit when its inputs are the same, else a new one (written atomically)."""
    digest = hashlib.sha256(json.dumps({"key": key, "x": x.round(9).tolist(),
                                        "gold": list(gold)}, sort_keys=True).encode()
                            ).hexdigest()
    path = folder / FILE
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("digest") == digest:
            return np.asarray(stored["weights"]), np.asarray(stored["scale"])
    weights, scale = fit(x, gold)
    chosen = fused_scores(x, weights, scale).argmax(axis=1)
    atomic_write_json(path, {"features": list(FEATURES), "weights": weights.tolist(),
                             "scale": scale.tolist(), "n_train": len(gold),
                             "train_accuracy": float(np.mean(chosen == np.asarray(gold))),
                             "digest": digest})
    return weights, scale


@dataclass(frozen=True)
class Fuser:
    """A fitted fusion, applied to a run's label scores."""

    weights: np.ndarray
    scale: np.ndarray
    everyone: Sequence[Question]  # the split's questions: the labels' global distribution
    task: TaskSpec

    def matrix(self, scores: Sequence[Sequence[float]], questions: Sequence[Question]
               ) -> np.ndarray:
        x = features(scores, questions, self.everyone, self.task)
        return fused_scores(x, self.weights, self.scale)

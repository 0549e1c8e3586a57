"""The user's prior: the `profile-prior` model and label mode `prior`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import FakeLM

from pergen.baselines.priors import PSEUDO_COUNT, global_distribution, label_counts, prior_scores
from pergen.data.records import ProfileItem, Question
from pergen.errors import ConfigError
from pergen.run.pipeline import evaluate
from pergen.tasks import get_task

TAGS = get_task("LaMP_2")


def tagged(*labels: str) -> tuple[ProfileItem, ...]:
    return tuple(ProfileItem(str(i), {"description": "d", "tag": t}) for i, t in enumerate(labels))


def test_prior_scores_by_hand() -> None:
    labels = list(TAGS.labels or ())
    profile = tagged("comedy", "comedy", "action")
    glob = np.full(len(labels), 1 / len(labels))
    got = prior_scores(np.zeros((1, len(labels))), [profile], TAGS, glob, strength=2.0)[0]
    n = 3 + PSEUDO_COUNT
    comedy = np.log((2 + PSEUDO_COUNT / len(labels)) / n) * 2
    other = np.log((PSEUDO_COUNT / len(labels)) / n) * 2
    assert got[labels.index("comedy")] == pytest.approx(comedy)
    assert got[labels.index("fantasy")] == pytest.approx(other)
    assert label_counts(TAGS, tagged("comedy", "not a tag")).sum() == 1


def test_global_distribution_counts_each_item_once() -> None:
    profile = tagged("comedy", "action")
    questions = [Question("a", "x", profile, "u"), Question("b", "y", profile, "u")]
    dist = global_distribution(TAGS, questions)
    labels = list(TAGS.labels or ())
    assert dist[labels.index("comedy")] == pytest.approx(2 / (2 + len(labels)))
    assert dist.sum() == pytest.approx(1.0)


def test_profile_prior_model_on_synthetic_ratings_and_tags(synthetic, tmp_path: Path) -> None:
    runs = evaluate(synthetic("rating"), "dev", ["none"], tmp_path / "r", model="profile-prior",
                    progress=False)
    # user u rates 2+u and 3+u alternately: the mean (2.5+u) rounds up to the gold + 1
    assert runs["none"].metrics["mae"] == pytest.approx(1.0)
    runs = evaluate(synthetic("label"), "dev", ["none"], tmp_path / "t", model="profile-prior",
                    progress=False)
    assert runs["none"].metrics["accuracy"] == 1.0  # every user tags with one habit
    cold = evaluate(synthetic("label"), "dev", ["none"], tmp_path / "c", model="profile-prior",
                    profile_cap=0, progress=False)
    # without history everyone gets the split's most frequent tag: one user's of three
    assert cold["none"].metrics["accuracy"] == pytest.approx(1 / 3)


def test_label_mode_prior_moves_answers_toward_the_user(synthetic, tmp_path: Path) -> None:
    data = synthetic("label", users=3, per_user=3)
    calibrate = evaluate(data, "dev", ["none"], tmp_path / "cal", model=FakeLM(),
                         label_mode="calibrate", progress=False)
    strong = evaluate(data, "dev", ["none"], tmp_path / "pri", model=FakeLM(),
                      label_mode="prior", prior_strength=50.0, progress=False)
    assert strong["none"].metrics["accuracy"] == 1.0
    assert calibrate["none"].metrics["accuracy"] < 1.0  # no profile in the prompt: guesses
    run = json.loads((tmp_path / "pri" / "none" / "run.json").read_text())
    assert run["settings"]["label_mode"] == "prior" and run["settings"]["prior_strength"] == 50.0


def test_priors_are_refused_where_items_carry_no_label(synthetic, tmp_path: Path,
                                                        tweet_task_path: Path) -> None:
    with pytest.raises(ConfigError, match="profile-prior needs a task with labels"):
        evaluate(synthetic("generation"), "dev", ["none"], tmp_path / "g", model="profile-prior")
    data = tmp_path / "tw"
    data.mkdir()
    (data / "dev_questions.json").write_text(json.dumps([{
        "id": "q", "input": 'Which? [1]: "a b" [2]: "c d"', "profile": [{"id": "p", "text": "a"}]}]))
    (data / "dev_outputs.json").write_text(json.dumps({"task": "tweet_authorship",
                                                       "golds": [{"id": "q", "output": "[1]"}]}))
    with pytest.raises(ConfigError, match="label mode prior does not apply"):
        evaluate(data, "dev", ["none"], tmp_path / "o", task=str(tweet_task_path),
                 model=FakeLM(), label_mode="prior")
    assert not (tmp_path / "o").exists() and not (tmp_path / "g").exists()

"""Rating tasks: label mode `expected`, and the warning when a run loses to the user's prior."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from synthetic import FakeLM
from typer.testing import CliRunner

from pergen.cli import app
from pergen.data.splits import golds_for, load_split
from pergen.errors import ConfigError
from pergen.llm.base import Request
from pergen.run.pipeline import evaluate
from pergen.tasks import get_task
from pergen.tasks.rating import expected_ratings, is_rating, prior_answers, prior_gap

RATING = get_task("LaMP_3")


class Flat(FakeLM):
    """Scores every rating alike: a model that reads nothing in the prompt."""

    def label_scores(self, requests: Sequence[Request], labels: Sequence[str]
                     ) -> list[list[float]]:
        self.calls += len(requests)
        return [[0.0] * len(labels) for _ in requests]


class Sure(FakeLM):
    """Gives one rating nearly all the mass, whatever the prompt."""

    def __init__(self, rating: str) -> None:
        super().__init__()
        self.rating = rating

    def label_scores(self, requests: Sequence[Request], labels: Sequence[str]
                     ) -> list[list[float]]:
        self.calls += len(requests)
        return [[0.0 if lab == self.rating else -20.0 for lab in labels] for _ in requests]


def test_expected_rating_by_hand() -> None:
    def log(*p: float) -> list[float]:
        return np.log(np.asarray(p) + 1e-300).tolist()

    rows = np.array([log(0, 0, .5, .5, 0),      # 3.5: halfway goes up
                     log(.2, .2, .2, .2, .2),    # 3.0
                     log(.5, 0, 0, 0, .5),       # 3.0, though neither 1 nor 5 is near
                     log(0, 0, 0, .7, .3)])      # 4.3
    assert expected_ratings(rows, RATING) == ["4", "3", "3", "4"]
    # an additive offset per row changes nothing (scores need not be normalized)
    assert expected_ratings(rows + np.array([[5.0], [-3.0], [0.0], [1.0]]), RATING) == \
        ["4", "3", "3", "4"]


def test_expected_is_refused_outside_rating_tasks(synthetic, tmp_path: Path) -> None:
    assert is_rating(RATING) and not is_rating(get_task("LaMP_2"))
    assert not is_rating(get_task("LaMP_4"))
    with pytest.raises(ConfigError, match="expected needs a rating task"):
        expected_ratings(np.zeros((1, 15)), get_task("LaMP_2"))
    with pytest.raises(ConfigError, match="expected needs a rating task"):
        evaluate(synthetic("label"), "dev", ["none"], tmp_path / "t", model=FakeLM(),
                 label_mode="expected", progress=False)
    with pytest.raises(ConfigError, match="needs a task with labels"):
        evaluate(synthetic("generation"), "dev", ["none"], tmp_path / "g", model=FakeLM(),
                 label_mode="expected", progress=False)
    assert not (tmp_path / "t").exists() and not (tmp_path / "g").exists()


def test_expected_with_a_flat_model_is_the_users_smoothed_mean(synthetic, tmp_path: Path) -> None:
    """Scores that say nothing leave the user's own distribution, smoothed toward the
    split's: users rating 2,3,2,3 / 3,4,3,4 / 4,5,4,5 have expected ratings 2.93, 3.43
    and 3.93 (with 4 pseudo-items of the split's add-one distribution, mean 3.35), so 3, 3
    and 4, where `choose` answers "1" to everyone."""
    data = synthetic("rating", users=3, per_user=2)
    runs = evaluate(data, "dev", ["none"], tmp_path / "e", model=Flat(), label_mode="expected",
                    progress=False)
    by_user = {qid.split("-")[0]: a for qid, a in runs["none"].predictions.items()}
    assert by_user == {"u0": "3", "u1": "3", "u2": "4"}
    settings = json.loads((tmp_path / "e" / "none" / "run.json").read_text())["settings"]
    assert settings["label_mode"] == "expected"
    chosen = evaluate(data, "dev", ["none"], tmp_path / "c", model=Flat(), label_mode="choose",
                      progress=False)
    assert set(chosen["none"].predictions.values()) == {"1"}


def test_a_constant_bias_is_calibrated_away(synthetic, tmp_path: Path) -> None:
    """A model sure of "5" for every question: calibration removes what is common to all
    questions, so the answer stays the user's; with strength 0 the prior is off and the
    calibrated scores are flat: the middle of the scale."""
    data = synthetic("rating", users=3, per_user=2)
    sure = evaluate(data, "dev", ["none"], tmp_path / "s", model=Sure("5"),
                    label_mode="expected", progress=False)
    flat = evaluate(data, "dev", ["none"], tmp_path / "f", model=Flat(), label_mode="expected",
                    progress=False)
    assert sure["none"].predictions == flat["none"].predictions
    off = evaluate(data, "dev", ["none"], tmp_path / "o", model=Sure("5"), label_mode="expected",
                   prior_strength=0.0, progress=False)
    assert set(off["none"].predictions.values()) == {"3"}


class Reads(FakeLM):
    """Sure of "5" for the first question of each user and of "1" for the second."""

    def label_scores(self, requests: Sequence[Request], labels: Sequence[str]
                     ) -> list[list[float]]:
        self.calls += len(requests)
        best = ["5" if r.input.endswith("product 0") else "1" for r in requests]
        return [[0.0 if lab == b else -20.0 for lab in labels] for b in best]


def test_scores_that_differ_between_questions_move_the_answer(synthetic, tmp_path: Path
                                                              ) -> None:
    """Where the model tells questions apart with confidence, it outweighs the prior."""
    data = synthetic("rating", users=3, per_user=2)
    runs = evaluate(data, "dev", ["none"], tmp_path / "m", model=Reads(), label_mode="expected",
                    progress=False)
    assert runs["none"].predictions == \
        {f"u{u}-q{j}": "5" if j == 0 else "1" for u in range(3) for j in range(2)}


def test_prior_gap_warns_only_when_the_run_loses_to_the_prior(synthetic) -> None:
    data = synthetic("rating", users=3, per_user=2)
    questions = load_split(data, "dev")
    golds = golds_for(data, "dev", questions)
    assert golds is not None
    prior = prior_answers(RATING, questions, questions)
    assert prior_gap(RATING, questions, questions, prior, golds) is None  # equal: no warning
    assert prior_gap(RATING, questions, questions, dict(golds), golds) is None  # better
    worse = {qid: "1" for qid in golds}
    message = prior_gap(RATING, questions, questions, worse, golds)
    assert message is not None
    assert message.startswith("mae 2.000 is worse than answering each user's own mean rating "
                              "(--model profile-prior: 1.000")
    assert "n = 6" in message and "--label-mode expected" in message
    heads = synthetic("generation")
    hq = load_split(heads, "dev")
    hg = golds_for(heads, "dev", hq)
    assert hg is not None
    assert prior_gap(get_task("LaMP_4"), hq, hq, {q: "x" for q in hg}, hg) is None


def test_a_run_worse_than_the_prior_is_warned_in_the_run_and_the_cli(synthetic,
                                                                      tmp_path: Path) -> None:
    """choose with a flat model answers "1" everywhere: both warnings fire (one answer, and
    worse than the users' means), in warnings.json, the report and the CLI output."""
    from pergen.reports.run import write_report

    data = synthetic("rating", users=3, per_user=4)
    runs = evaluate(data, "dev", ["none"], tmp_path / "r", model=Flat(), label_mode="choose",
                    progress=False)
    warning = runs["none"].warning or ""
    assert "'1', covers 100% of the 12 questions" in warning
    assert "worse than answering each user's own mean rating" in warning
    stored = json.loads((tmp_path / "r" / "warnings.json").read_text())
    assert stored["none"] == warning
    _, md = write_report(tmp_path / "r")
    assert "profile-prior" in md.read_text()
    good = evaluate(data, "dev", ["none"], tmp_path / "g", model=Flat(), label_mode="expected",
                    progress=False)
    assert good["none"].warning is None and not (tmp_path / "g" / "warnings.json").exists()
    result = CliRunner().invoke(app, ["evaluate", "--data", str(data), "--model", "copy-input",
                                      "--retriever", "none", "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "--model profile-prior" in result.output


def test_auto_on_a_rating_task_runs_the_measured_mode(synthetic, tmp_path: Path) -> None:
    """auto is AUTO_RATING_MODE on a rating task with a model that scores labels (run.json
    says so, and the answers equal an explicit run's), AUTO_LABEL_MODE on other labelled
    tasks; with a model that scores nothing auto stays auto."""
    from pergen.run.settings import AUTO_LABEL_MODE, AUTO_RATING_MODE

    data = synthetic("rating", users=3, per_user=2)
    auto = evaluate(data, "dev", ["none"], tmp_path / "a", model=Flat(), progress=False)
    explicit = evaluate(data, "dev", ["none"], tmp_path / "x", model=Flat(),
                        label_mode=AUTO_RATING_MODE, progress=False)
    assert auto["none"].predictions == explicit["none"].predictions
    stored = json.loads((tmp_path / "a" / "none" / "run.json").read_text())["settings"]
    assert stored["label_mode"] == AUTO_RATING_MODE
    evaluate(data, "dev", ["none"], tmp_path / "p", model="profile-prior", progress=False)
    stored = json.loads((tmp_path / "p" / "none" / "run.json").read_text())["settings"]
    assert stored["label_mode"] == "auto"  # a model that scores nothing: nothing to pick from
    evaluate(synthetic("label"), "dev", ["none"], tmp_path / "t", model=Flat(), progress=False)
    stored = json.loads((tmp_path / "t" / "none" / "run.json").read_text())["settings"]
    assert stored["label_mode"] == AUTO_LABEL_MODE == "calibrate"

"""`evaluate` on small synthetic users with a deterministic fake LLM: the pipeline's own
behaviour (what it writes, resuming, label modes, selectors), with no real model or data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic import FakeLM

from pergen.errors import ConfigError
from pergen.run.pipeline import evaluate


def test_generation_run_writes_every_result_file(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation")
    model = FakeLM()
    runs = evaluate(data, "dev", ["none", "bm25"], tmp_path / "run", model=model, progress=False)
    out = tmp_path / "run"
    for name in ("metrics.json", "significance.json", "table.md"):
        assert (out / name).is_file(), name  # written by the library, not only the CLI
    for folder in ("none", "bm25"):
        assert {p.name for p in (out / folder).iterdir()} >= {
            "run.json", "journal.jsonl", "predictions.json", "scores.json"}
    # The fake copies the top item's output: with BM25 it finds the user's topic word,
    # without a profile it echoes the input; the gold shares the topic word.
    assert runs["bm25"].metrics["rouge-1"] > runs["none"].metrics["rouge-1"]
    significance = json.loads((out / "significance.json").read_text())
    assert significance["baseline"] == "none" and "bm25" in significance["p_values"]
    assert "| bm25 |" in (out / "table.md").read_text()
    # 6 questions x 2 retrievers, scored twice: the gold, and the answer (its confidence)
    assert model.calls == 12 and model.scored == 24
    # gold-loglik, the sensitive measure: the fake finds more of the gold's words in a
    # prompt that holds the user's items; paired t-test against none.
    assert runs["bm25"].metrics["gold-loglik"] > runs["none"].metrics["gold-loglik"]
    assert significance["p_values"]["bm25"]["gold-loglik"] < 0.05


def test_gold_loglik_is_completed_on_resume_without_answering_again(synthetic, tmp_path):
    data = synthetic("generation")
    first = FakeLM()
    runs = evaluate(data, "dev", ["none", "bm25"], tmp_path / "run", model=first,
                    gold_loglik=False, confidence="none", progress=False)
    assert "gold-loglik" not in runs["bm25"].metrics and first.scored == 0
    again = FakeLM()
    runs = evaluate(data, "dev", ["none", "bm25"], tmp_path / "run", model=again,
                    confidence="none", progress=False)
    assert again.calls == 0 and again.scored == 12  # from the journal's stored prompts
    assert "gold-loglik" in runs["bm25"].metrics
    assert "gold-loglik" in json.loads((tmp_path / "run" / "metrics.json").read_text())["bm25"]


def test_no_gold_loglik_for_models_that_cannot_score(synthetic, tmp_path: Path) -> None:
    runs = evaluate(synthetic("generation"), "dev", ["bm25"], tmp_path / "k", model="knn",
                    progress=False)
    assert set(runs["bm25"].metrics) == {"rouge-1", "rouge-L"}


def test_resume_redoes_nothing_and_other_settings_are_refused(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation", users=4)
    first = FakeLM()
    evaluate(data, "dev", ["bm25"], tmp_path / "run", model=first, batch_size=3, progress=False)
    again = FakeLM()
    runs = evaluate(data, "dev", ["bm25"], tmp_path / "run", model=again, progress=False)
    assert first.calls == 8 and again.calls == 0 and len(runs["bm25"].predictions) == 8
    with pytest.raises(ConfigError, match="other settings"):
        evaluate(data, "dev", ["bm25"], tmp_path / "run", model=FakeLM(), k=2, progress=False)


def test_interrupted_run_keeps_finished_batches(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation", users=4)

    class Stops(FakeLM):
        def generate(self, requests, max_new_tokens):  # type: ignore[no-untyped-def]
            if self.calls >= 4:
                raise KeyboardInterrupt
            return super().generate(requests, max_new_tokens)

    with pytest.raises(KeyboardInterrupt):
        evaluate(data, "dev", ["bm25"], tmp_path / "run", model=Stops(), batch_size=2,
                 progress=False)
    lines = (tmp_path / "run" / "bm25" / "journal.jsonl").read_text().splitlines()
    assert len(lines) == 4 and not (tmp_path / "run" / "metrics.json").exists()
    rest = FakeLM()
    evaluate(data, "dev", ["bm25"], tmp_path / "run", model=rest, batch_size=2, progress=False)
    assert rest.calls == 4  # only the unfinished questions


@pytest.mark.parametrize("mode", ["choose", "calibrate"])
def test_label_modes_pick_from_the_label_set(synthetic, tmp_path: Path, mode: str) -> None:
    data = synthetic("label")
    runs = evaluate(data, "dev", ["none", "bm25"], tmp_path / mode, model=FakeLM(),
                    label_mode=mode, progress=False)
    from pergen.tasks import get_task
    labels = set(get_task("LaMP_2").labels or ())
    assert all(p in labels for run in runs.values() for p in run.predictions.values())
    journal = (tmp_path / mode / "bm25" / "journal.jsonl").read_text().splitlines()
    assert all(len(json.loads(line)["label_scores"]) == len(labels) for line in journal)
    # The fake prefers the label quoted most in the prompt: the user's own tag with BM25.
    assert runs["bm25"].metrics["accuracy"] == 1.0 or mode == "calibrate"
    f1 = json.loads((tmp_path / mode / "bm25" / "scores.json").read_text())
    assert all(len(row["units"]["f1"]) == 2 for row in f1.values())  # label pairs for the test


def test_rating_task_and_a_qpp_selector(synthetic, tmp_path: Path) -> None:
    data = synthetic("rating")
    runs = evaluate(data, "dev", ["recency", "qpp-wig:recency+bm25"], tmp_path / "r",
                    model="knn-vote", progress=False, references=False)
    chosen = json.loads((tmp_path / "r" / "selection.json").read_text())["selectors"]
    assert set(chosen["qpp-wig:recency+bm25"].values()) <= {"recency", "bm25"}
    assert set(runs) == {"recency", "bm25", "qpp-wig:recency+bm25"}
    assert runs["bm25"].metrics["mae"] <= 1.0  # each user rates around their own mean


def test_a_degenerate_run_is_warned_about(synthetic, tmp_path: Path) -> None:
    """A model that answers the same label everywhere: the library records the warning,
    the CLI prints it and the report shows it."""
    from typer.testing import CliRunner

    from pergen.cli import app
    from pergen.reports.run import write_report

    class SameLabel(FakeLM):
        def label_scores(self, requests, labels):  # type: ignore[no-untyped-def]
            self.calls += len(requests)
            return [[1.0 if lab == "comedy" else 0.0 for lab in labels] for _ in requests]

    data = synthetic("label", users=3, per_user=4)
    evaluate(data, "dev", ["none", "bm25"], tmp_path / "run", model=SameLabel(), progress=False,
             label_mode="choose")
    warnings = json.loads((tmp_path / "run" / "warnings.json").read_text())
    assert set(warnings) == {"none", "bm25"} and "'comedy', covers 100% of the 12" in warnings["bm25"]
    html_path, md_path = write_report(tmp_path / "run")
    assert "covers 100%" in md_path.read_text() and "class=warn" in html_path.read_text()
    fine = evaluate(data, "dev", ["bm25"], tmp_path / "ok", model=FakeLM(), progress=False,
                    label_mode="choose")
    assert len(set(fine["bm25"].predictions.values())) == 3
    assert not (tmp_path / "ok" / "warnings.json").exists()
    one_user = synthetic("label", users=1, per_user=4)  # one user, one habit: one answer
    result = CliRunner().invoke(app, ["evaluate", "--data", str(one_user), "--model", "knn-vote",
                                      "--retriever", "none", "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "covers 100% of the 4 questions" in result.output

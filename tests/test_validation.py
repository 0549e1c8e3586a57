"""One validation before anything is written: every bad setting names the option, the
value and the accepted ones, and leaves no run folder behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pergen.cli import app
from pergen.errors import ConfigError, DataError
from pergen.run.pipeline import evaluate
from pergen.run.ranking import rank
from pergen.training.feedback import collect_feedback

runner = CliRunner()


@pytest.mark.parametrize("option, value, accepted", [
    ("--profile-view", "bogus", ["full", "output-only", "input-only"]),
    ("--profile-position", "middle", ["before", "after"]),
    ("--label-mode", "guess", ["auto", "generate", "choose", "calibrate"]),
    ("--retriever", "bm42", ["bm25", "dense", "recency", "qpp-wig", "rspg-pre"]),
    ("--retriever", "rrf:bm25+bm42", ["bm25", "dense", "recency"]),
    ("--model", "gpt9", ["smollm2", "knn", "copy-input", "hf", "openai"]),
])
def test_bad_option_names_option_value_and_accepted(synthetic, tmp_path: Path, option: str,
                                                    value: str, accepted: list[str]) -> None:
    data = synthetic("generation")
    out = tmp_path / "run"
    args = ["evaluate", "--data", str(data), "--model", "knn", "--out", str(out), option, value]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert option in result.output and repr(value) in result.output
    assert all(a in result.output for a in accepted), result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_library_errors_name_the_python_parameter(synthetic, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="view 'bogus' is not valid; accepted: full"):
        evaluate(synthetic("generation"), "dev", ["bm25"], tmp_path / "o", model="knn",
                 view="bogus")
    assert not (tmp_path / "o").exists()


def test_label_mode_the_model_cannot_serve_is_refused_before_writing(synthetic, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["evaluate", "--data", str(synthetic("label")), "--model", "knn",
                                 "--label-mode", "choose", "--out", str(out)])
    assert result.exit_code == 2 and "--label-mode choose needs" in result.output
    assert not out.exists()


def test_input_only_view_on_a_task_without_inputs(tmp_path: Path, tweet_task_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "dev_questions.json").write_text(json.dumps([{
        "id": "q1", "input": 'Which? [1]: "a b" [2]: "c d"', "profile": [{"id": "p", "text": "a"}]}]))
    (data / "dev_outputs.json").write_text(json.dumps({"task": "tweet_authorship",
                                                       "golds": [{"id": "q1", "output": "[1]"}]}))
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--task", str(tweet_task_path),
                                 "--model", "knn", "--profile-view", "input-only",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--profile-view 'input-only'" in result.output
    assert not (tmp_path / "o").exists()


def test_missing_data_folder_and_split(tmp_path: Path, synthetic) -> None:
    result = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "nope"), "--model", "knn",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert f"--data {tmp_path / 'nope'}: no such folder" in result.output
    data = synthetic("generation")
    result = runner.invoke(app, ["rank", "--data", str(data), "--split", "test",
                                 "--retriever", "bm25", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 2
    assert "has no test_questions.json (splits found: dev)" in result.output
    assert not (tmp_path / "r.json").exists()


def test_question_without_profile_names_file_record_field(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "dev_questions.json").write_text('[{"id": "q7", "input": "x"}]')
    with pytest.raises(DataError) as info:
        rank(data, "dev", "bm25", task="LaMP_4")
    message = str(info.value)
    assert "dev_questions.json" in message and "record q7" in message
    assert "field 'profile'" in message


def test_feedback_refuses_bad_settings_before_opening_a_store(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation")
    for bad in ({"signal": "vibes"}, {"retriever": "bm42"}, {"depth": 0},
                {"label_mode": "guess"}, {"model": "gpt9"}):
        options = {"model": "knn", "retriever": "bm25", **bad}
        with pytest.raises(ConfigError) as info:
            collect_feedback(data, "dev", tmp_path / "fb", **options)  # type: ignore[arg-type]
        assert info.value.option in ("signal", "retriever", "depth", "label_mode", "model")
        assert not (tmp_path / "fb").exists()


def test_help_lists_every_registered_name() -> None:
    from pergen.llm import MODELS
    from pergen.retrievers import RETRIEVERS
    from pergen.rspg.selectors import SELECTORS

    text = runner.invoke(app, ["evaluate", "--help"], env={"TERMINAL_WIDTH": "400", "COLUMNS": "400"}).output
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    flat = " ".join(text.split())
    for name in RETRIEVERS.names() + SELECTORS.names() + MODELS.names():
        assert name in flat, f"{name} missing from evaluate --help"
        assert f"`{name}" in readme, f"{name} missing from the README"

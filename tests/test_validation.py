"""One validation before anything is written: every bad setting names the option, the
value and the accepted ones, and leaves no run folder behind."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pergen.cli import app
from pergen.data.records import Question
from pergen.data.splits import check_questions, load_split
from pergen.errors import ConfigError, DataError, DataWarning
from pergen.run.pipeline import evaluate
from pergen.run.ranking import rank
from pergen.tasks import TaskSpec, get_task
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


def _questions(tmp_path: Path, *questions: dict) -> Path:
    data = tmp_path / "d"
    data.mkdir(exist_ok=True)
    (data / "dev_questions.json").write_text(json.dumps(list(questions)), encoding="utf-8")
    return data


ARTICLE = "Generate a headline for the following article: "


def test_profile_item_without_a_document_field_names_file_record_field(tmp_path: Path) -> None:
    item = {"id": "p1", "date": "2020-01-01", "text": "body", "title": "Head"}
    data = _questions(tmp_path, {"id": "q1", "input": ARTICLE + "a", "profile": [item]},
                      {"id": "q2", "input": ARTICLE + "b",
                       "profile": [item, {"id": "p2", "text": "no headline"}]},
                      {"id": "q3", "input": ARTICLE + "c", "profile": [{"id": "p3", "title": None,
                                                                        "text": "null title"}]})
    task = get_task("LaMP_4")
    assert len(load_split(data, "dev", limit=1, task=task)) == 1  # the gaps come later
    with pytest.raises(DataError) as info:
        load_split(data, "dev", task=task)
    message = str(info.value)
    assert str(data / "dev_questions.json") in message and "record q2" in message
    assert "field 'profile[1].title'" in message and "profile item 'p2'" in message
    assert "document field of task LaMP_4" in message and "2 such gaps in 2 question(s)" in message
    assert (info.value.record, info.value.field) == ("q2", "profile[1].title")


def test_optional_fields_are_not_document_fields(tmp_path: Path, tweet_task_path: Path) -> None:
    """No date, no title (an output field, not indexed by the tweet task), empty text: fine."""
    data = _questions(tmp_path, {"id": "q1", "input": 'Which? [1]: "a b" [2]: "c d"',
                                 "profile": [{"id": "p1", "text": ""}, {"id": "p2", "text": "x"}]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (q,) = load_split(data, "dev", task=get_task(tweet_task_path))
    assert [i.id for i in q.profile] == ["p1", "p2"]


def test_number_input_is_refused_before_a_run_writes(tmp_path: Path) -> None:
    data = _questions(tmp_path, {"id": "q9", "input": 12345, "profile": []})
    out = tmp_path / "r.json"
    with pytest.raises(DataError) as info:
        rank(data, "dev", "bm25", out=out, task="LaMP_4")
    assert (info.value.file, info.value.record, info.value.field) == (
        str(data / "dev_questions.json"), "q9", "input")
    assert not out.exists()
    result = runner.invoke(app, ["rank", "--data", str(data), "--task", "LaMP_4",
                                 "--retriever", "bm25", "--out", str(out)])
    assert result.exit_code == 2 and "record q9, field 'input'" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_inputs_without_the_query_marker_warn_with_the_count(tmp_path: Path) -> None:
    profile = [{"id": "p1", "text": "the garden opened", "title": "Garden"}]
    data = _questions(tmp_path, {"id": "q1", "input": ARTICLE + "garden news", "profile": profile},
                      {"id": "q2", "input": "garden news", "profile": profile},
                      {"id": "q3", "input": "more garden news", "profile": profile})
    task = get_task("LaMP_4")
    with pytest.warns(DataWarning) as caught:
        questions = load_split(data, "dev", task=task)
    (message,) = [str(w.message) for w in caught]
    assert "2 of 3 input(s) lack the query marker 'article:' of task LaMP_4" in message
    assert "e.g. q2, q3" in message and "whole input is their retrieval query" in message
    assert "dev_questions.json" in message
    assert [task.query(q.input) for q in questions] == ["garden news", "garden news",
                                                        "more garden news"]  # still runs


def test_marker_check_on_regex_tasks_and_tasks_without_a_marker(tweet_task_path: Path) -> None:
    tweets = get_task(tweet_task_path)
    both = [Question("a", 'Which? [1]: "x y" [2]: "z"'), Question("b", "no candidates here")]
    with pytest.warns(DataWarning, match=r"1 of 2 input\(s\) lack the query marker query_regex"):
        check_questions(both, tweets, "f.json")
    plain = TaskSpec(name="plain", item_template="$text", prompt_template="$profile $input",
                     document_fields=("text",), output_fields=("text",))
    assert plain.query_marker is None and plain.marked_query("anything") is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_questions(both, plain, "f.json")  # no marker: the whole input is the query


def test_no_real_question_is_rejected(huffpost: Path, tweets: Path, tweet_task_path: Path) -> None:
    """Every split of both shared data sets passes the checks of its task, without warnings."""
    for data, task in ((huffpost, get_task("LaMP_4")), (tweets, get_task(tweet_task_path))):
        for split in ("train", "dev", "test"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert load_split(data, split, task=task)

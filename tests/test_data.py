"""LaMP file reading and writing: real files, and malformed or hostile ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pergen.data.lamp import iter_questions, load_outputs, load_questions, write_outputs
from pergen.errors import DataError


def test_real_huffpost_dev(huffpost: Path) -> None:
    qs = load_questions(huffpost / "dev_questions.json")
    assert len(qs) == 158
    assert qs[0].id == "a000-30" and qs[0].user_id == "a000"
    assert qs[0].input.startswith("Generate a headline for the following article:")
    first = qs[0].profile[0]
    assert first.id == "a000-0" and first.date == "2018-05-09"
    assert first.get("title") == "Trump's Iran Deal Exit Is A Win For Russia"
    assert all(5 <= len(q.profile) <= 300 for q in qs)
    golds = load_outputs(huffpost / "dev_outputs.json")
    assert golds.task == "LaMP_4" and set(golds.by_id) == {q.id for q in qs}


def test_real_tweets_and_limit(tweets: Path) -> None:
    qs = load_questions(tweets / "dev_questions.json", limit=5)
    assert len(qs) == 5
    assert all(set(p.fields) == {"date", "text"} for q in qs for p in q.profile)
    assert load_outputs(tweets / "dev_outputs.json").task == "tweet_authorship"


def _write(tmp_path: Path, content: str | bytes, name: str = "x_questions.json") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize("content, words", [
    ('[{"id": "q1", "input": "a", "profile": []}, {"id": "q2", "inp', ["malformed JSON", "'q1'"]),
    ('{"id": "q1"}', ["expected a JSON list"]),
    ('[{"input": "a"}]', ["record #0", "'id'"]),
    ('[{"id": "q1"}]', ["record q1", "'input'"]),
    ('[{"id": "q1", "input": ["a"]}]', ["record q1", "'input'", "expected a string"]),
    ('[{"id": "q1", "input": 12345, "profile": []}]',
     ["record q1", "field 'input'", "expected a string, got the number 12345"]),
    ('[{"id": "q1", "input": 1.5, "profile": []}]', ["record q1", "field 'input'", "number 1.5"]),
    ('[{"id": "q1", "input": "a", "profile": {"id": 1}}]', ["record q1", "'profile'"]),
    ('[{"id": "q1", "input": "a", "profile": [{"text": "t"}]}]', ["record q1", "profile[0].id"]),
    ('[{"id": "q1", "input": "a", "profile": [{"id": "p", "text": {"x": 1}}]}]',
     ["record q1", "profile[0].text"]),
    ('[{"id": "q1", "input": "a", "profile": [{"id": "p"}, {"id": "p"}]}]', ["duplicate", "'p'"]),
    ('[{"id": "q1", "input": "a", "profile": []}, {"id": "q1", "input": "b", "profile": []}]',
     ["record q1", "duplicate"]),
    ('[{"id": "q1", "input": "a"}]', ["record q1", "field 'profile'", "[]"]),
    ('[{"id": "q1", "input": "a", "profile": null}]', ["record q1", "field 'profile'", "null"]),
    ('[1, 2]', ["record #0", "expected an object"]),
    ('', ["malformed JSON"]),
])
def test_malformed_questions_name_file_record_field(tmp_path: Path, content: str,
                                                    words: list[str]) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(DataError) as info:
        load_questions(path)
    message = str(info.value)
    assert str(path) in message
    for w in words:
        assert w in message


def test_empty_profile_is_a_cold_start_user(tmp_path: Path) -> None:
    path = _write(tmp_path, '[{"id": "q1", "input": "a", "profile": []}]')
    assert load_questions(path)[0].profile == ()


def test_encodings(tmp_path: Path) -> None:
    record = [{"id": "q1", "input": "héllo \u202e\x00 <script>", "profile": [
        {"id": 7, "score": 5, "text": "ok", "date": None}]}]
    bom = _write(tmp_path, b"\xef\xbb\xbf" + json.dumps(record).encode("utf-8"))
    (q,) = load_questions(bom)
    assert q.input == "héllo \u202e\x00 <script>"
    assert q.profile[0].id == "7" and q.profile[0].get("score") == "5"
    assert q.profile[0].date is None  # null date: treated as missing
    utf16 = _write(tmp_path, json.dumps(record).encode("utf-16"), "u_questions.json")
    with pytest.raises(DataError, match="UTF-16"):
        load_questions(utf16)
    latin1 = _write(tmp_path, '[{"id": "q1", "input": "caf\xe9"}]'.encode("latin-1"),
                    "l_questions.json")
    with pytest.raises(DataError, match="l_questions.json"):
        load_questions(latin1)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_questions(tmp_path / "nope.json")
    with pytest.raises(DataError, match="folder"):
        load_questions(tmp_path)


def test_questions_stream_lazily(tmp_path: Path) -> None:
    """A bad record late in a file is reported only when reached: the reader streams."""
    path = _write(tmp_path, '[{"id": "q1", "input": "a", "profile": []}, {"id": "q2"}]')
    it = iter_questions(path)
    assert next(it).id == "q1"
    with pytest.raises(DataError, match="record q2"):
        next(it)


@pytest.mark.parametrize("content, words", [
    ('{"golds": []}', ["(top level)", "'task'"]),
    ('{"task": "LaMP_4", "golds": {}}', ["'golds'"]),
    ('{"task": "LaMP_4", "golds": [{"id": "a"}]}', ["record a", "'output'"]),
    ('{"task": "LaMP_4", "golds": [{"id": "a", "output": "x"}, {"id": "a", "output": "y"}]}',
     ["record a", "duplicate"]),
    ('[]', ["expected an object"]),
])
def test_malformed_outputs(tmp_path: Path, content: str, words: list[str]) -> None:
    path = _write(tmp_path, content, "x_outputs.json")
    with pytest.raises(DataError) as info:
        load_outputs(path)
    assert str(path) in str(info.value)
    for w in words:
        assert w in str(info.value)


def test_write_outputs_round_trip_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "preds.json"
    preds = {"a": "Ünïcode \"quoted\"\nline", "b": ""}
    write_outputs(path, "LaMP_4", preds)
    back = load_outputs(path)
    assert back.task == "LaMP_4" and back.by_id == preds
    assert [p.name for p in tmp_path.iterdir()] == ["preds.json"]  # no temp files left

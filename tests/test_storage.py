"""Atomic writes and the resumable journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pergen.run.storage import Journal, atomic_write_json


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})  # not serialisable: fails before replacing
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_journal_survives_torn_last_line(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.jsonl")
    j.append([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    with (tmp_path / "j.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"id": "c", "v"')  # a run killed mid-write
    assert set(j.read()) == {"a", "b"}
    j.append([{"id": "c", "v": 3}])
    assert j.read()["c"] == {"id": "c", "v": 3}
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)


def test_journal_later_record_wins(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.jsonl")
    j.append([{"id": "a", "v": 1}])
    j.append([{"id": "a", "v": 2}])
    assert j.read() == {"a": {"id": "a", "v": 2}}


def test_journal_keeps_lone_surrogates_and_non_ascii(tmp_path) -> None:
    from pergen.run.storage import Journal
    journal = Journal(tmp_path / "j.jsonl")
    journal.append([{"id": "a", "text": "caf\u00e9 \ud800 \U0001f600"}])
    assert journal.read()["a"]["text"] == "caf\u00e9 \ud800 \U0001f600"

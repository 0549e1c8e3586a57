"""LaMP files in and out: ``*_questions.json``, ``*_outputs.json`` and predictions.

Questions are parsed as a stream (ijson), one record at a time, so a large file never
needs its raw text and its parsed form in memory together. Every problem raises
`DataError` naming the file, the record id (or index) and the field.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from ..errors import DataError
from ..run.storage import atomic_write_json
from .records import Outputs, ProfileItem, Question

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)


def questions_path(data_dir: str | Path, split: str) -> Path:
    return Path(data_dir) / f"{split}_questions.json"


def outputs_path(data_dir: str | Path, split: str) -> Path:
    return Path(data_dir) / f"{split}_outputs.json"


def _open_utf8(path: Path) -> BinaryIO:
    """Open a JSON file as bytes positioned after any UTF-8 BOM; refuse other encodings."""
    if not path.exists():
        raise DataError("no such file", file=str(path))
    if path.is_dir():
        raise DataError("is a folder, expected a JSON file", file=str(path))
    f = path.open("rb")
    head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        f.seek(3)
        return f
    if any(head.startswith(bom) for bom in _UTF16_BOMS):
        f.close()
        raise DataError("is UTF-16/32 encoded; save it as UTF-8", file=str(path))
    f.seek(0)
    return f


def _as_text(value: Any, *, file: str, record: str, field: str, required: bool = True,
             numbers: bool = True) -> str | None:
    """Coerce a JSON scalar to str (numbers are accepted unless `numbers` is False: ratings
    and ids are often ints, but a number where text is expected is a broken file)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, list, dict)):
        raise DataError(f"expected a string, got {type(value).__name__}", file=file,
                        record=record, field=field)
    if not numbers and value is not None:
        raise DataError(f"expected a string, got the number {value}", file=file,
                        record=record, field=field)
    if value is None:
        if required:
            raise DataError("is missing or null", file=file, record=record, field=field)
        return None
    return str(value)  # int, float, Decimal (ijson yields Decimal for non-integers)


def _profile_item(raw: Any, index: int, *, file: str, qid: str) -> ProfileItem:
    where = f"profile[{index}]"
    if not isinstance(raw, dict):
        raise DataError(f"expected an object, got {type(raw).__name__}", file=file,
                        record=qid, field=where)
    if "id" not in raw:
        raise DataError("profile item has no 'id'", file=file, record=qid, field=f"{where}.id")
    item_id = _as_text(raw["id"], file=file, record=qid, field=f"{where}.id")
    fields: dict[str, str] = {}
    for name, value in raw.items():
        if name == "id":
            continue
        text = _as_text(value, file=file, record=qid, field=f"{where}.{name}", required=False)
        if text is not None:
            fields[name] = text
    return ProfileItem(id=item_id, fields=fields, position=index)  # type: ignore[arg-type]


def _question(raw: Any, index: int, *, file: str) -> Question:
    if not isinstance(raw, dict):
        raise DataError(f"expected an object, got {type(raw).__name__}", file=file,
                        record=f"#{index}")
    if "id" not in raw:
        raise DataError("question has no 'id'", file=file, record=f"#{index}", field="id")
    qid = _as_text(raw["id"], file=file, record=f"#{index}", field="id")
    assert qid is not None
    if "input" not in raw:
        raise DataError("question has no 'input'", file=file, record=qid, field="input")
    text = _as_text(raw["input"], file=file, record=qid, field="input", numbers=False)
    if "profile" not in raw:
        raise DataError("question has no 'profile' (give [] for a user with no history yet)",
                        file=file, record=qid, field="profile")
    profile = raw["profile"]
    if profile is None:
        raise DataError("is null (give [] for a user with no history yet)", file=file,
                        record=qid, field="profile")
    if not isinstance(profile, list):
        raise DataError(f"expected a list, got {type(profile).__name__}", file=file,
                        record=qid, field="profile")
    items = tuple(_profile_item(p, i, file=file, qid=qid) for i, p in enumerate(profile))
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise DataError(f"duplicate profile item id {item.id!r}", file=file, record=qid,
                            field="profile")
        seen.add(item.id)
    user = raw.get("user_id")
    user_id = _as_text(user, file=file, record=qid, field="user_id", required=False)
    return Question(id=qid, input=text or "", profile=items, user_id=user_id)


def iter_questions(path: str | Path) -> Iterator[Question]:
    """Yield the questions of a ``*_questions.json`` file one by one, validated."""
    path = Path(path)
    name = str(path)
    seen: set[str] = set()
    index = -1
    last_id = None
    with _open_utf8(path) as f:
        try:
            for index, raw in enumerate(ijson.items(f, "item")):
                q = _question(raw, index, file=name)
                if q.id in seen:
                    raise DataError("duplicate question id", file=name, record=q.id, field="id")
                seen.add(q.id)
                last_id = q.id
                yield q
        except ijson.JSONError as e:
            after = f" after record {last_id!r}" if last_id else ""
            raise DataError(f"malformed JSON{after}: {e}", file=name) from e
        except UnicodeDecodeError as e:
            raise DataError(f"not valid UTF-8: {e}", file=name) from e
    if index < 0:
        _check_top_level_list(path)


def _check_top_level_list(path: Path) -> None:
    """An empty stream means either ``[]`` or a top level that is not a list: tell which."""
    with _open_utf8(path) as f:
        try:
            obj = json.loads(f.read().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"malformed JSON: {e}", file=str(path)) from e
    if not isinstance(obj, list):
        raise DataError(f"expected a JSON list of questions, got {type(obj).__name__}",
                        file=str(path))


def load_questions(path: str | Path, limit: int | None = None) -> list[Question]:
    """Read (the first `limit`) questions of a file into a list."""
    out: list[Question] = []
    for q in iter_questions(path):
        if limit is not None and len(out) >= limit:
            break
        out.append(q)
    return out


def load_outputs(path: str | Path) -> Outputs:
    """Read a ``*_outputs.json`` file (golds or predictions)."""
    path = Path(path)
    name = str(path)
    with _open_utf8(path) as f:
        try:
            obj = json.loads(f.read().decode("utf-8"))
        except json.JSONDecodeError as e:
            raise DataError(f"malformed JSON: {e}", file=name) from e
        except UnicodeDecodeError as e:
            raise DataError(f"not valid UTF-8: {e}", file=name) from e
    if not isinstance(obj, dict):
        raise DataError(f"expected an object with 'task' and 'golds', got {type(obj).__name__}",
                        file=name)
    task = _as_text(obj.get("task"), file=name, record="(top level)", field="task")
    golds = obj.get("golds")
    if not isinstance(golds, list):
        raise DataError("expected a list", file=name, record="(top level)", field="golds")
    by_id: dict[str, str] = {}
    for i, g in enumerate(golds):
        if not isinstance(g, dict):
            raise DataError(f"expected an object, got {type(g).__name__}", file=name,
                            record=f"golds[{i}]")
        gid = _as_text(g.get("id"), file=name, record=f"golds[{i}]", field="id") or ""
        out = _as_text(g.get("output"), file=name, record=gid, field="output") or ""
        if gid in by_id:
            raise DataError("duplicate id", file=name, record=gid, field="id")
        by_id[gid] = out
    return Outputs(task=task or "", by_id=by_id)


def write_outputs(path: str | Path, task: str, predictions: dict[str, str]) -> None:
    """Write predictions in the LaMP outputs format, atomically."""
    golds = [{"id": qid, "output": out} for qid, out in predictions.items()]
    atomic_write_json(path, {"task": task, "golds": golds})


def read_task_name(data_dir: str | Path, split: str) -> str | None:
    """The ``task`` field of a split's outputs file, if there is one."""
    path = outputs_path(data_dir, split)
    return load_outputs(path).task if path.exists() else None

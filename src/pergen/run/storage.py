"""Atomic writes and an append-only JSONL journal: the two ways pergen puts results on disk.

A result file is either the old one or the complete new one, never half written
(temp file in the same folder, fsync, ``os.replace``). Long jobs append one JSON line per
finished unit of work to a journal and flush it, so a killed run loses at most the line
being written; reading skips a torn last line instead of failing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """Where pergen keeps converted models and demo data: ``$PERGEN_CACHE`` or ``~/.cache/pergen``."""
    root = os.environ.get("PERGEN_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "pergen"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old or the new file, nothing between."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old or the new file, nothing between."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent) + "\n")


class Journal:
    """Append-only JSON-lines log of finished work, keyed by a string field.

    Why not SQLite: one writer per run, records are written once and read back in
    full to resume, and a text file is easy to inspect and merge.
    """

    def __init__(self, path: str | Path, key: str = "id") -> None:
        self.path = Path(path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> dict[str, dict[str, Any]]:
        """All complete records by key; a torn last line from a killed run is ignored."""
        done: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return done
        for record in self._lines():
            done[str(record[self.key])] = record
        return done

    def _lines(self) -> Iterator[dict[str, Any]]:
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # torn write from an interrupted run
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and self.key in record:
                    yield record

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append records and flush them to disk before returning."""
        if not records:
            return
        self._repair_tail()
        with self.path.open("a", encoding="utf-8") as f:
            for r in records:  # ASCII escapes: a lone surrogate from the data cannot break a write
                f.write(json.dumps(r) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _repair_tail(self) -> None:
        """Cut a torn last line so that new records start on a line of their own."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            content = f.read()
            f.truncate(content.rfind(b"\n") + 1)

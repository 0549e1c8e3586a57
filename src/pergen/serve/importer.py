"""`pergen import`: load the profiles of a LaMP split into the store.

Each question's profile goes to its ``user_id`` (or, in splits without one, the question
id: LaMP's user-based splits have one question per user). Items are inserted with
"skip existing ids", one transaction per question, so an interrupted import is resumed by
running the same command again, and overlapping profiles (the time-based split repeats a
user's history in every question) are stored once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data.lamp import iter_questions, questions_path
from . import store
from .db import Engines


@dataclass
class ImportCounts:
    questions: int = 0
    users: int = 0
    added: int = 0
    skipped: int = 0


def import_split(engines: Engines, tenant: int, data: str | Path, split: str,
                 progress: Callable[[int], None] | None = None) -> ImportCounts:
    """Load every profile of ``{data}/{split}_questions.json``; `progress(1)` per question."""
    counts = ImportCounts()
    users: set[str] = set()
    for q in iter_questions(questions_path(data, split)):
        user = q.user_id or q.id
        users.add(user)
        records = [{"id": i.id, **i.fields} for i in q.profile]
        added = len(store.add_items(engines, tenant, user, records))
        counts.questions += 1
        counts.added += added
        counts.skipped += len(records) - added
        if progress is not None:
            progress(1)
    counts.users = len(users)
    return counts

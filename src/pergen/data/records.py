"""Typed, immutable records for questions, profile items and answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ProfileItem:
    """One document of a user's history.

    `fields` keeps every string field of the LaMP record (``title``, ``text``, ``tag``...)
    so that tasks, not the reader, decide which are inputs and which are outputs.
    `position` is the index in the file's profile list: the recency fallback when dates
    are missing.
    """

    id: str
    fields: Mapping[str, str]
    position: int = 0

    @property
    def date(self) -> str | None:
        return self.fields.get("date")

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


@dataclass(frozen=True, slots=True)
class Question:
    """A new input of one user, with the profile available at that time."""

    id: str
    input: str
    profile: tuple[ProfileItem, ...] = ()
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Scored:
    """A profile item with the score a retriever gave it (higher is better)."""

    item: ProfileItem
    score: float


@dataclass(frozen=True, slots=True)
class Outputs:
    """An outputs file: gold answers or predictions, by question id, in file order."""

    task: str
    by_id: dict[str, str] = field(default_factory=dict)

"""A feedback store: the folder where `pergen feedback` keeps its values.

``store.json`` names what produced the values (`FeedbackKey`: model, task, template,
retriever, signal, depth) and ``feedback.jsonl`` holds one journal record per (question,
item) `Pair`. Opening a folder with another producer is refused, so a different model
never reuses stale values; a killed collection resumes from the journal. Training (ROPG,
RSPG) reads stores through this module alone, never through the collection code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError, DataError
from ..run.storage import Journal, atomic_write_json

STORE_FILE = "store.json"
RECORDS_FILE = "feedback.jsonl"


@dataclass(frozen=True)
class FeedbackKey:
    """What produced a store's values; two stores with different keys never mix."""

    model: str
    task: str
    template: str  # digest of the task's templates and the prompt settings
    retriever: str
    signal: str
    depth: int
    unit: str = "item"  # "item": one profile item per prompt; "retriever": a whole top-k


@dataclass(frozen=True)
class Pair:
    """One stored feedback value: `item` alone in the prompt of `question`."""

    question: str
    item: str
    rank: int  # position in the initial retriever's ranking, 0 = its top item
    value: float
    query: str
    doc: str
    output: str | None = None  # the LLM's answer (metric signal only)


class FeedbackStore:
    """A folder of feedback: ``store.json`` (the key) and ``feedback.jsonl`` (the pairs)."""

    def __init__(self, folder: str | Path, key: FeedbackKey | None = None) -> None:
        """Open `folder`; with a `key`, create it or check that it holds that key."""
        self.folder = Path(folder)
        path = self.folder / STORE_FILE
        try:
            stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"corrupt feedback store key: {e}", file=str(path)) from None
        if key is None:
            if stored is None:
                raise ConfigError(f"{self.folder} is not a feedback store (no {STORE_FILE}); "
                                  "collect one with `pergen feedback`")
            key = FeedbackKey(**stored["key"])
        elif stored is None:
            atomic_write_json(path, {"key": asdict(key)})
        elif FeedbackKey(**stored["key"]) != key:
            raise ConfigError(f"{self.folder} holds feedback from {stored['key']}, not {asdict(key)};"
                              " use another folder or delete it")
        self.key = key
        self.journal = Journal(self.folder / RECORDS_FILE, key="pair")

    @staticmethod
    def pair_id(question: str, item: str) -> str:
        return f"{question}\t{item}"

    def done(self) -> set[str]:
        return set(self.journal.read())

    def add(self, pairs: Sequence[Pair]) -> None:
        self.journal.append([{"pair": self.pair_id(p.question, p.item), **asdict(p)}
                             for p in pairs])

    def pairs(self) -> list[Pair]:
        """Every stored pair, in the order written (a re-written pair keeps its last value)."""
        return [Pair(**{k: v for k, v in r.items() if k != "pair"})
                for r in self.journal.read().values()]

    def by_question(self) -> dict[str, list[Pair]]:
        """Pairs grouped by question, each group in initial-retriever order."""
        groups: dict[str, list[Pair]] = {}
        for p in self.pairs():
            groups.setdefault(p.question, []).append(p)
        return {q: sorted(ps, key=lambda p: p.rank) for q, ps in groups.items()}

    def values(self) -> dict[tuple[str, str], float]:
        return {(p.question, p.item): p.value for p in self.pairs()}

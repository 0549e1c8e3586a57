"""The closed set of retrievers a request may name, built once when the server starts.

Why closed: a retriever spec such as ``dense:FOLDER`` names a folder to load a model
from. Taken from requests, every spelling of a path was loaded anew (tens of MB each,
never freed), under a process-wide lock, and the errors probed the file system. So the
operator names the set (``--retriever bm25 --retriever dense=dense:/models/minilm``),
each is loaded once here and shared, and a request names one by its key; anything else
is a 422 that lists the keys and nothing about files.

Whether a retriever is dense (its vectors stored per item and computed off the request
path) is read from the built instance (`DenseRetriever`), not from its name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..retrievers import get_retriever
from ..retrievers.bm25 import BM25Retriever
from ..retrievers.dense import DenseRetriever
from .contract import ContractError, check_id

DEFAULT_RETRIEVERS = ("bm25", "recency")


@dataclass
class Entry:
    """One retriever of the set: `key` is what requests send, `model` keys stored vectors."""

    key: str
    model: str
    retriever: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: int = 0  # requests waiting for `lock`: the background encoder lets them first
    # A dense retriever's second instance, for the background encoder alone: one encoding
    # of a batch takes tens to hundreds of ms on a busy CPU and cannot be interrupted, so
    # sharing one encoder made other users' queries wait for it. None: shares `retriever`.
    background: Any = None
    background_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def encoder_for_background(self) -> tuple[Any, threading.Lock]:
        if self.background is not None:
            return self.background.encoder, self.background_lock
        dense = self.dense
        assert dense is not None
        return dense.encoder, self.lock

    _count: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def for_request(self) -> Iterator[None]:
        """The lock, taken by a request: the encoder does not start a batch meanwhile."""
        with self._count:  # `+=` is not atomic across threads: a lost update would stall
            self.waiting += 1
        try:
            with self.lock:
                yield
        finally:
            with self._count:
                self.waiting -= 1

    @property
    def dense(self) -> DenseRetriever | None:
        return self.retriever if isinstance(self.retriever, DenseRetriever) else None

    @property
    def bm25(self) -> bool:
        return isinstance(self.retriever, BM25Retriever)


def parse(option: str) -> tuple[str, str]:
    """``NAME=SPEC`` or ``SPEC`` (named after itself) -> (name, spec)."""
    name, sep, spec = option.partition("=")
    if not sep:
        name, spec = option, option
    try:
        check_id(name.strip(), "--retriever")
    except ContractError as e:
        raise ConfigError(f"--retriever {option!r}: the name {e.reason}") from None
    if not spec.strip():
        raise ConfigError(f"--retriever {option!r}: no spec after '='")
    return name.strip(), spec.strip()


class Catalog:
    """The retrievers of this server, by key; the first is the default."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        if not entries:
            raise ConfigError("the server needs at least one retriever")
        self._entries = {e.key: e for e in entries}
        if len(self._entries) != len(entries):
            raise ConfigError("two --retriever options share a name")
        self.default = entries[0].key

    @classmethod
    def build(cls, options: Sequence[str] = DEFAULT_RETRIEVERS) -> Catalog:
        """Load every retriever now (a dense one loads its model twice: once for requests,
        once for the background encoder; seconds)."""
        entries = []
        for option in options:
            name, spec = parse(option)
            entry = Entry(name, spec, get_retriever(spec))
            if entry.dense is None and any(isinstance(r, DenseRetriever)
                                           for r in _walk(entry.retriever)):
                raise ConfigError(f"--retriever {option!r}: a dense retriever inside another "
                                  "one would encode profiles on the request path; give it "
                                  "as its own --retriever")
            if entry.dense is not None:
                entry.background = get_retriever(spec)
            entries.append(entry)
        return cls(entries)

    @classmethod
    def of(cls, retrievers: Mapping[str, Any]) -> Catalog:
        """A set from built instances (a test's encoder behind a real `DenseRetriever`)."""
        return cls([Entry(k, k, r) for k, r in retrievers.items()])

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, key: str | None) -> Entry | None:
        return self._entries.get(self.default if key is None else key)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def dense_entries(self) -> list[Entry]:
        return [e for e in self if e.dense is not None]

    def unknown(self) -> str:
        """The 422 message for a key outside the set: the keys, nothing about files (and
        not the request's value, which may be a path)."""
        return f"unknown retriever; this server offers: {', '.join(self.names)}"

    def clear_text_caches(self) -> int:
        """Empty every text-keyed embedding cache (erasure: they may hold a user's texts)."""
        cleared = 0
        for entry in self:
            with entry.lock:
                for retriever in _walk(entry.retriever):
                    if isinstance(retriever, DenseRetriever):
                        retriever.clear_cache()
                        cleared += 1
        return cleared


def _walk(retriever: Any) -> Iterator[Any]:
    """A retriever and those it combines (``rrf`` keeps them in ``retrievers``)."""
    yield retriever
    for inner in getattr(retriever, "retrievers", None) or ():
        yield from _walk(inner)

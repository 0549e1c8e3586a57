"""Per-user retrieval in-process, on profiles cached by revision.

A profile is hundreds to thousands of items, so ranking it in the serving process is
cheap (BM25 over 200 short items: well under a millisecond once tokenized). Each cached
profile keeps its own `BM25Retriever`, whose token statistics therefore grow only with
that user's new items; a write bumps the user's revision and the next request reloads.
Where this ends: a profile of ~10^5 items or more (per-request scoring becomes tens of
milliseconds) or a cross-user search would need an inverted index in the database.

Dense retrievers of the server's set score stored item vectors, which the background
`EncodingWorker` computes after writes. A dense request whose user still has items
without a vector marks them urgent and waits up to `dense_wait` seconds; if they are
not all encoded by then it answers from BM25 and says so (`Ranked.fallback`, sent as
the ``X-Pergen-Fallback`` header). A request never encodes items itself.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.records import Scored
from ..retrievers import RankRequest, rank_many, sort_scored
from ..retrievers.bm25 import BM25Retriever
from ..tasks import TaskSpec
from . import store, vectors
from .catalog import Catalog, Entry
from .db import Engines
from .encoding import EncodingWorker
from .texts import document


@dataclass(frozen=True)
class Ranked:
    """A ranking, the retriever that made it, and why, if it is not the one asked for."""

    profile: store.Profile
    scored: list[Scored]
    retriever: str
    fallback: str | None = None


class _Entry:
    def __init__(self, profile: store.Profile) -> None:
        self.profile = profile
        self.bm25: BM25Retriever | None = None
        self.lock = threading.Lock()
        self._docs: dict[str | None, list[str]] = {}
        self.vectors: dict[str, np.ndarray] = {}  # model -> the items' vectors, in order

    def docs(self, task: TaskSpec | None) -> list[str]:
        """The items' indexed texts, computed once per task for this revision."""
        key = task.name if task is not None else None
        if key not in self._docs:
            self._docs[key] = [document(i, task) for i in self.profile.items]
        return self._docs[key]


class Retrieval:
    """Profiles (LRU, `max_users`) and the server's retrievers, shared by all requests."""

    def __init__(self, engines: Engines, catalog: Catalog, worker: EncodingWorker | None = None,
                 max_users: int = 2048, dense_wait: float = 0.25) -> None:
        self.engines, self.catalog, self.max_users = engines, catalog, max_users
        self.worker = worker or EncodingWorker(engines, catalog)
        self.dense_wait = dense_wait
        self._cache: OrderedDict[tuple[int, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def forget(self, tenant: int, user: str) -> int:
        """Drop the user's cached profile and vectors, and every text-keyed cache of the
        retrievers; 1 if the user had a cached profile (delete-user reports it)."""
        with self._lock:
            dropped = self._cache.pop((tenant, user), None)
        self.catalog.clear_text_caches()
        return 1 if dropped is not None else 0

    def sweep(self) -> int:
        """Forget cached users that no longer exist: erased through another process, whose
        own caches this one cannot see. Run every few seconds (`app`); users dropped."""
        with self._lock:
            keys = list(self._cache)
        gone = set(keys) - store.existing(self.engines, keys) if keys else set()
        for tenant, user in gone:
            self.forget(tenant, user)
        return len(gone)

    def profile(self, tenant: int, user: str) -> _Entry | None:
        key = (tenant, user)
        with self._lock:
            entry = self._cache.get(key)
        fresh = store.load_profile(self.engines, tenant, user, entry.profile if entry else None)
        if fresh is None:
            with self._lock:
                self._cache.pop(key, None)
            return None
        if entry is None or fresh is not entry.profile:
            entry = _Entry(fresh)
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_users:
                self._cache.popitem(last=False)
        return entry

    def rank(self, tenant: int, user: str, query: str, key: str | None = None, k: int = 4,
             task: TaskSpec | None = None) -> Ranked | None:
        """The user's top-`k` items for `query`; None when the tenant has no such user.

        `key` must be one of the catalog's (the routes check it first, for a 422)."""
        chosen = self.catalog.get(key)
        assert chosen is not None, key
        entry = self.profile(tenant, user)
        if entry is None:
            return None
        if not entry.profile.items:
            return Ranked(entry.profile, [], chosen.key)
        if chosen.dense is not None:
            matrix, pending = self._vectors(entry, chosen)
            if matrix is not None:
                return Ranked(entry.profile, self._dense(chosen, entry, matrix, query, k),
                              chosen.key)
            note = f"{chosen.key}: {pending} items not encoded yet; answered by bm25"
            return Ranked(entry.profile, self._bm25(entry, query, k, task), "bm25", note)
        if chosen.bm25:
            return Ranked(entry.profile, self._bm25(entry, query, k, task), chosen.key)
        with entry.lock:
            request = RankRequest(query, entry.profile.items, entry.docs(task))
        with chosen.for_request():
            ranked = rank_many(chosen.retriever, [request])[0]
        return Ranked(entry.profile, list(ranked[:k]), chosen.key)

    def _bm25(self, entry: _Entry, query: str, k: int, task: TaskSpec | None) -> list[Scored]:
        with entry.lock:
            if entry.bm25 is None:
                entry.bm25 = BM25Retriever()
            scores = entry.bm25.scores(query, entry.docs(task))
        # The top k only, in `rank`'s order (a stable sort keeps profile order among ties).
        top = np.argsort(-scores, kind="stable")[:k].tolist()
        return [Scored(entry.profile.items[i], float(scores[i])) for i in top]

    def _dense(self, chosen: Entry, entry: _Entry, matrix: np.ndarray, query: str, k: int
               ) -> list[Scored]:
        dense = chosen.dense
        assert dense is not None
        with chosen.for_request():
            q = np.asarray(dense.encoder.encode([query], 1)[0], dtype=np.float32)
        if dense.cosine:
            q = q / (float(np.linalg.norm(q)) or 1.0)
        return list(sort_scored(entry.profile.items, (matrix @ q).tolist())[:k])

    def _vectors(self, entry: _Entry, chosen: Entry) -> tuple[np.ndarray | None, int]:
        """The profile's vector matrix, or (None, items still missing) after the wait."""
        model, pks = chosen.model, entry.profile.pks
        if model in entry.vectors:
            return entry.vectors[model], 0
        have = vectors.load(self.engines, model, pks)
        missing = [pk for pk in pks if pk not in have]
        if missing:
            self.worker.urgent(model, missing)
            deadline = time.monotonic() + self.dense_wait
            while missing and time.monotonic() < deadline:
                time.sleep(0.02)
                have.update(vectors.load(self.engines, model, missing))
                missing = [pk for pk in missing if pk not in have]
            if missing:
                return None, len(missing)
        matrix: np.ndarray = np.stack([have[pk] for pk in pks]).astype(np.float32)
        dense: Any = chosen.dense
        if dense.cosine:
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix = matrix / np.where(norms > 0, norms, 1.0)
        with entry.lock:
            entry.vectors[model] = matrix
        return matrix, 0

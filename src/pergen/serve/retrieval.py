"""Per-user retrieval in-process, on profiles cached by revision.

A profile is hundreds to thousands of items, so ranking it in the serving process is
cheap (BM25 over 200 short items: well under a millisecond once tokenized). Each cached
profile keeps its own `BM25Retriever`, whose token statistics therefore grow only with
that user's new items; a write bumps the user's revision and the next request reloads.
Where this ends: a profile of ~10^5 items or more (per-request scoring becomes tens of
milliseconds) or a cross-user search would need an inverted index in the database.

Dense retrievers (``dense``, ``dense:FOLDER``, ``ropg-kd:FOLDER``, ``ropg-rl:FOLDER``)
score stored item vectors: an item is encoded once, when added (``--embed``) or at its
first dense request, and its vector is kept in ``embeddings``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select

from ..data.records import ProfileItem, Scored
from ..errors import ConfigError
from ..retrievers import RETRIEVERS, RankRequest, get_retriever, rank_many, sort_scored
from ..retrievers.bm25 import BM25Retriever
from ..tasks import TaskSpec
from . import store
from .db import Engines
from .models import Embedding

DENSE = ("dense", "ropg-kd", "ropg-rl")
_SKIP = frozenset({"date"})


def document(item: ProfileItem, task: TaskSpec | None = None) -> str:
    """The indexed text: the task's document fields, or every field but the date."""
    if task is not None:
        return task.document(item)
    return " ".join(v for k, v in item.fields.items() if k not in _SKIP and v)


def check_spec(spec: str) -> None:
    """Raise ConfigError for a retriever name pergen does not know (before any loading)."""
    name = spec.partition(":")[0]
    if name not in RETRIEVERS.names():
        raise ConfigError(f"unknown retriever {name!r}; known: {', '.join(RETRIEVERS.names())}")


class _Entry:
    def __init__(self, profile: store.Profile) -> None:
        self.profile = profile
        self.bm25: BM25Retriever | None = None
        self.lock = threading.Lock()
        self._docs: dict[str | None, list[str]] = {}

    def docs(self, task: TaskSpec | None) -> list[str]:
        """The items' indexed texts, computed once per task for this revision."""
        key = task.name if task is not None else None
        if key not in self._docs:
            self._docs[key] = [document(i, task) for i in self.profile.items]
        return self._docs[key]


class Retrieval:
    """Profiles (LRU, `max_users`) and retriever instances shared by all requests."""

    def __init__(self, engines: Engines, max_users: int = 2048) -> None:
        self.engines, self.max_users = engines, max_users
        self._cache: OrderedDict[tuple[int, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._retrievers: dict[str, tuple[Any, threading.Lock]] = {}

    def forget(self, tenant: int, user: str) -> int:
        """Drop the user's cached profile; 1 if there was one (delete-user reports it)."""
        with self._lock:
            return 1 if self._cache.pop((tenant, user), None) is not None else 0

    def profile(self, tenant: int, user: str) -> _Entry | None:
        key = (tenant, user)
        with self._lock:
            entry = self._cache.get(key)
        fresh = store.load_profile(self.engines, tenant, user, entry.profile if entry else None)
        if fresh is None:
            self.forget(tenant, user)
            return None
        if entry is None or fresh is not entry.profile:
            entry = _Entry(fresh)
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_users:
                self._cache.popitem(last=False)
        return entry

    def _shared(self, spec: str) -> tuple[Any, threading.Lock]:
        with self._lock:
            if spec not in self._retrievers:
                check_spec(spec)
                self._retrievers[spec] = (get_retriever(spec), threading.Lock())
            return self._retrievers[spec]

    def rank(self, tenant: int, user: str, query: str, spec: str = "bm25", k: int = 4,
             task: TaskSpec | None = None) -> tuple[store.Profile, list[Scored]] | None:
        """The user's top-`k` items for `query`; None when the tenant has no such user."""
        check_spec(spec)
        entry = self.profile(tenant, user)
        if entry is None:
            return None
        profile = entry.profile
        if not profile.items:
            return profile, []
        if spec.partition(":")[0] in DENSE:
            return profile, list(self._dense(spec, profile, query)[:k])
        if spec == "bm25":
            with entry.lock:
                if entry.bm25 is None:
                    entry.bm25 = BM25Retriever()
                scores = entry.bm25.scores(query, entry.docs(task))
            # The top k only, in `rank`'s order (a stable sort keeps profile order among ties).
            top = np.argsort(-scores, kind="stable")[:k].tolist()
            return profile, [Scored(profile.items[i], float(scores[i])) for i in top]
        with entry.lock:
            request = RankRequest(query, profile.items, entry.docs(task))
        retriever, lock = self._shared(spec)
        with lock:
            return profile, list(rank_many(retriever, [request])[0][:k])

    def encoder(self, spec: str) -> tuple[Any, threading.Lock]:
        retriever, lock = self._shared(spec)
        return retriever.encoder, lock

    def _dense(self, spec: str, profile: store.Profile, query: str) -> Sequence[Scored]:
        vectors = self.embed(spec, profile.pks, profile.items)
        encoder, lock = self.encoder(spec)
        with lock:
            q = encoder.encode([query])[0]
        return sort_scored(profile.items, (vectors @ q).tolist())

    def embed(self, spec: str, pks: Sequence[int], items: Sequence[ProfileItem]) -> np.ndarray:
        """The items' vectors for `spec`, encoding and storing only those not stored yet."""
        from .store import _insert

        with self.engines.read.connect() as conn:
            rows = conn.execute(select(Embedding.item_pk, Embedding.vector).where(
                Embedding.model == spec, Embedding.item_pk.in_(list(pks)))).all()
        have = {r.item_pk: np.frombuffer(r.vector, dtype=np.float32) for r in rows}
        missing = [i for i, pk in enumerate(pks) if pk not in have]
        if missing:
            encoder, lock = self.encoder(spec)
            with lock:
                new = encoder.encode([document(items[i]) for i in missing])
            values = [{"item_pk": pks[i], "model": spec, "dim": int(v.shape[0]),
                       "vector": v.astype(np.float32).tobytes()} for i, v in zip(missing, new)]
            with self.engines.write.begin() as conn:  # an item deleted meanwhile: FK error
                conn.execute(_insert(self.engines)(Embedding).on_conflict_do_nothing(), values)
            have.update((pks[i], v) for i, v in zip(missing, new))
        return np.stack([have[pk] for pk in pks]).astype(np.float32)

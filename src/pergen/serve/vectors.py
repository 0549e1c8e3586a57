"""Stored item vectors: read the ones a user has, find and save the ones missing.

A vector is keyed by the item and the retriever's `model` (its spec), so two dense
retrievers of one server keep apart, and an item deleted or erased takes its vectors
with it (same transaction, and an FK besides).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError

from ..data.records import ProfileItem
from .db import Engines
from .models import Embedding, Item
from .store import _insert, to_profile_item


def load(engines: Engines, model: str, pks: Sequence[int]) -> dict[int, np.ndarray]:
    """The stored vectors of these items (absent ones are simply not in the answer)."""
    out: dict[int, np.ndarray] = {}
    with engines.read.connect() as conn:
        for start in range(0, len(pks), 500):  # bounded IN lists
            rows = conn.execute(select(Embedding.item_pk, Embedding.vector).where(
                Embedding.model == model, Embedding.item_pk.in_(list(pks[start:start + 500]))))
            out.update((r.item_pk, np.frombuffer(r.vector, dtype=np.float32)) for r in rows)
    return out


def missing(engines: Engines, model: str, after: int = 0, limit: int = 16,
            only: Sequence[int] | None = None) -> list[tuple[int, ProfileItem]]:
    """Items without a vector for `model`: (key, item), oldest first.

    `after`: only keys above it (the worker's high-water mark); `only`: only these keys
    (a waiting request's items).
    """
    has = exists().where(and_(Embedding.item_pk == Item.pk, Embedding.model == model))
    query = select(Item.pk, Item.item_id, Item.fields).where(~has, Item.pk > after)
    if only is not None:
        query = query.where(Item.pk.in_(list(only)))
    with engines.read.connect() as conn:
        rows = conn.execute(query.order_by(Item.pk).limit(limit)).all()
    return [(int(r.pk), to_profile_item(r.item_id, r.fields, 0)) for r in rows]


def newest(engines: Engines) -> int:
    """The largest item key (0 without items): the worker's mark once nothing is missing."""
    with engines.read.connect() as conn:
        return int(conn.execute(select(func.max(Item.pk))).scalar_one() or 0)


def save(engines: Engines, model: str, vectors: Mapping[int, np.ndarray]) -> int:
    """Store vectors; an item erased meanwhile is skipped (its FK fails). Rows written."""
    values = [{"item_pk": pk, "model": model, "dim": int(v.shape[0]),
               "vector": v.astype(np.float32).tobytes()} for pk, v in vectors.items()]
    if not values:
        return 0
    try:
        with engines.write.begin() as conn:
            conn.execute(_insert(engines)(Embedding).on_conflict_do_nothing(), values)
        return len(values)
    except IntegrityError:  # one item was erased while it was encoded: save the others
        written = 0
        for value in values:
            try:
                with engines.write.begin() as conn:
                    conn.execute(_insert(engines)(Embedding).on_conflict_do_nothing(), [value])
                written += 1
            except IntegrityError:
                continue
        return written

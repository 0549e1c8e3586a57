"""Reads and writes of users and their profile items, always scoped to one tenant.

Every function takes the tenant's key from the authenticated request, so no query can
reach another tenant's rows: a user id unknown *to this tenant* is simply not found.
Writes are single transactions: an HTTP 2xx is sent only after the commit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..data.records import ProfileItem
from .db import Engines
from .models import Embedding, Item, Summary, User, _now

now = _now


@dataclass(frozen=True)
class UserRow:
    pk: int
    revision: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Profile:
    """A user's items in insertion order (the recency fallback when dates are missing)."""

    user: UserRow
    items: tuple[ProfileItem, ...]
    pks: tuple[int, ...]


def _insert(engines: Engines) -> Any:
    return sqlite.insert if engines.is_sqlite else postgresql.insert


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def to_profile_item(item_id: str, fields: Mapping[str, Any], position: int) -> ProfileItem:
    """A stored item as pergen's record: every field as text (numbers and lists via JSON)."""
    return ProfileItem(id=item_id, fields={k: _text(v) for k, v in fields.items() if v is not None},
                       position=position)


_users = User.__table__
# Built once: every request runs it, and building an ORM select costs 3x its execution.
_FIND_USER = select(_users.c.pk, _users.c.revision, _users.c.attributes).where(
    _users.c.tenant_pk == bindparam("tenant"), _users.c.external_id == bindparam("user"))


def find_user(conn: Connection, tenant: int, user: str) -> UserRow | None:
    row = conn.execute(_FIND_USER, {"tenant": tenant, "user": user}).first()
    return UserRow(row.pk, row.revision, dict(row.attributes or {})) if row else None


def user_exists(conn: Connection, user_pk: int) -> bool:
    return conn.execute(select(User.pk).where(User.pk == user_pk)).first() is not None


def ensure_user(engines: Engines, conn: Connection, tenant: int, user: str) -> int:
    """The user's key, creating the user if new (safe against a concurrent creation)."""
    conn.execute(_insert(engines)(User).values(tenant_pk=tenant, external_id=user, attributes={},
                                               revision=0).on_conflict_do_nothing())
    return int(conn.execute(select(User.pk).where(User.tenant_pk == tenant,
                                                  User.external_id == user)).scalar_one())


def add_items(engines: Engines, tenant: int, user: str, items: Sequence[Mapping[str, Any]]
              ) -> list[tuple[int, str]]:
    """Insert items whose ids the user does not have yet; the new rows' (key, item id).

    An id already present (or repeated in the batch) is skipped, not overwritten: imports
    and client retries can be replayed safely.
    """
    with engines.write.begin() as conn:
        user_pk = ensure_user(engines, conn, tenant, user)
        if not items:
            return []
        rows = [{"user_pk": user_pk, "item_id": str(it["id"]),
                 "date": None if it.get("date") is None else str(it["date"]),
                 "fields": {k: v for k, v in it.items() if k != "id"}} for it in items]
        stmt = (_insert(engines)(Item).on_conflict_do_nothing(index_elements=["user_pk", "item_id"])
                .returning(Item.pk, Item.item_id))
        new = [(int(r.pk), str(r.item_id)) for r in conn.execute(stmt, rows)]
        if new:
            conn.execute(update(User).where(User.pk == user_pk)
                         .values(revision=User.revision + 1))
        return new


def set_attributes(engines: Engines, tenant: int, user: str, attributes: dict[str, Any]) -> None:
    with engines.write.begin() as conn:
        user_pk = ensure_user(engines, conn, tenant, user)
        conn.execute(update(User).where(User.pk == user_pk)
                     .values(attributes=attributes, revision=User.revision + 1))


def list_items(engines: Engines, tenant: int, user: str, limit: int, after: int | None
               ) -> tuple[list[dict[str, Any]], int | None] | None:
    """A page of items (oldest first) and the cursor of the next page; None: no such user."""
    with engines.read.connect() as conn:
        found = find_user(conn, tenant, user)
        if found is None:
            return None
        query = select(Item.pk, Item.item_id, Item.fields).where(Item.user_pk == found.pk)
        if after is not None:
            query = query.where(Item.pk > after)
        rows = conn.execute(query.order_by(Item.pk).limit(limit + 1)).all()
    page = [{"id": r.item_id, **r.fields} for r in rows[:limit]]
    return page, (rows[limit - 1].pk if len(rows) > limit else None)


def delete_item(engines: Engines, tenant: int, user: str, item_id: str) -> bool:
    with engines.write.begin() as conn:
        found = find_user(conn, tenant, user)
        if found is None:
            return False
        pk = conn.execute(select(Item.pk).where(Item.user_pk == found.pk, Item.item_id == item_id)
                          ).scalar_one_or_none()
        if pk is None:
            return False
        conn.execute(delete(Embedding).where(Embedding.item_pk == pk))
        conn.execute(delete(Item).where(Item.pk == pk))
        conn.execute(update(User).where(User.pk == found.pk).values(revision=User.revision + 1))
        return True


def delete_user(engines: Engines, tenant: int, user: str) -> dict[str, int] | None:
    """Erase every row about the user, in one transaction; the rows erased per kind.

    Only rows under this tenant's user key: another user (of this tenant or another)
    with the same item ids is a different ``user_pk`` and is never touched. The caller
    runs `erasure.scrub` afterwards for the bytes the database keeps elsewhere."""
    with engines.write.begin() as conn:
        found = find_user(conn, tenant, user)
        if found is None:
            return None
        item_pks = select(Item.pk).where(Item.user_pk == found.pk).scalar_subquery()
        counts = {
            "embeddings": conn.execute(delete(Embedding).where(Embedding.item_pk.in_(item_pks))
                                       ).rowcount,
            "summaries": conn.execute(delete(Summary).where(Summary.user_pk == found.pk)).rowcount,
            "items": conn.execute(delete(Item).where(Item.user_pk == found.pk)).rowcount,
            "users": conn.execute(delete(User).where(User.pk == found.pk)).rowcount,
        }
    return counts


def load_profile(engines: Engines, tenant: int, user: str, cached: Profile | None = None
                 ) -> Profile | None:
    """The user's profile; `cached` is returned as is when its revision is still current."""
    with engines.read.connect() as conn:
        found = find_user(conn, tenant, user)
        if found is None:
            return None
        if cached is not None and cached.user.pk == found.pk and cached.user.revision == found.revision:
            return cached
        rows = conn.execute(select(Item.pk, Item.item_id, Item.fields)
                            .where(Item.user_pk == found.pk).order_by(Item.pk)).all()
    items = tuple(to_profile_item(r.item_id, r.fields, i) for i, r in enumerate(rows))
    return Profile(found, items, tuple(int(r.pk) for r in rows))


def export_user(engines: Engines, tenant: int, user: str) -> dict[str, Any] | None:
    """Everything held about the user: attributes, items, summaries, embeddings."""
    with engines.read.connect() as conn:
        found = find_user(conn, tenant, user)
        if found is None:
            return None
        row = conn.execute(select(User.created_at).where(User.pk == found.pk)).one()
        items = conn.execute(select(Item.pk, Item.item_id, Item.fields, Item.created_at)
                             .where(Item.user_pk == found.pk).order_by(Item.pk)).all()
        ids = {r.pk: r.item_id for r in items}
        mine = select(Item.pk).where(Item.user_pk == found.pk).scalar_subquery()
        vectors = conn.execute(select(Embedding.item_pk, Embedding.model, Embedding.dim, Embedding.vector)
                               .where(Embedding.item_pk.in_(mine))).all()
        summaries = conn.execute(select(Summary.kind, Summary.text, Summary.created_at)
                                 .where(Summary.user_pk == found.pk)).all()
        embeddings = [{"item": ids[e.item_pk], "model": e.model, "dim": e.dim,
                       "vector": _floats(e.vector)} for e in vectors]
    return {
        "user": user, "attributes": found.attributes, "created_at": row.created_at.isoformat(),
        "items": [{"id": r.item_id, **r.fields, "_stored_at": r.created_at.isoformat()} for r in items],
        "summaries": [{"kind": s.kind, "text": s.text, "created_at": s.created_at.isoformat()}
                      for s in summaries],
        "embeddings": embeddings,
    }


def _floats(blob: bytes) -> list[float]:
    import numpy as np

    return np.frombuffer(blob, dtype=np.float32).tolist()


def count_items(engines: Engines, tenant: int, user: str) -> int:
    with engines.read.connect() as conn:
        found = find_user(conn, tenant, user)
        if found is None:
            return 0
        return int(conn.execute(select(func.count()).where(Item.user_pk == found.pk)).scalar_one())


def existing(engines: Engines, keys: Sequence[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (tenant, user) pairs still exist (for caches of other processes'
    erasures: see `Retrieval.sweep`)."""
    found: set[tuple[int, str]] = set()
    with engines.read.connect() as conn:
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            rows = conn.execute(select(User.tenant_pk, User.external_id).where(
                User.external_id.in_({u for _, u in part}), User.tenant_pk.in_({t for t, _ in part})))
            found.update((int(r.tenant_pk), str(r.external_id)) for r in rows)
    return found & set(keys)

"""API keys: created for a tenant, shown once, stored only as a SHA-256 hash.

A key is 32 random bytes (URL-safe base64) behind a ``pgn_`` marker that secret scanners
can match. With that much entropy a fast unsalted hash is safe (nothing to brute-force)
and lets a request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import ConfigError
from .db import Engines
from .models import ApiKey, Tenant, _now

PREFIX = "pgn_"
PREFIX_LEN = 12  # characters of a key stored in clear, to tell keys apart


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(engines: Engines, tenant: str) -> str:
    """A new key for `tenant` (created if new). The caller shows it once; it is not stored."""
    key = PREFIX + secrets.token_urlsafe(32)
    with engines.write.begin() as conn:
        tenant_pk = _ensure(engines, conn, tenant)
        conn.execute(insert(ApiKey).values(
            tenant_pk=tenant_pk, prefix=key[:PREFIX_LEN], hash=hash_key(key)))
    return key


def _ensure(engines: Engines, conn: Connection, tenant: str) -> int:
    insert = postgresql.insert if not engines.is_sqlite else sqlite.insert
    conn.execute(insert(Tenant).values(name=tenant).on_conflict_do_nothing())
    return int(conn.execute(select(Tenant.pk).where(Tenant.name == tenant)).scalar_one())


def ensure_tenant(engines: Engines, tenant: str) -> int:
    """The tenant's key, creating the tenant if new."""
    with engines.write.begin() as conn:
        return _ensure(engines, conn, tenant)


_keys = ApiKey.__table__
# Built once: every request runs it (building the select cost more than running it).
_FIND_KEY = select(_keys.c.tenant_pk).where(_keys.c.hash == bindparam("hash"),
                                            _keys.c.revoked_at.is_(None))


def tenant_of(engines: Engines, key: str) -> int | None:
    """The tenant of a key that exists and is not revoked, or None.

    Read from the database on every call (one indexed lookup): a revocation through any
    process sharing the database takes effect at the next request everywhere.
    """
    with engines.read.connect() as conn:
        tenant = conn.execute(_FIND_KEY, {"hash": hash_key(key)}).scalar_one_or_none()
    return None if tenant is None else int(tenant)


@dataclass(frozen=True)
class KeyInfo:
    """What `keys list` shows: never the key, only its first characters."""

    prefix: str
    tenant: str
    created_at: datetime
    revoked_at: datetime | None


def list_keys(engines: Engines, tenant: str | None = None) -> list[KeyInfo]:
    query = (select(ApiKey.prefix, Tenant.name, ApiKey.created_at, ApiKey.revoked_at)
             .join(Tenant, Tenant.pk == ApiKey.tenant_pk).order_by(ApiKey.pk))
    if tenant is not None:
        query = query.where(Tenant.name == tenant)
    with engines.read.connect() as conn:
        return [KeyInfo(*row) for row in conn.execute(query)]


def _matching(rows: Any, given: str) -> list[Any]:
    """Rows of the key `given` in full, or of the keys whose shown prefix starts with it."""
    if len(given) > PREFIX_LEN:
        return [r for r in rows if r.hash == hash_key(given)]
    return [r for r in rows if r.prefix.startswith(given)]


def revoke(engines: Engines, given: str) -> str:
    """Revoke one active key, named by its prefix (as `keys list` shows it, at least 8
    characters) or in full; its prefix. Several keys matching is an error: an operator
    never revokes more than they meant by a typo."""
    if len(given) < 8:
        raise ConfigError("give at least the first 8 characters of the key (see `keys list`)")
    with engines.write.begin() as conn:
        rows = conn.execute(select(ApiKey.pk, ApiKey.prefix, ApiKey.hash).where(
            ApiKey.revoked_at.is_(None))).all()
        matches = _matching(rows, given)
        if len(matches) != 1:
            raise ConfigError(f"{len(matches)} active keys match {given[:PREFIX_LEN]!r}; "
                              "see `keys list`")
        conn.execute(update(ApiKey).where(ApiKey.pk == matches[0].pk).values(revoked_at=_now()))
        return str(matches[0].prefix)


def rotate(engines: Engines, given: str) -> str:
    """A new key for the tenant of the active key `given`, which is revoked; the new key.

    The new key is created first: the tenant is never left without a working key."""
    with engines.read.connect() as conn:
        rows = conn.execute(select(ApiKey.pk, ApiKey.prefix, ApiKey.hash, Tenant.name)
                            .join(Tenant, Tenant.pk == ApiKey.tenant_pk)
                            .where(ApiKey.revoked_at.is_(None))).all()
    matches = _matching(rows, given) if len(given) >= 8 else []
    if len(matches) != 1:
        raise ConfigError(f"{len(matches)} active keys match {given[:PREFIX_LEN]!r}; "
                          "see `keys list`")
    key = create_key(engines, str(matches[0].name))
    revoke(engines, str(matches[0].prefix))
    return key

"""API keys: created for a tenant, shown once, stored only as a SHA-256 hash.

A key is 32 random bytes (URL-safe base64) behind a ``pgn_`` marker that secret scanners
can match. With that much entropy a fast unsalted hash is safe (nothing to brute-force)
and lets a request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from .db import Engines
from .models import ApiKey, Tenant

PREFIX = "pgn_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(engines: Engines, tenant: str) -> str:
    """A new key for `tenant` (created if new). The caller shows it once; it is not stored."""
    key = PREFIX + secrets.token_urlsafe(32)
    with engines.write.begin() as conn:
        tenant_pk = _ensure(engines, conn, tenant)
        conn.execute(insert(ApiKey).values(
            tenant_pk=tenant_pk, prefix=key[:12], hash=hash_key(key)))
    return key


def _ensure(engines: Engines, conn: Connection, tenant: str) -> int:
    insert = postgresql.insert if not engines.is_sqlite else sqlite.insert
    conn.execute(insert(Tenant).values(name=tenant).on_conflict_do_nothing())
    return int(conn.execute(select(Tenant.pk).where(Tenant.name == tenant)).scalar_one())


def ensure_tenant(engines: Engines, tenant: str) -> int:
    """The tenant's key, creating the tenant if new."""
    with engines.write.begin() as conn:
        return _ensure(engines, conn, tenant)


_KNOWN: dict[str, tuple[int, float]] = {}  # hash -> (tenant, when it was read)
CACHE_SECONDS = 10.0


def cached_tenant(engines: Engines, key: str) -> int | None:
    """The tenant of a key read from the database in the last `CACHE_SECONDS`, if any."""
    hit = _KNOWN.get(f"{engines.url}|{hash_key(key)}")
    if hit is not None and time.monotonic() - hit[1] < CACHE_SECONDS:
        return hit[0]
    return None


def tenant_of(engines: Engines, key: str) -> int | None:
    """The tenant a key belongs to, or None for an unknown key.

    A known key is remembered for `CACHE_SECONDS` (a database read saved per request);
    unknown keys are never cached, so a new key works at once.
    """
    cached = cached_tenant(engines, key)
    if cached is not None:
        return cached
    digest = hash_key(key)
    with engines.read.connect() as conn:
        tenant = conn.execute(select(ApiKey.tenant_pk).where(ApiKey.hash == digest)
                              ).scalar_one_or_none()
    if tenant is not None:
        if len(_KNOWN) > 10_000:
            _KNOWN.clear()
        _KNOWN[f"{engines.url}|{digest}"] = (int(tenant), time.monotonic())
    return tenant

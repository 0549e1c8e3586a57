"""The store's tables (SQLAlchemy 2 declarative models).

Every row that holds something about a user points at ``users.pk`` (directly, or through
``items.pk`` for embeddings), so erasing a user is a fixed set of deletes, and a test can
check each table for leftovers. Item ids are the caller's (LaMP ids); internal integer
keys never leave the service except as paging cursors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    """An application using the service; it sees only its own users."""

    __tablename__ = "tenants"
    pk: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class ApiKey(Base):
    """A key of a tenant: only its SHA-256 is stored (keys are 256-bit random, so a plain
    hash cannot be brute-forced); `prefix` lets an operator tell keys apart."""

    __tablename__ = "api_keys"
    pk: Mapped[int] = mapped_column(primary_key=True)
    tenant_pk: Mapped[int] = mapped_column(ForeignKey("tenants.pk", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class User(Base):
    """A user of a tenant; `attributes` are static facts (language, role) for templates.

    `revision` grows on every change of the user's items, so a process can keep the
    user's parsed profile in memory and know, with one indexed read, when it is stale.
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_pk", "external_id", name="uq_users_tenant_external"),)
    pk: Mapped[int] = mapped_column(primary_key=True)
    tenant_pk: Mapped[int] = mapped_column(ForeignKey("tenants.pk", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    revision: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Item(Base):
    """One profile item: the caller's id, optional date and free JSON fields (LaMP-shaped)."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("user_pk", "item_id", name="uq_items_user_item"),)
    pk: Mapped[int] = mapped_column(primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(200))
    date: Mapped[str | None] = mapped_column(String(64), default=None)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Embedding(Base):
    """An item's vector for one encoder (`model` is the retriever spec, e.g. ``dense``)."""

    __tablename__ = "embeddings"
    item_pk: Mapped[int] = mapped_column(ForeignKey("items.pk", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(300), primary_key=True)
    dim: Mapped[int] = mapped_column()
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class Summary(Base):
    """A summary of the user's profile (filled once profile summaries land in pergen)."""

    __tablename__ = "summaries"
    pk: Mapped[int] = mapped_column(primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)


Index("ix_summaries_user", Summary.user_pk)

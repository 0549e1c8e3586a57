"""Apply the Alembic migrations shipped in ``pergen/serve/migrations``, programmatically.

`pergen serve`, `pergen keys create` and `pergen import` call `upgrade` before anything
else, so a fresh file or database is usable at once and an old one is brought up to date.
Several processes may start together: the upgrade runs inside the write lock (SQLite
``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so only one of them migrates.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from .db import Engines

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 0x7065726765  # "perge": the advisory lock taken while migrating


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engines: Engines, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest)."""
    cfg = alembic_config()
    with engines.write.begin() as conn:
        if not engines.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

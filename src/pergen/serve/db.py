"""Database engines: SQLite in WAL mode by default, PostgreSQL by URL.

SQLite needs two engines on the same file. A deferred transaction that reads and then
writes fails at once with "database is locked" when another writer committed in between
(WAL cannot upgrade a stale snapshot, and the busy timeout does not apply), so every
write transaction starts with ``BEGIN IMMEDIATE`` (it waits for the write lock, up to the
busy timeout) while reads run in autocommit mode: each SELECT sees one consistent
snapshot, and an explicit BEGIN/ROLLBACK pair would double the cost of a short read.
``synchronous=FULL`` makes a commit durable before the HTTP answer goes out;
``secure_delete`` overwrites erased rows in the file instead of leaving them in free pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from ..errors import ConfigError

BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Engines:
    """`read` for queries, `write` for transactions that change rows (the same engine
    outside SQLite)."""

    read: Engine
    write: Engine
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.read.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.read.dispose()
        if self.write is not self.read:
            self.write.dispose()


def _sqlite_engine(url: str, begin: str | None) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False,
                                              "timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite must not BEGIN on its own: we do
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON",
                       f"busy_timeout={BUSY_TIMEOUT_MS}", "secure_delete=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    if begin is not None:
        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

    return engine


def connect(url: str) -> Engines:
    """Engines for ``sqlite:///FILE`` or ``postgresql+psycopg://...`` (plain
    ``postgresql://`` is read as psycopg 3, the driver the extra installs)."""
    try:
        parsed = make_url(url)
    except Exception as e:  # SQLAlchemy raises ArgumentError with the URL in it
        raise ConfigError(f"not a database URL: {url!r}") from e
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("SQLite needs a file (sqlite:///pergen.db): an in-memory "
                              "database is private to one connection")
        text = parsed.render_as_string(hide_password=False)
        return Engines(_sqlite_engine(text, None), _sqlite_engine(text, "BEGIN IMMEDIATE"), text)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}: "
                          "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB")
    engine = create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True)
    return Engines(engine, engine, parsed.render_as_string(hide_password=False))

"""After an erase: leave no byte of the erased texts in the database files we control.

SQLite: ``secure_delete`` zeroes deleted rows in the database file, but the WAL keeps
every page as it was written, item text included, until a checkpoint resets it (a test
found erased texts in ``pergen.db-wal`` minutes after the delete, after 2,000 more writes
and after a clean shutdown). So every erase ends with ``wal_checkpoint(TRUNCATE)``: the
zeroed pages go into the database file and the WAL is cut to zero bytes, before the
answer. A reader holding an old snapshot delays it (busy); it is retried a few times.

PostgreSQL keeps deleted rows as dead tuples until VACUUM, and its WAL segments until
they are recycled; neither can be zeroed from SQL. After an erase a plain ``VACUUM`` of
the four tables runs in a background thread (one at a time), which makes the space
reusable; the README says what that does and does not guarantee.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import text

from .db import Engines

log = logging.getLogger("pergen.serve")
TABLES = ("items", "embeddings", "summaries", "users")
_vacuums: dict[str, tuple[threading.Lock, threading.Event]] = {}  # per database URL
_guard = threading.Lock()


def scrub(engines: Engines, tries: int = 20) -> bool:
    """SQLite: checkpoint and truncate the WAL (True when done); PostgreSQL: start a VACUUM."""
    if not engines.is_sqlite:
        _vacuum_soon(engines)
        return True
    for attempt in range(tries):
        with engines.read.connect() as conn:  # autocommit: no BEGIN IMMEDIATE around it
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        if busy is not None and busy[0] == 0:
            return True
        time.sleep(0.05 * (attempt + 1))
    log.warning("the WAL could not be truncated after an erase (readers busy); it is at "
                "the next erase or checkpoint")
    return False


def _vacuum_soon(engines: Engines) -> None:
    """One VACUUM thread per database at a time; an erase during it asks for one more."""
    with _guard:
        running, again = _vacuums.setdefault(engines.url, (threading.Lock(), threading.Event()))
    again.set()
    if running.acquire(blocking=False):
        threading.Thread(target=_vacuum, args=(engines, running, again), daemon=True,
                         name="pergen-vacuum").start()


def _vacuum(engines: Engines, running: threading.Lock, again: threading.Event) -> None:
    try:
        while again.is_set():
            again.clear()
            with engines.write.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(text(f"VACUUM {', '.join(TABLES)}"))
    except Exception as e:  # class only
        log.warning("VACUUM after an erase failed (%s)", type(e).__name__)
    finally:
        running.release()

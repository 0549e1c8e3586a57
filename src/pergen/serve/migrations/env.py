"""Alembic environment: runs on the connection `pergen.serve.migrate.upgrade` passes in.

There is no alembic.ini: the service configures Alembic in code, so migrations run the
same from `pergen serve`, tests and `alembic` alike (``-x url=...`` for the command line).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from pergen.serve.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the alembic command line: alembic -x url=sqlite:///pergen.db revision ...
    url = context.get_x_argument(as_dictionary=True)["url"]
    with create_engine(url).begin() as conn:
        _run(conn)

"""`keys create`, `import` and the migrations, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from test_serve_support import DATABASES, auth, database_url
from typer.testing import CliRunner

from pergen.serve.app import Settings, create_app
from pergen.serve.cli import register
from pergen.serve.db import connect
from pergen.serve.keys import hash_key


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def _questions(path: Path, n: int) -> None:
    """LaMP-shaped questions; user u0 appears twice with a growing (overlapping) profile."""
    questions = [
        {"id": "q1", "user_id": "u0", "input": "x", "profile": [
            {"id": "p1", "text": "first", "title": "t1", "date": "2020-01-01"}]},
        {"id": "q2", "user_id": "u0", "input": "x", "profile": [
            {"id": "p1", "text": "first", "title": "t1", "date": "2020-01-01"},
            {"id": "p2", "text": "second", "title": "t2", "date": "2020-02-01"}]},
        {"id": "q3", "input": "x", "profile": [{"id": "p9", "text": "other", "score": 3}]},
    ]
    path.write_text(json.dumps(questions[:n]), encoding="utf-8")


def test_keys_create_prints_the_key_last(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    result = CliRunner().invoke(_app(), ["keys", "create", "--db", db, "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("pgn_") and len(key) > 40
    engines = connect(db)
    with TestClient(create_app(Settings(db=db), engines)) as client:
        assert client.get("/v1/users/x", headers=auth(key)).status_code == 404  # known key
        assert client.get("/v1/users/x", headers=auth(key + "x")).status_code == 401
    with engines.read.connect() as conn:  # only the hash is stored
        dump = repr(conn.exec_driver_sql("SELECT * FROM api_keys").fetchall())
    assert key not in dump and key[4:] not in dump and hash_key(key) in dump
    engines.dispose()


@pytest.mark.parametrize("kind", DATABASES)
def test_import_is_resumable(kind: str, tmp_path: Path) -> None:
    db = database_url(kind, tmp_path)
    data = tmp_path / "lamp"
    data.mkdir()
    _questions(data / "dev_questions.json", 2)  # an import cut short...
    args = ["import", "--db", db, "--data", str(data), "--split", "dev", "--tenant", "acme"]
    first = CliRunner().invoke(_app(), args)
    assert first.exit_code == 0, first.output
    assert "2 items added, 1 already stored" in first.output
    _questions(data / "dev_questions.json", 3)  # ...then run again on the whole file
    second = CliRunner().invoke(_app(), args)
    assert "3 questions, 2 users: 1 items added, 3 already stored" in second.output
    key = CliRunner().invoke(_app(), ["keys", "create", "--db", db, "--tenant", "acme"]
                             ).output.strip().splitlines()[-1]
    engines = connect(db)
    with TestClient(create_app(Settings(db=db), engines)) as client:
        items = client.get("/v1/users/u0/items", headers=auth(key)).json()["items"]
        assert [(i["id"], i["date"]) for i in items] == [("p1", "2020-01-01"), ("p2", "2020-02-01")]
        assert client.get("/v1/users/q3/items", headers=auth(key)).json()["items"][0]["score"] == "3"
    engines.dispose()


def test_import_bad_data_exits_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    result = CliRunner().invoke(_app(), ["import", "--db", db, "--data", str(tmp_path), "--split",
                                         "dev", "--tenant", "acme"])
    assert result.exit_code == 2 and "no such file" in result.output


def test_bad_database_url_exits_2() -> None:
    result = CliRunner().invoke(_app(), ["keys", "create", "--db", "mysql://x/y", "--tenant", "a"])
    assert result.exit_code == 2 and "unsupported database" in result.output


@pytest.mark.parametrize("kind", DATABASES)
def test_migrations_are_idempotent_and_reversible(kind: str, tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from pergen.serve.migrate import alembic_config, upgrade

    engines = connect(database_url(kind, tmp_path))
    upgrade(engines)
    upgrade(engines)  # a second start changes nothing
    tables = set(inspect(engines.read).get_table_names())
    assert {"tenants", "api_keys", "users", "items", "embeddings", "summaries"} <= tables
    cfg = alembic_config()
    with engines.write.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engines.read).get_table_names()) <= {"alembic_version"}
    engines.dispose()

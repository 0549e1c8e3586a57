"""Two real `pergen serve` processes on one database: what one does, the other sees at
its next request (writes, deletes, key revocation), through the command line too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import typer
from test_serve_support import DATABASES, Server, auth, database_url, make_key
from typer.testing import CliRunner

from pergen.serve.cli import register

pytestmark = pytest.mark.slow  # two server processes: ~10 s on 2 cores


def _cli(*args: str) -> str:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)


@pytest.mark.parametrize("kind", DATABASES)
def test_two_processes_share_writes_deletes_and_revocations(kind: str, tmp_path: Path) -> None:
    db = database_url(kind, tmp_path)
    key = make_key(db, "acme")
    args = ("--upstream", "http://127.0.0.1:9/v1")
    a, b = Server(db, *args, log=tmp_path / "a.log"), Server(db, *args, log=tmp_path / "b.log")
    try:
        with httpx.Client(headers=auth(key), timeout=30) as client:
            items = [{"id": "1", "text": "jazz trumpet"}, {"id": "2", "text": "hiking boots"}]
            assert client.post(f"{a.url}/v1/users/ann/items", json={"items": items}).status_code == 201
            # B has never seen ann: reads her items; then caches her profile
            assert [i["id"] for i in client.get(f"{b.url}/v1/users/ann/items").json()["items"]] == ["1", "2"]
            r = client.post(f"{b.url}/v1/retrieve", json={"user": "ann", "query": "jazz", "k": 1})
            assert r.json()["items"][0]["id"] == "1"
            # a write through A is in B's next ranking (B's cached profile is stale by revision)
            more = {"items": [{"id": "3", "text": "jazz jazz jazz"}]}
            client.post(f"{a.url}/v1/users/ann/items", json=more)
            r = client.post(f"{b.url}/v1/retrieve", json={"user": "ann", "query": "jazz", "k": 1})
            assert r.json()["items"][0]["id"] == "3"
            # a delete through A: B answers 404 at once, from every route
            assert client.delete(f"{a.url}/v1/users/ann").status_code == 200
            r = client.post(f"{b.url}/v1/retrieve", json={"user": "ann", "query": "jazz"})
            assert r.status_code == 404
            assert client.get(f"{b.url}/v1/users/ann/export").status_code == 404
            # a key revoked by the command line: both servers refuse it at the next request
            listed = _cli("keys", "list", "--db", db)
            assert key[:12] in listed and "active" in listed and key not in listed
            new = _cli("keys", "rotate", key[:12], "--db", db).strip().splitlines()[-1]
            for server in (a, b):
                assert client.get(f"{server.url}/v1/users/ann").status_code == 401
                r = httpx.get(f"{server.url}/v1/users/ann", headers=auth(new), timeout=30)
                assert r.status_code == 404  # the new key works, and ann is gone
            _cli("keys", "revoke", new[:12], "--db", db)
            for server in (a, b):
                assert httpx.get(f"{server.url}/v1/users/ann", headers=auth(new), timeout=30
                                 ).status_code == 401
    finally:
        a.stop()
        b.stop()

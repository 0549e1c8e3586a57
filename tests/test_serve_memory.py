"""The proxy's prompt budget (`--max-length`) and semantic memory (`--memory`), against a
real upstream on loopback that answers with the messages it received."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_serve_support import DATABASES, auth, database_url, make_key, serve_in_thread, stub_upstream_app

from pergen.serve.app import Settings, create_app
from pergen.serve.db import connect


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve_in_thread(stub_upstream_app()) as url:
        yield url + "/v1"


def _sent(client: TestClient, key: str, text: str) -> list[dict[str, Any]]:
    r = client.post("/v1/chat/completions", headers=auth(key), json={
        "model": "m", "user": "ann", "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200, r.text
    return list(json.loads(r.json()["choices"][0]["message"]["content"]))


def test_items_are_cut_to_the_budget(tmp_path: Path, upstream: str) -> None:
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    app = create_app(Settings(db=db, upstream=upstream, max_length=50), connect(db))
    huge = "jazz " * 10_000 + "x" * 49_000  # 99,000 characters (the most an item holds)
    items = [{"id": "big", "text": huge}, {"id": "small", "text": "jazz trumpet solos"}]
    with TestClient(app) as client:
        assert client.post("/v1/users/ann/items", json={"items": items},
                           headers=auth(key)).status_code == 201
        system = _sent(client, key, "jazz")[0]["content"]
    assert len(system.split()) <= 50 + 30  # the budget plus the template's own words
    assert len(system) < 5_000


@pytest.mark.parametrize("kind", DATABASES)
def test_summary_memory_is_computed_after_writes(kind: str, tmp_path: Path, upstream: str) -> None:
    db = database_url(kind, tmp_path)
    key = make_key(db, "acme")
    app = create_app(Settings(db=db, upstream=upstream, memory="summary+items"), connect(db))
    items = [{"id": str(i), "text": f"I played trumpet at the jazz club, night {i}"}
             for i in range(5)]
    with TestClient(app) as client:
        client.post("/v1/users/ann/items", json={"items": items}, headers=auth(key))
        end = time.monotonic() + 20
        while "What is known about this user" not in _sent(client, key, "jazz")[0]["content"]:
            assert time.monotonic() < end, "no summary after 20 s"
            time.sleep(0.05)
        system = _sent(client, key, "jazz")[0]["content"]
        assert "typically" in system and "- I played trumpet" in system  # summary, then items
        export = client.get("/v1/users/ann/export", headers=auth(key)).json()
        assert [s["kind"] for s in export["summaries"]] == ["memory:stats"]
        deleted = client.delete("/v1/users/ann", headers=auth(key)).json()["deleted"]
        assert deleted["summaries"] == 1
        assert app.state.memory.get(1, "ann") == ""  # the in-memory copy is gone too
    engines = connect(db)
    with engines.read.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM summaries").scalar_one() == 0
    engines.dispose()


def test_summary_only_memory_sends_no_items(tmp_path: Path, upstream: str) -> None:
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    app = create_app(Settings(db=db, upstream=upstream, memory="summary"), connect(db))
    with TestClient(app) as client:
        client.post("/v1/users/ann/items", json={"items": [{"id": "1", "text": "jazz trumpet"}]},
                    headers=auth(key))
        end = time.monotonic() + 20
        while True:
            r = client.post("/v1/chat/completions", headers=auth(key), json={
                "model": "m", "user": "ann", "messages": [{"role": "user", "content": "jazz"}]})
            if "What is known" in r.text:
                break
            assert time.monotonic() < end
            time.sleep(0.05)
        assert r.headers["X-Pergen-Items"] == ""

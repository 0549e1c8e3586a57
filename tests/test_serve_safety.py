"""Regression tests for the problems found by a hostile client (issue 20).

1. a request chose which folder the server loaded as a model;
3. a user's unencoded items held every other dense request (see also test_serve_dense);
4. erased text stayed in the SQLite WAL; a user could not be erased; dense-cos kept texts;
5. a path's ``%0A`` forged a log line and ``%00`` wrote a NUL byte into the log.

Problems 2 (bad input) are in test_serve_contract.py. Real servers on loopback where the
behaviour lives in the process (logs, files on disk).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from test_serve_support import DATABASES, HashEncoder, Server, auth, database_url, make_key

from pergen.retrievers import get_retriever
from pergen.retrievers.dense import DenseRetriever
from pergen.retrievers.rrf import RRFRetriever
from pergen.serve.app import Settings, create_app
from pergen.serve.db import connect

MARKER = "ZQXJ-erase-me-7731"



# 1. A closed set of retrievers --------------------------------------------------------

PATHS = ["dense:/etc", "dense:/nonexistent", "dense:/tmp/./", "dense", "ropg-kd:/root",
         "rrf:bm25+dense:/etc", "BM25", "bm25 ", "../bm25"]


def test_requests_cannot_name_a_model_or_a_path(tmp_path: Path) -> None:
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    app = create_app(Settings(db=db, upstream="http://127.0.0.1:9/v1"), connect(db))
    catalog = getattr(app.state.retrieval, "catalog", [])
    before = [(e.key, id(e.retriever)) for e in catalog]
    with TestClient(app) as client:
        client.post("/v1/users/u/items", json={"items": [{"id": "1", "text": "x"}]},
                    headers=auth(key))
        for spec in PATHS:
            for path, body, field in (
                    ("/v1/retrieve", {"user": "u", "query": "x", "retriever": spec}, "retriever"),
                    ("/v1/prompt", {"user": "u", "query": "x", "task": "LaMP_7",
                                    "retriever": spec}, "retriever"),
                    ("/v1/chat/completions", {"user": "u", "messages": [
                        {"role": "user", "content": "x"}], "pergen": {"retriever": spec}},
                     "pergen.retriever")):
                t0 = time.monotonic()
                r = client.post(path, json=body, headers=auth(key))
                assert r.status_code == 422, (spec, r.text)
                assert time.monotonic() - t0 < 1.0  # nothing was loaded
                error = r.json()["error"]
                assert error["field"] == field
                assert "this server offers: bm25, recency" in error["message"]
                for probe in ("no model", "does not exist", "No such file", "/etc/", "/root"):
                    assert probe not in error["message"]
        for task in ("/etc/passwd", "../../pergen/tasks/lamp.toml", "lamp.toml"):
            r = client.post("/v1/retrieve", json={"user": "u", "query": "x", "task": task},
                            headers=auth(key))
            assert r.status_code == 422 and r.json()["error"]["field"] == "task"
            assert "passwd" not in r.text.replace(task, "")
    assert [(e.key, id(e.retriever)) for e in catalog] == before


def test_the_set_is_named_at_startup() -> None:
    from pergen.serve.catalog import Catalog

    catalog = Catalog.build(["bm25", "recent=recency", "fused=rrf:bm25+recency"])
    assert catalog.names == ["bm25", "recent", "fused"] and catalog.default == "bm25"
    assert catalog.get(None) is catalog.get("bm25") and catalog.get("rrf:bm25+recency") is None
    with pytest.raises(Exception, match="share a name"):
        Catalog.build(["bm25", "bm25=recency"])
    pytest.importorskip("onnxruntime", reason="the dense extra is not installed")
    with pytest.raises(Exception, match="request path"):  # rrf's dense part: refused at startup
        Catalog.build(["mix=rrf:bm25+dense"])


# 4. Erasure that leaves nothing ------------------------------------------------------

def _files_with(folder: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and needle in p.read_bytes())


def test_erased_text_leaves_no_byte_in_the_sqlite_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    db = f"sqlite:///{folder / 'pergen.db'}"
    key = make_key(db, "acme")
    server = Server(db, "--upstream", "http://127.0.0.1:9/v1", log=tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, headers=auth(key), timeout=60) as client:
            mine = [{"id": f"s{i}", "text": f"{MARKER} secret number {i}"} for i in range(50)]
            # another user with the same item ids: erasing one must not touch the other
            theirs = [{"id": f"s{i}", "text": f"public text {i}"} for i in range(50)]
            assert client.post("/v1/users/victim/items", json={"items": mine}).status_code == 201
            assert client.post("/v1/users/other/items", json={"items": theirs}).status_code == 201
            client.post("/v1/retrieve", json={"user": "victim", "query": "secret"})
            assert _files_with(folder, MARKER.encode()) != []  # the marker is on disk now
            r = client.delete("/v1/users/victim")
            assert r.status_code == 200 and r.json()["deleted"]["items"] == 50
            assert _files_with(folder, MARKER.encode()) == []  # as soon as the delete answers
            left = client.get("/v1/users/other/items", params={"limit": 100}).json()["items"]
            assert [i["id"] for i in left] == [f"s{i}" for i in range(50)]
            assert left[0]["text"] == "public text 0"
            for i in range(30):  # later writes bring nothing back
                client.post(f"/v1/users/w{i}/items", json={"items": [{"id": "1", "text": "more"}]})
    finally:
        server.stop()
    assert _files_with(folder, MARKER.encode()) == []
    assert MARKER not in (tmp_path / "server.log").read_text(errors="replace")


@pytest.mark.parametrize("kind", DATABASES)
def test_erasure_clears_every_retriever_cache(kind: str, tmp_path: Path) -> None:
    """dense-cos, and a dense retriever inside rrf, kept erased texts as cache keys."""
    from pergen.serve.catalog import Catalog

    db = database_url(kind, tmp_path)
    key = make_key(db, "acme")
    cos = DenseRetriever(HashEncoder(), cosine=True, name="dense-cos")  # type: ignore[arg-type]
    inner = DenseRetriever(HashEncoder(), cosine=True)  # type: ignore[arg-type]
    mix = RRFRetriever([get_retriever("bm25"), inner])
    catalog = Catalog.of({"bm25": get_retriever("bm25"), "dense-cos": cos, "mix": mix})
    app = create_app(Settings(db=db, dense_wait=10), connect(db), catalog)
    with TestClient(app) as client:
        items = [{"id": f"c{i}", "text": f"{MARKER} cats {i}"} for i in range(5)]
        client.post("/v1/users/u/items", json={"items": items}, headers=auth(key))
        for name in ("dense-cos", "mix"):
            r = client.post("/v1/retrieve", json={"user": "u", "query": "cats", "retriever": name},
                            headers=auth(key))
            assert r.status_code == 200 and r.headers["X-Pergen-Retriever"] == name
        assert any(MARKER in t for t in inner._row)  # the rrf's dense part cached the texts
        r = client.delete("/v1/users/u", headers=auth(key))
        assert r.json()["deleted"]["embeddings"] == 5 and r.json()["deleted"]["caches"] == 1
    for retriever in (cos, inner):
        assert not any(MARKER in t for t in retriever._row)
    assert app.state.retrieval._cache == {}
    if kind == "postgresql":  # what PostgreSQL allows: a VACUUM after the erase
        engines = connect(db)
        end = time.monotonic() + 30
        query = "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'items'"
        while True:
            with engines.read.connect() as conn:
                if conn.exec_driver_sql(query).scalar_one() is not None:
                    break
            assert time.monotonic() < end, "no VACUUM of items after the erase"
            time.sleep(0.2)
        engines.dispose()


# 3. Encoding off the request path ------------------------------------------------------

def test_a_large_backlog_does_not_delay_other_users(tmp_path: Path) -> None:
    """2,000 unencoded items of one user: another user's dense requests stay fast."""
    from pergen.serve.catalog import Catalog

    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    encoder = HashEncoder(delay=0.002)  # 2,000 items: 4 s of encoding in all
    catalog = Catalog.of({"bm25": get_retriever("bm25"),
                          "dense": DenseRetriever(encoder)})  # type: ignore[arg-type]
    app = create_app(Settings(db=db, dense_wait=5), connect(db), catalog)
    with TestClient(app) as client:
        client.post("/v1/users/small/items", json={"items": [
            {"id": "a", "text": "cats purr"}, {"id": "b", "text": "stocks fell"}]}, headers=auth(key))
        body = {"user": "small", "query": "cats", "retriever": "dense", "k": 1}
        assert client.post("/v1/retrieve", json=body, headers=auth(key)).json()["items"][0]["id"] == "a"
        big = [{"id": f"b{i}", "text": f"item {i} of a large backlog"} for i in range(2000)]
        for start in range(0, 2000, 1000):
            client.post("/v1/users/big/items", json={"items": big[start:start + 1000]},
                        headers=auth(key))
        times = []
        for _ in range(20):
            t0 = time.monotonic()
            r = client.post("/v1/retrieve", json=body, headers=auth(key))
            times.append(time.monotonic() - t0)
            assert r.headers["X-Pergen-Retriever"] == "dense"
        assert app.state.retrieval.worker.encoded < 2002  # the backlog was still being encoded
    assert sorted(times)[10] < 0.2, times  # p50; inline encoding took 4 s here


# 5. Logs ----------------------------------------------------------------------------------

FORGED = "/v1/users/x%0Ainternal%20error%20abc%20on%20DELETE%20admin:%20FORGED"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_logs_cannot_be_forged(fmt: str, tmp_path: Path) -> None:
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    log = tmp_path / "server.log"
    server = Server(db, "--upstream", "http://127.0.0.1:9/v1", "--log-level", "info",
                    "--log-format", fmt, log=log)
    try:
        with httpx.Client(base_url=server.url, headers=auth(key), timeout=30) as client:
            assert client.delete(FORGED).status_code == 422
            assert client.get("/v1/users/a%00b/items").status_code == 422
            assert client.get("/v1/users/a%0D%0Ab%1B[31m").status_code == 422
            assert client.get("/v1/users/ok").status_code == 404
    finally:
        server.stop()
    raw = log.read_bytes()
    assert b"\x00" not in raw and b"\x1b" not in raw and b"\r" not in raw
    lines = raw.decode().splitlines()
    assert any("FORGED" in line for line in lines)  # logged, but escaped, inside its own line
    assert not any(line.lstrip().startswith(("internal error", "{\"internal")) for line in lines)
    for line in lines:
        if "FORGED" in line:
            assert "DELETE /v1/users/x" in line and "422" in line
    if fmt == "json":
        for line in lines:
            if line.strip():
                entry = json.loads(line)
                assert {"time", "level", "logger", "message"} <= set(entry)


def test_internal_error_lines_escape_the_path(tmp_path: Path) -> None:
    """The forged line came from the 500 handler, which logged the decoded path."""
    import asyncio
    import io
    import logging

    from pergen.serve.app import CatchAll
    from pergen.serve.logs import EscapingFormatter  # new with the fix: fails to import before

    async def broken(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("SECRET item text")

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter("%(message)s"))
    logger = logging.getLogger("pergen.serve")
    logger.addHandler(handler)
    try:
        scope = {"type": "http", "method": "DELETE",
                 "path": "/v1/users/x\ninternal error abc on DELETE admin: FORGED\x00"}
        asyncio.run(CatchAll(broken)(scope, receive, send))  # type: ignore[arg-type]
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert text.count("\n") == 1 and "\x00" not in text and "SECRET" not in text
    assert "x\\ninternal error" in text and "\\x00" in text and "RuntimeError" in text
    assert sent[0]["status"] == 500


def test_revoked_key_is_refused_at_once(tmp_path: Path) -> None:
    from pergen.serve.keys import list_keys, revoke, rotate

    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    engines = connect(db)
    with TestClient(create_app(Settings(db=db), engines)) as client:
        assert client.get("/v1/users/x", headers=auth(key)).status_code == 404
        new = rotate(engines, key[:12])
        assert client.get("/v1/users/x", headers=auth(key)).status_code == 401
        assert client.get("/v1/users/x", headers=auth(new)).status_code == 404
        revoke(engines, new)
        assert client.get("/v1/users/x", headers=auth(new)).status_code == 401
    shown = list_keys(engines)
    assert [k.tenant for k in shown] == ["acme", "acme"] and all(k.revoked_at for k in shown)
    assert key not in repr(shown) and new not in repr(shown)
    engines.dispose()


def test_concurrent_bm25_is_not_held_by_dense_loading(tmp_path: Path) -> None:
    """A model loads only at startup: a bm25 request never waits behind one."""
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    with TestClient(create_app(Settings(db=db), connect(db))) as client:
        client.post("/v1/users/u/items", json={"items": [{"id": "1", "text": "x y"}]},
                    headers=auth(key))
        results: list[float] = []

        def dense_attempt() -> None:
            client.post("/v1/retrieve", json={"user": "u", "query": "x", "retriever": "dense"},
                        headers=auth(key))

        threads = [threading.Thread(target=dense_attempt) for _ in range(4)]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        r = client.post("/v1/retrieve", json={"user": "u", "query": "x"}, headers=auth(key))
        results.append(time.monotonic() - t0)
        for t in threads:
            t.join()
    assert r.status_code == 200 and results[0] < 1.0


@pytest.mark.parametrize("kind", DATABASES)
def test_another_process_forgets_an_erased_user(kind: str, tmp_path: Path) -> None:
    """Process B cached the user's profile; A erases the user; B's caches drop it within
    a sweep, without a request for that user."""
    db = database_url(kind, tmp_path)
    key = make_key(db, "acme")
    a = create_app(Settings(db=db), connect(db))
    b = create_app(Settings(db=db, sweep_seconds=0.1), connect(db))
    with TestClient(a) as ca, TestClient(b) as cb:
        ca.post("/v1/users/u/items", json={"items": [{"id": "1", "text": f"{MARKER} x"}]},
                headers=auth(key))
        assert cb.post("/v1/retrieve", json={"user": "u", "query": "x"}, headers=auth(key)
                       ).status_code == 200
        assert len(b.state.retrieval._cache) == 1
        assert ca.delete("/v1/users/u", headers=auth(key)).status_code == 200
        end = time.monotonic() + 10
        while b.state.retrieval._cache:
            assert time.monotonic() < end, "B still holds the erased user's profile"
            time.sleep(0.05)

"""Dense retrieval in the service: item vectors stored once, only new items encoded,
by the background worker, never on the request path.

The fast tests put a deterministic fake encoder behind pergen's real `DenseRetriever`
(passed to the app as its retriever set, as `pergen serve` builds it from --retriever);
the slow one loads MiniLM (the `dense` retriever) for real.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_serve_support import DATABASES, HashEncoder, auth, database_url, make_key

from pergen.retrievers import get_retriever
from pergen.retrievers.dense import DenseRetriever
from pergen.serve.app import Settings, create_app
from pergen.serve.catalog import Catalog
from pergen.serve.db import connect

ITEMS = [{"id": "d1", "text": "cats purr on the sofa"},
         {"id": "d2", "text": "stock markets fell sharply"},
         {"id": "d3", "text": "kittens and cats play"}]



def _client(db: str, encoder: HashEncoder, dense_wait: float = 10.0) -> TestClient:
    catalog = Catalog.of({"bm25": get_retriever("bm25"),
                          "dense": DenseRetriever(encoder)})  # type: ignore[arg-type]
    return TestClient(create_app(Settings(db=db, dense_wait=dense_wait), connect(db), catalog))


def _until(check: object, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def _stored(db: str) -> int:
    engines = connect(db)
    with engines.read.connect() as conn:
        n = int(conn.exec_driver_sql("SELECT count(*) FROM embeddings").scalar_one())
    engines.dispose()
    return n


@pytest.mark.parametrize("kind", DATABASES)
def test_vectors_are_computed_once(kind: str, tmp_path: Path) -> None:
    db = database_url(kind, tmp_path)
    key, encoder = make_key(db, "acme"), HashEncoder()
    with _client(db, encoder) as client:
        client.post("/v1/users/u/items", json={"items": ITEMS}, headers=auth(key))
        _until(lambda: _stored(db) == 3)  # after the write, in the background
        assert encoder.texts_encoded == 3
        r = client.post("/v1/retrieve", json={"user": "u", "query": "cats", "retriever": "dense",
                                               "k": 2}, headers=auth(key))
        assert [i["id"] for i in r.json()["items"]] == ["d1", "d3"]
        assert r.headers["X-Pergen-Retriever"] == "dense" and "X-Pergen-Fallback" not in r.headers
        assert encoder.texts_encoded == 4  # the query only
        client.post("/v1/users/u/items", json={"items": [*ITEMS, {"id": "d4", "text": "cats"}]},
                    headers=auth(key))
        _until(lambda: _stored(db) == 4)
        assert encoder.texts_encoded == 5  # only the new item
        export = client.get("/v1/users/u/export", headers=auth(key)).json()
        assert len(export["embeddings"]) == 4 and export["embeddings"][0]["dim"] == 64
        deleted = client.delete("/v1/users/u", headers=auth(key)).json()["deleted"]
        assert deleted["embeddings"] == 4 and _stored(db) == 0


class SlowEncoder(HashEncoder):
    """Takes `delay` seconds per text: a large backlog keeps the worker busy."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        time.sleep(self.delay * len(texts))
        return super().encode(texts, batch_size)


def test_unencoded_items_answer_from_bm25_and_say_so(tmp_path: Path) -> None:
    db = database_url("sqlite", tmp_path)
    key, encoder = make_key(db, "acme"), SlowEncoder(0.05)
    many = [{"id": f"m{i}", "text": f"cats and dogs number {i}"} for i in range(400)]
    with _client(db, encoder, dense_wait=0.1) as client:
        client.post("/v1/users/u/items", json={"items": many}, headers=auth(key))
        t0 = time.monotonic()
        r = client.post("/v1/retrieve", json={"user": "u", "query": "cats", "retriever": "dense",
                                               "k": 2}, headers=auth(key))
        waited = time.monotonic() - t0
        assert r.status_code == 200 and len(r.json()["items"]) == 2
        assert r.headers["X-Pergen-Retriever"] == "bm25"
        assert r.headers["X-Pergen-Fallback"].startswith("dense:")
        assert waited < 2.0  # the budget (0.1 s) plus one batch of the query's lock, not 20 s
        assert _stored(db) < 400


@pytest.mark.slow
def test_real_minilm_dense(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="the local extra is not installed")
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    settings = Settings(db=db, retrievers=("bm25", "dense"), dense_wait=60)
    with TestClient(create_app(settings, connect(db))) as client:
        client.post("/v1/users/u/items", json={"items": ITEMS}, headers=auth(key))
        r = client.post("/v1/retrieve", json={"user": "u", "query": "my kitten", "retriever": "dense",
                                               "k": 3}, headers=auth(key))
    assert r.status_code == 200 and r.headers["X-Pergen-Retriever"] == "dense"
    ids = [i["id"] for i in r.json()["items"]]
    assert ids[-1] == "d2" and _stored(db) == 3


class BrokenEncoder(HashEncoder):
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        raise RuntimeError("SECRET encoder failure")


def test_a_failing_encoder_does_not_fail_the_write(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                   ) -> None:
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    with _client(db, BrokenEncoder(), dense_wait=0.5) as client:
        r = client.post("/v1/users/u/items", json={"items": ITEMS}, headers=auth(key))
        assert r.status_code == 201 and r.json() == {"added": 3}
        r = client.post("/v1/retrieve", json={"user": "u", "query": "cats", "retriever": "dense"},
                        headers=auth(key))
        assert r.status_code == 200 and r.headers["X-Pergen-Retriever"] == "bm25"
    assert "RuntimeError" in caplog.text and "SECRET" not in caplog.text and _stored(db) == 0

"""Dense retrieval in the service: item vectors stored once, only new items encoded.

The fast tests put a deterministic fake encoder behind pergen's real `DenseRetriever`;
the slow one loads MiniLM (the `dense` retriever) for real.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_serve_support import DATABASES, auth, database_url, make_key

from pergen.retrievers.dense import DenseRetriever
from pergen.serve.app import Settings, create_app
from pergen.serve.db import connect

ITEMS = [{"id": "d1", "text": "cats purr on the sofa"},
         {"id": "d2", "text": "stock markets fell sharply"},
         {"id": "d3", "text": "kittens and cats play"}]


class HashEncoder:
    """Bag of hashed words: texts sharing words get a larger dot product."""

    dim = 64

    def __init__(self) -> None:
        self.texts_encoded = 0

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % self.dim] += 1
        return out


def _client(db: str, encoder: HashEncoder, embed: tuple[str, ...]) -> TestClient:
    app = create_app(Settings(db=db, embed=embed), connect(db))
    retriever = DenseRetriever(encoder)  # type: ignore[arg-type]
    app.state.retrieval._retrievers["dense"] = (retriever, threading.Lock())
    return TestClient(app)


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
    with _client(db, encoder, embed=("dense",)) as client:
        client.post("/v1/users/u/items", json={"items": ITEMS}, headers=auth(key))
        assert encoder.texts_encoded == 3 and _stored(db) == 3  # at add time
        r = client.post("/v1/retrieve", json={"user": "u", "query": "cats", "retriever": "dense",
                                               "k": 2}, headers=auth(key))
        assert [i["id"] for i in r.json()["items"]] == ["d1", "d3"]
        assert encoder.texts_encoded == 4  # the query only
        client.post("/v1/users/u/items", json={"items": [*ITEMS, {"id": "d4", "text": "cats"}]},
                    headers=auth(key))
        assert encoder.texts_encoded == 5 and _stored(db) == 4  # only the new item
        export = client.get("/v1/users/u/export", headers=auth(key)).json()
        assert len(export["embeddings"]) == 4 and export["embeddings"][0]["dim"] == 64
        deleted = client.delete("/v1/users/u", headers=auth(key)).json()["deleted"]
        assert deleted["embeddings"] == 4 and _stored(db) == 0


def test_vectors_on_first_dense_request_without_embed(tmp_path: Path) -> None:
    db = database_url("sqlite", tmp_path)
    key, encoder = make_key(db, "acme"), HashEncoder()
    with _client(db, encoder, embed=()) as client:
        client.post("/v1/users/u/items", json={"items": ITEMS}, headers=auth(key))
        assert encoder.texts_encoded == 0
        body = {"user": "u", "query": "markets", "retriever": "dense", "k": 1}
        assert client.post("/v1/retrieve", json=body, headers=auth(key)).json()["items"][0]["id"] == "d2"
        assert encoder.texts_encoded == 4 and _stored(db) == 3
        client.post("/v1/retrieve", json=body, headers=auth(key))
        assert encoder.texts_encoded == 5  # vectors come from the store now


@pytest.mark.slow
def test_real_minilm_dense(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="the local extra is not installed")
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    with TestClient(create_app(Settings(db=db, embed=("dense",)), connect(db))) as client:
        client.post("/v1/users/u/items", json={"items": ITEMS}, headers=auth(key))
        r = client.post("/v1/retrieve", json={"user": "u", "query": "my kitten", "retriever": "dense",
                                               "k": 3}, headers=auth(key))
    assert r.status_code == 200
    ids = [i["id"] for i in r.json()["items"]]
    assert ids[-1] == "d2" and _stored(db) == 3


class BrokenEncoder(HashEncoder):
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        raise RuntimeError("SECRET encoder failure")


def test_a_failing_encoder_does_not_fail_the_write(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                   ) -> None:
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    with _client(db, BrokenEncoder(), embed=("dense",)) as client:
        r = client.post("/v1/users/u/items", json={"items": ITEMS}, headers=auth(key))
        assert r.status_code == 201 and r.json() == {"added": 3}
    assert "RuntimeError" in caplog.text and "SECRET" not in caplog.text and _stored(db) == 0

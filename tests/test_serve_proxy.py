"""`/v1/chat/completions` forwards to a real upstream on loopback, personalized.

Unit-level tests use a minimal OpenAI-compatible upstream (a uvicorn server in a thread
that answers with the messages it received); the slow test puts a real `pergen serve`
process answering with the embedded model behind a second one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from test_serve_support import (
    Server,
    auth,
    database_url,
    free_port,
    make_key,
    serve_in_thread,
    sse_contents,
    stub_upstream_app,
)

from pergen.serve.app import Settings, create_app
from pergen.serve.db import connect

ITEMS = [{"id": "t1", "text": "I adore jazz trumpet solos"},
         {"id": "t2", "text": "Weekend hiking in the Vosges"},
         {"id": "t,3", "text": "jazz clubs in Paris are my favourite"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Any]]:
    app = stub_upstream_app()
    with serve_in_thread(app) as url:
        yield url + "/v1", app


def _client(tmp_path: Path, upstream_url: str, **settings: Any) -> tuple[TestClient, str]:
    db = database_url("sqlite", tmp_path)
    key = make_key(db, "acme")
    app = create_app(Settings(db=db, upstream=upstream_url, **settings), connect(db))
    client = TestClient(app, raise_server_exceptions=False)
    client.post("/v1/users/ann/items", json={"items": ITEMS}, headers=auth(key))
    return client, key


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


def test_forwards_personalized(tmp_path: Path, upstream: tuple[str, Any]) -> None:
    client, key = _client(tmp_path, upstream[0])
    with client:
        r = client.post("/v1/chat/completions", headers=auth(key),
                        json=_chat("any jazz tips?", user="ann", pergen={"k": 2}))
    assert r.status_code == 200, r.text
    ids = r.headers["X-Pergen-Items"].split(",")  # URL-quoted, best first
    assert sorted(ids) == ["t%2C3", "t1"]
    sent = json.loads(r.json()["choices"][0]["message"]["content"])
    assert sent[0]["role"] == "system"
    texts = {"t1": "I adore jazz trumpet solos", "t%2C3": "jazz clubs in Paris are my favourite"}
    assert f"- {texts[ids[0]]}\n- {texts[ids[1]]}" in sent[0]["content"]
    assert sent[1] == {"role": "user", "content": "any jazz tips?"}
    assert "pergen" not in upstream[1].state.calls[-1]  # pergen's options stay here


def test_existing_system_message_and_header_user(tmp_path: Path, upstream: tuple[str, Any]) -> None:
    client, key = _client(tmp_path, upstream[0], system_template="Facts: $items")
    body = {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "hiking ideas"}]}
    with client:
        r = client.post("/v1/chat/completions", json=body, headers={**auth(key), "X-Pergen-User": "ann"})
    sent = json.loads(r.json()["choices"][0]["message"]["content"])
    assert len(sent) == 2 and sent[0]["content"].startswith("Be brief.\n\nFacts: - Weekend hiking")


def test_streams(tmp_path: Path, upstream: tuple[str, Any]) -> None:
    client, key = _client(tmp_path, upstream[0])
    with client, client.stream("POST", "/v1/chat/completions", headers=auth(key),
                               json=_chat("jazz", user="ann", stream=True)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["X-Pergen-Items"]
        text = "".join(r.iter_text())
    pieces = sse_contents(text)
    assert len(pieces) == 3 and json.loads("".join(pieces))[0]["role"] == "system"
    assert text.rstrip().endswith("data: [DONE]")


def test_unknown_user_is_not_personalized(tmp_path: Path, upstream: tuple[str, Any]) -> None:
    client, key = _client(tmp_path, upstream[0])
    with client:
        r = client.post("/v1/chat/completions", headers=auth(key), json=_chat("jazz", user="bob"))
    assert r.status_code == 200 and r.headers["X-Pergen-Items"] == ""
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == [{"role": "user", "content": "jazz"}]


def test_bad_requests(tmp_path: Path, upstream: tuple[str, Any]) -> None:
    client, key = _client(tmp_path, upstream[0])
    with client:
        r = client.post("/v1/chat/completions", headers=auth(key), json=_chat("jazz"))
        assert r.status_code == 422 and r.json()["error"]["field"] == "user"
        r = client.post("/v1/chat/completions", headers=auth(key), json={"user": "ann"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "messages"
        r = client.post("/v1/chat/completions", headers=auth(key),
                        json=_chat("x", user="ann", pergen={"retriever": "nope"}))
        assert r.status_code == 422 and r.json()["error"]["field"] == "pergen.retriever"
        r = client.post("/v1/chat/completions", json=_chat("x", user="ann"))
        assert r.status_code == 401


def test_upstream_down_is_a_clean_502(tmp_path: Path) -> None:
    client, key = _client(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    with client:
        r = client.post("/v1/chat/completions", headers=auth(key), json=_chat("jazz", user="ann"))
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "upstream_error" and "Traceback" not in r.text


def test_upstream_500_is_a_502(tmp_path: Path) -> None:
    with serve_in_thread(stub_upstream_app(fail=True)) as url:
        client, key = _client(tmp_path, url + "/v1")
        with client:
            r = client.post("/v1/chat/completions", headers=auth(key), json=_chat("jazz", user="ann"))
    assert r.status_code == 502 and "status 500" in r.json()["error"]["message"]


@pytest.mark.parametrize("record", [False, True])
def test_record_is_opt_in(tmp_path: Path, upstream: tuple[str, Any], record: bool) -> None:
    client, key = _client(tmp_path, upstream[0], record=record)
    with client:
        client.post("/v1/chat/completions", headers=auth(key), json=_chat("I also love cello", user="ann"))
        items = client.get("/v1/users/ann/items", headers=auth(key)).json()["items"]
    texts = [i["text"] for i in items]
    assert ("I also love cello" in texts) is record
    assert len(items) == 3 + record


@pytest.mark.slow
def test_real_embedded_model_upstream(tmp_path: Path) -> None:
    """pergen -> pergen: the second process answers with SmolLM2, streamed and not."""
    pytest.importorskip("transformers", reason="the local extra is not installed")
    up_db, front_db = f"sqlite:///{tmp_path / 'up.db'}", f"sqlite:///{tmp_path / 'front.db'}"
    up_key, key = make_key(up_db, "llm"), make_key(front_db, "acme")
    upstream = Server(up_db, "--model", "smollm2", log=tmp_path / "up.log", timeout=600)
    front = Server(front_db, "--upstream", upstream.url + "/v1", "--upstream-key", up_key,
                   "--upstream-timeout", "600", log=tmp_path / "front.log")
    try:
        httpx.post(front.url + "/v1/users/ann/items", json={"items": ITEMS}, headers=auth(key))
        body = {**_chat("Name one jazz instrument.", user="ann"), "max_tokens": 12}
        r = httpx.post(front.url + "/v1/chat/completions", json=body, headers=auth(key), timeout=300)
        assert r.status_code == 200, r.text
        assert r.headers["X-Pergen-Items"]
        assert r.json()["choices"][0]["message"]["content"].strip()
        with httpx.stream("POST", front.url + "/v1/chat/completions", json={**body, "stream": True},
                          headers=auth(key), timeout=300) as s:
            assert s.status_code == 200
            text = "".join(s.iter_text())
        assert "".join(sse_contents(text)).strip() and text.rstrip().endswith("data: [DONE]")
    finally:
        front.stop()
        upstream.stop()

"""The one input contract, on SQLite and PostgreSQL: every bad input is a 422 naming the
field, checked before anything is written, never a 5xx; every error has one shape.

Each case here answered 500 (or stored something that broke the user) before the
contract: a lone surrogate stored and then breaking list, export, retrieve and the proxy;
NUL bytes, a date over 64 characters and NaN on PostgreSQL; a cursor over 64 bits; a
template ``${``; NaN in a chat body; a lone surrogate as the chat user.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_serve_support import DATABASES, auth, database_url, make_key, serve_in_thread, stub_upstream_app

from pergen.serve.app import Settings, create_app
from pergen.serve.db import connect

GOOD = {"id": "g1", "text": "a fine item", "date": "2024-05-01"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve_in_thread(stub_upstream_app()) as url:
        yield url + "/v1"


@pytest.fixture(params=DATABASES)
def client(request: pytest.FixtureRequest, tmp_path: Path, upstream: str
           ) -> Iterator[tuple[TestClient, dict[str, str]]]:
    db = database_url(request.param, tmp_path)
    headers = auth(make_key(db, "acme"))
    engines = connect(db)
    app = create_app(Settings(db=db, upstream=upstream, record=True), engines)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/v1/users/u/items", json={"items": [GOOD]}, headers=headers).status_code == 201
        yield c, headers
    engines.dispose()


def _raw(client: TestClient, method: str, path: str, body: str, headers: dict[str, str]) -> Any:
    """A request whose JSON text is sent as written (escapes such as \\ud800 kept)."""
    return client.request(method, path, content=body.encode(),
                          headers={**headers, "Content-Type": "application/json"})


def _user_still_works(c: TestClient, h: dict[str, str]) -> None:
    assert c.get("/v1/users/u/items", headers=h).json()["items"] == [GOOD]
    assert c.get("/v1/users/u/export", headers=h).status_code == 200
    r = c.post("/v1/retrieve", json={"user": "u", "query": "fine"}, headers=h)
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == ["g1"]


BAD_ITEMS = [  # (raw JSON of the item, the field the 422 must name)
    ('{"id": "x", "text": "\\ud800"}', "items.0.text"),
    ('{"id": "x", "text": "a\\u0000b"}', "items.0.text"),
    ('{"id": "x", "text": "ok", "date": "' + "2" * 65 + '"}', "items.0.date"),
    ('{"id": "x", "text": "ok", "date": "last tuesday"}', "items.0.date"),
    ('{"id": "x", "text": "ok", "score": NaN}', "items.0.score"),
    ('{"id": "x", "text": "ok", "score": Infinity}', "items.0.score"),
    ('{"id": "x", "meta": {"deep": ["\\udfff"]}}', "items.0.meta.deep.0"),
    ('{"id": true, "text": "a boolean is not an id"}', "items.0.id"),
    ('{"id": "a/b", "text": "unreachable by the item routes"}', "items.0.id"),
    ('{"id": "a\\nb", "text": "a control character"}', "items.0.id"),
    ('{"id": "' + "i" * 201 + '", "text": "too long"}', "items.0.id"),
]


@pytest.mark.parametrize(("item", "field"), BAD_ITEMS)
def test_bad_items_are_refused_before_storing(client: tuple[TestClient, dict[str, str]],
                                              item: str, field: str) -> None:
    c, h = client
    r = _raw(c, "POST", "/v1/users/u/items", f'{{"items": [{item}]}}', h)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field and r.json()["error"]["type"] == "invalid_request_error"
    _user_still_works(c, h)  # nothing was stored: the user's reads still answer


def test_bad_query_and_template_inputs(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    r = c.get("/v1/users/u/items", params={"after": "99999999999999999999999"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "after"
    r = c.get("/v1/users/u/items", params={"after": "-1"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "after"
    for prompt, field in (("${", "template.prompt"), ("$profile $", "template.prompt")):
        body = {"user": "u", "query": "x", "template": {"item": "$text", "prompt": prompt}}
        r = c.post("/v1/prompt", json=body, headers=h)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    r = _raw(c, "POST", "/v1/retrieve", '{"user": "u", "query": "\\ud800"}', h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "query"
    r = c.put("/v1/users/u", json={"attributes": {"lang": "fr\u0000"}}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "attributes.lang"
    _user_still_works(c, h)


def test_bad_chat_bodies(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    msg = '"messages": [{"role": "user", "content": "hello"}]'
    cases = [
        ('{"model": "m", "user": "u", "temperature": NaN, ' + msg + "}", "temperature"),
        ('{"model": "m", "user": "\\ud800", ' + msg + "}", "user"),
        ('{"model": "m", "user": "a/b", ' + msg + "}", "user"),  # --record could not erase it
        ('{"model": "m", "user": "u", "messages": [{"role": "user", "content": "\\udc00"}]}',
         "messages.0.content"),
        ('{"model": "m", "user": "u", "messages": []}', "messages"),
        ('{"model": "m", "user": "u", "pergen": {"k": 1e999}, ' + msg + "}", "pergen.k"),
    ]
    for body, field in cases:
        r = _raw(c, "POST", "/v1/chat/completions", body, h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)
    r = c.post("/v1/chat/completions", json=json.loads("{" + msg + "}"),
               headers={**h, "X-Pergen-User": "a\tb"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "user"
    _user_still_works(c, h)


def test_every_error_has_the_documented_shape(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    answers = [
        (c.get("/v1/nothing-here", headers=h), 404),
        (c.put("/v1/retrieve", json={}, headers=h), 405),
        (_raw(c, "POST", "/v1/users/u/items", "{not json", h), 422),
        (c.post("/v1/users/u/items", content=b"\xff\xfe", headers={**h, "Content-Type":
                                                                      "application/json"}), 422),
        (c.get("/v1/users/u", headers={"Authorization": "Bearer nope"}), 401),
        (c.get("/v1/users/%E9", headers=h), 422),
    ]
    for r, status in answers:
        assert r.status_code == status, (status, r.text)
        body = r.json()
        assert set(body) == {"error"} and {"message", "type"} <= set(body["error"]), r.text


def test_invalid_utf8_in_a_path_is_refused(client: tuple[TestClient, dict[str, str]]) -> None:
    """%E9 and %FA both decoded to U+FFFD, so they addressed the same user."""
    c, h = client
    for raw in ("%E9", "%FA"):
        r = c.post(f"/v1/users/{raw}/items", json={"items": [GOOD]}, headers=h)
        assert r.status_code == 422 and r.json()["error"]["field"] == "path"
    assert c.get("/v1/users/%EF%BF%BD", headers=h).status_code == 404  # nothing was created
    assert c.post("/v1/users/%C3%A9/items", json={"items": [GOOD]}, headers=h).status_code == 201
    assert c.get("/v1/users/\u00e9/items", headers=h).json()["items"] == [GOOD]


def test_prompt_with_a_template_keeps_max_length(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    long = [{"id": f"l{i}", "text": " ".join(["word"] * 200)} for i in range(4)]
    c.post("/v1/users/long/items", json={"items": long}, headers=h)
    template = {"item": "$text", "prompt": "$profile | $input"}
    r = c.post("/v1/prompt", json={"user": "long", "query": "word", "template": template,
                                   "k": 4, "max_length": 64}, headers=h)
    assert r.status_code == 200, r.text
    assert len(r.json()["prompt"].split()) <= 64

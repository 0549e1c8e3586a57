"""The HTTP API against SQLite and PostgreSQL: items, users, retrieval, prompts, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_serve_support import DATABASES, auth, database_url, make_key

from pergen.serve.app import Settings, create_app
from pergen.serve.db import Engines, connect

ITEMS = [
    {"id": "a1", "title": "Rust borrow checker tips", "text": "lifetimes and borrowing in rust"},
    {"id": "a2", "title": "Sourdough at home", "text": "bread baking with a starter", "date": "2024-01-02"},
    {"id": "a3", "title": "Marathon training", "text": "long runs and tempo runs", "score": 4},
]


class Api:
    """A TestClient with two tenants' keys and the engines, for row-level checks."""

    def __init__(self, client: TestClient, engines: Engines, key: str, other: str) -> None:
        self.client, self.engines, self.key, self.other = client, engines, key, other

    def __call__(self, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
        headers = {**auth(key or self.key), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)


@pytest.fixture(params=DATABASES)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    db = database_url(request.param, tmp_path)
    key, other = make_key(db, "acme"), make_key(db, "globex")
    engines = connect(db)
    app = create_app(Settings(db=db, max_body=64 * 1024), engines)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, engines, key, other)
    engines.dispose()


def test_add_list_and_skip_existing_ids(api: Api) -> None:
    r = api("POST", "/v1/users/u1/items", json={"items": ITEMS})
    assert r.status_code == 201 and r.json() == {"added": 3}
    again = api("POST", "/v1/users/u1/items", json={"items": [*ITEMS[:2], {"id": "a4", "text": "x"}]})
    assert again.json() == {"added": 1}
    page = api("GET", "/v1/users/u1/items", params={"limit": 2}).json()
    assert [i["id"] for i in page["items"]] == ["a1", "a2"] and page["next"] is not None
    rest = api("GET", "/v1/users/u1/items", params={"limit": 2, "after": page["next"]}).json()
    assert [i["id"] for i in rest["items"]] == ["a3", "a4"] and rest["next"] is None
    assert rest["items"][0]["score"] == 4  # JSON types survive
    assert api("GET", "/v1/users/u1").json()["items"] == 4


def test_delete_item(api: Api) -> None:
    api("POST", "/v1/users/u1/items", json={"items": ITEMS})
    assert api("DELETE", "/v1/users/u1/items/a2").json() == {"deleted": 1}
    assert api("DELETE", "/v1/users/u1/items/a2").status_code == 404
    ids = [i["id"] for i in api("GET", "/v1/users/u1/items").json()["items"]]
    assert ids == ["a1", "a3"]


def test_auth_required(api: Api) -> None:
    assert api.client.get("/v1/users/u1/items").status_code == 401
    r = api("GET", "/v1/users/u1/items", key="pgn_wrong")
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = api.client.get("/v1/users/u1/items", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_tenant_isolation(api: Api) -> None:
    api("POST", "/v1/users/u1/items", json={"items": ITEMS})
    other = api.other
    for method, path, kw in [
        ("GET", "/v1/users/u1", {}), ("GET", "/v1/users/u1/items", {}),
        ("GET", "/v1/users/u1/export", {}), ("DELETE", "/v1/users/u1/items/a1", {}),
        ("DELETE", "/v1/users/u1", {}),
        ("POST", "/v1/retrieve", {"json": {"user": "u1", "query": "rust"}}),
        ("POST", "/v1/prompt", {"json": {"user": "u1", "query": "rust", "task": "LaMP_7"}}),
    ]:
        r = api(method, path, key=other, **kw)
        assert r.status_code == 404, (method, path, r.status_code)  # never 403
        assert r.json()["error"]["message"].startswith("no such user")
    # The other tenant's writes to "u1" create its own user, invisible to the first one.
    api("POST", "/v1/users/u1/items", key=other, json={"items": [{"id": "z", "text": "other"}]})
    assert [i["id"] for i in api("GET", "/v1/users/u1/items").json()["items"]] == ["a1", "a2", "a3"]
    assert api("GET", "/v1/users/u1", key=other).json()["items"] == 1


def _rows_about(engines: Engines, user_pks: set[int], item_pks: set[int]) -> dict[str, int]:
    """Rows, per table, that point at the users or items (every table is checked)."""
    from sqlalchemy import select

    from pergen.serve.models import Base

    found: dict[str, int] = {}
    with engines.read.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                if (row.get("user_pk") in user_pks or row.get("item_pk") in item_pks
                        or (table.name == "users" and row["pk"] in user_pks)
                        or (table.name == "items" and row["pk"] in item_pks)
                        or "SECRET-MARKER" in str(dict(row))):
                    found[table.name] = found.get(table.name, 0) + 1
    return found


def test_delete_user_erases_every_row(api: Api) -> None:
    from sqlalchemy import select

    from pergen.serve.models import Embedding, Item, Summary, User

    items = [{**i, "note": "SECRET-MARKER"} for i in ITEMS]
    api("PUT", "/v1/users/u1", json={"attributes": {"language": "fr"}})
    api("POST", "/v1/users/u1/items", json={"items": items})
    # u2 shares u1's item ids (and a tenant): erasing u1 must not touch u2's rows
    api("POST", "/v1/users/u2/items", json={"items": [{"id": i["id"], "text": "stays"} for i in ITEMS]})
    api("POST", "/v1/retrieve", json={"user": "u1", "query": "rust"})  # fills the cache
    with api.engines.write.begin() as conn:  # rows the API cannot write yet: a summary, a vector
        user_pk = conn.execute(select(User.pk).where(User.external_id == "u1")).scalar_one()
        item_pks = set(conn.execute(select(Item.pk).where(Item.user_pk == user_pk)).scalars())
        conn.execute(Summary.__table__.insert().values(user_pk=user_pk, kind="profile",
                                                       text="SECRET-MARKER summary",
                                                       created_at=__import__("datetime").datetime.now()))
        conn.execute(Embedding.__table__.insert().values(item_pk=min(item_pks), model="dense", dim=1,
                                                         vector=b"\0\0\0\0"))
    assert _rows_about(api.engines, {user_pk}, item_pks)["items"] == 3
    r = api("DELETE", "/v1/users/u1")
    assert r.status_code == 200
    assert r.json() == {"deleted": {"items": 3, "embeddings": 1, "summaries": 1, "users": 1,
                                    "caches": 1}}
    assert _rows_about(api.engines, {user_pk}, item_pks) == {}
    assert api("GET", "/v1/users/u1").status_code == 404
    assert api("GET", "/v1/users/u1/items").status_code == 404
    assert api("DELETE", "/v1/users/u1").status_code == 404
    kept = api("GET", "/v1/users/u2/items").json()["items"]
    assert [(i["id"], i["text"]) for i in kept] == [(i["id"], "stays") for i in ITEMS]


def test_export(api: Api) -> None:
    api("PUT", "/v1/users/u1", json={"attributes": {"language": "fr"}})
    api("POST", "/v1/users/u1/items", json={"items": ITEMS})
    data = api("GET", "/v1/users/u1/export").json()
    assert data["user"] == "u1" and data["attributes"] == {"language": "fr"}
    assert [i["id"] for i in data["items"]] == ["a1", "a2", "a3"]
    assert data["items"][1]["date"] == "2024-01-02"
    assert data["summaries"] == [] and data["embeddings"] == []


def test_retrieve_bm25_and_recency(api: Api) -> None:
    api("POST", "/v1/users/u1/items", json={"items": ITEMS})
    r = api("POST", "/v1/retrieve", json={"user": "u1", "query": "tempo runs", "k": 2})
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["id"] for i in items][0] == "a3" and len(items) == 2
    assert items[0]["score"] > items[1]["score"]
    # An added item is seen at once (the cached profile is stale by revision).
    api("POST", "/v1/users/u1/items", json={"items": [{"id": "a9", "text": "ultra trail in the alps"}]})
    r = api("POST", "/v1/retrieve", json={"user": "u1", "query": "ultra trail", "k": 1})
    assert r.json()["items"][0]["id"] == "a9"
    r = api("POST", "/v1/retrieve", json={"user": "u1", "query": "x", "retriever": "recency", "k": 4})
    assert r.status_code == 200 and len(r.json()["items"]) == 4


def test_retrieve_errors(api: Api) -> None:
    api("POST", "/v1/users/u1/items", json={"items": ITEMS})
    r = api("POST", "/v1/retrieve", json={"user": "u1", "query": "x", "retriever": "nope"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "retriever"
    r = api("POST", "/v1/retrieve", json={"user": "u1"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "query"
    r = api("POST", "/v1/retrieve", json={"user": "nobody", "query": "x"})
    assert r.status_code == 404


def test_prompt_with_task_and_template(api: Api) -> None:
    api("PUT", "/v1/users/u1", json={"attributes": {"language": "French"}})
    api("POST", "/v1/users/u1/items", json={"items": ITEMS})
    r = api("POST", "/v1/prompt", json={"user": "u1", "task": "LaMP_7", "k": 1,
                                        "query": "Paraphrase the following tweet: my long runs"})
    assert r.status_code == 200, r.text
    assert r.json()["items"] == ["a3"]
    assert r.json()["prompt"].startswith('"long runs and tempo runs" are written by a person.')
    template = {"item": "<$title>", "prompt": "In $language. $profile. $input"}
    r = api("POST", "/v1/prompt", json={"user": "u1", "template": template, "k": 2,
                                        "query": "bread starter"})
    assert r.status_code == 200, r.text
    expected = "In French. <Sourdough at home>, and <Rust borrow checker tips>. bread starter"
    assert r.json()["prompt"] == expected
    r = api("POST", "/v1/prompt", json={"user": "u1", "query": "x"})
    assert r.status_code == 422 and "exactly one of" in r.json()["error"]["message"]
    r = api("POST", "/v1/prompt", json={"user": "u1", "query": "x", "task": "LaMP_99"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "task"
    bad = {"item": "$missing", "prompt": "$profile $input"}
    r = api("POST", "/v1/prompt", json={"user": "u1", "query": "x", "template": bad})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("template")


def test_validation_names_the_field(api: Api) -> None:
    r = api("POST", "/v1/users/u1/items", json={"items": [{"text": "no id"}]})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "items.0.id"
    r = api("POST", "/v1/users/u1/items", json={"things": []})
    assert r.json()["error"]["field"] == "items"
    r = api("POST", "/v1/users/u1/items", content=b"{not json",
            headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = api("GET", "/v1/users/u1/items", params={"limit": 0})
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"


def test_body_limit(api: Api) -> None:
    big = {"items": [{"id": str(i), "text": "x" * 1000} for i in range(100)]}
    r = api("POST", "/v1/users/u1/items", json=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"

    def chunks() -> Any:  # no Content-Length: the limit applies to the streamed body
        yield b'{"items": ['
        for i in range(100):
            yield (b'{"id": "%d", "text": "' % i) + b"x" * 1000 + b'"},'
        yield b'{"id": "end"}]}'

    r = api("POST", "/v1/users/u1/items", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert api("GET", "/v1/users/u1").status_code == 404  # nothing was written


def test_internal_errors_leak_nothing(api: Api, caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from pergen.serve import store

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("SECRET item text in an exception message")

    monkeypatch.setattr(store, "list_items", broken)
    # raise_server_exceptions=True: the exception must not escape the app either (the
    # server would log its message and traceback).
    r = TestClient(api.client.app).get("/v1/users/u1/items", headers=auth(api.key))
    assert r.status_code == 500
    assert "SECRET" not in r.text and "Traceback" not in r.text
    assert r.json()["error"]["type"] == "internal_error"
    assert "SECRET" not in caplog.text and "RuntimeError" in caplog.text


def test_openapi_docs(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/v1/retrieve", "/v1/prompt", "/v1/chat/completions", "/v1/users/{user_id}/items"} <= set(paths)


def test_fastapi_telemetry_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's built-in OpenTelemetry (spans, metrics, exception logs with messages)
    stays off even when the environment asks for it."""
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    db = f"sqlite:///{tmp_path / 'x.db'}"
    app = create_app(Settings(db=db), connect(db))
    config = getattr(app, "_telemetry", None)
    if config is None:
        pytest.skip("this FastAPI has no built-in telemetry")
    assert not any(config[k] for k in ("tracing", "metrics", "logs", "operation_spans", "auto_configure"))

"""`POST /v1/chat/completions`: personalize a chat request, then forward it.

The user is the request's ``user`` field (or header ``X-Pergen-User``); the query is the
last user message. The retrieved items, cut to `--max-length` words together, are
written into the system message through the server's template (``$items`` and the
user's attributes as ``$name``); with `--memory`, the user's summary goes before them
(``summary+items``) or instead of them (``summary``). The request goes to ``--upstream``
unchanged otherwise (streaming included: the upstream's bytes are passed through as
they come). Without an upstream the embedded model answers (see `embedded`).
``X-Pergen-Items`` lists the ids used, each URL-quoted, comma-separated. An optional
``"pergen": {"retriever": ..., "k": ...}`` object overrides the server's retrieval for
one request (a retriever of the server's set) and is removed before forwarding. The
whole body is checked against the input contract first (`schemas.ChatIn`), so nothing
that cannot be stored or encoded reaches the store, the upstream or the logs.
"""

from __future__ import annotations

import json
import string
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from . import embedded, store
from .contract import ContractError, check_id
from .http import ApiError, Settings, error, tenant, text_of, validation_error
from .retrieval import Ranked, Retrieval
from .routes_retrieve import check_retriever, ranked_headers
from .schemas import ChatIn
from .texts import cut, document

router = APIRouter(prefix="/v1", tags=["proxy"])


class Invalid(Exception):
    """A 422 already rendered (pydantic's first error, named as every route names it)."""

    def __init__(self, response: Response) -> None:
        self.response = response


SUMMARY_NOTE = "What is known about this user: "


def _user(body: ChatIn, header_user: str | None) -> str:
    user = body.user or header_user
    if user is None:
        raise ApiError(422, "user: give the 'user' field or the X-Pergen-User header",
                       field="user")
    try:
        return check_id(user, "user")
    except ContractError as e:
        raise ApiError(422, str(e), field="user") from None


def personalize(messages: list[dict[str, Any]], texts: list[str], attributes: dict[str, Any],
                template: str, summary: str = "") -> list[dict[str, Any]]:
    """The messages with the item texts (and summary) written into the first system message."""
    if not texts and not summary:
        return messages
    values = {k: str(v) for k, v in attributes.items()}
    values["items"] = "\n".join(f"- {t}" for t in texts)
    note = string.Template(template).safe_substitute(values) if texts else ""
    if summary:
        note = f"{SUMMARY_NOTE}{summary}\n\n{note}".strip()
    out = [dict(m) for m in messages]
    for m in out:
        if m["role"] == "system":
            m["content"] = f"{text_of(m.get('content'))}\n\n{note}".strip()
            return out
    return [{"role": "system", "content": note}, *out]


def _last_user(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return text_of(m.get("content"))
    return ""


async def _record(request: Request, tenant_pk: int, user: str, query: str) -> None:
    """`--record`: the last user message becomes an item of the user's profile."""
    record = {"id": f"chat-{uuid.uuid4().hex}", "text": query, "role": "user",
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    await run_in_threadpool(store.add_items, request.app.state.engines, tenant_pk, user, [record])
    request.app.state.retrieval.worker.notify()
    request.app.state.memory.written(tenant_pk, user)


# The body is parsed once, here, and validated against `ChatIn` by hand: the raw dict is
# what goes upstream, and FastAPI's own body handling would cost a second parse per call.
_CHAT_SCHEMA = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/ChatIn"}}}}}


def document_body(app: FastAPI) -> None:
    """Put `ChatIn` (and the models it uses) into the app's OpenAPI components."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            chat = ChatIn.model_json_schema(ref_template="#/components/schemas/{model}")
            found = schema.setdefault("components", {}).setdefault("schemas", {})
            found.update(chat.pop("$defs", {}))
            found["ChatIn"] = chat
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _parse(content: bytes) -> tuple[dict[str, Any], ChatIn]:
    try:
        raw = json.loads(content)
    except ValueError:  # UnicodeDecodeError included
        raise ApiError(422, "body: not valid JSON", field="body") from None
    if not isinstance(raw, dict):
        raise ApiError(422, "body: expected a JSON object", field="body")
    try:
        return raw, ChatIn.model_validate(raw)
    except ValidationError as e:
        raise Invalid(validation_error(list(e.errors()))) from None


@router.post("/chat/completions", openapi_extra=_CHAT_SCHEMA)
async def chat(request: Request, tenant_pk: int = Depends(tenant)) -> Response:
    """OpenAI-compatible chat completions, personalized from the user's profile."""
    try:
        raw, body = _parse(await request.body())
    except Invalid as e:
        return e.response
    raw.pop("pergen", None)  # forwarded as sent, less pergen's options
    user = _user(body, request.headers.get("x-pergen-user"))
    settings: Settings = request.app.state.settings
    options = body.pergen
    key = check_retriever(request, options.retriever if options else None, "pergen.retriever")
    k = settings.k if options is None or options.k is None else options.k
    memory = settings.memory
    if memory == "summary":
        k = 0
    query = _last_user(raw["messages"])
    retrieval: Retrieval = request.app.state.retrieval
    found: Ranked | None = await run_in_threadpool(retrieval.rank, tenant_pk, user, query, key, k)
    items = [s.item for s in found.scored] if found else []
    attributes = found.profile.user.attributes if found else {}
    summary = request.app.state.memory.get(tenant_pk, user) if memory and found else ""
    texts = cut([document(i) for i in items], settings.max_length)
    items = items[:len(texts)]
    raw["messages"] = personalize(raw["messages"], texts, attributes, settings.system_template,
                                  summary)
    if settings.record and query:
        await _record(request, tenant_pk, user, query)
    headers = {"X-Pergen-Items": ",".join(quote(i.id, safe="") for i in items)}
    if found is not None:
        headers.update(ranked_headers(found))
    if settings.model and not raw.get("model"):
        raw["model"] = settings.model
    if settings.upstream is None:
        return await embedded.answer(request.app, raw, items, headers)
    return await _forward(request.app, settings, raw, headers)


def _client(app: FastAPI, settings: Settings) -> httpx.AsyncClient:
    client: httpx.AsyncClient | None = getattr(app.state, "upstream_client", None)
    if client is None:
        # Keep-alive below the 5 s after which uvicorn and most servers close an idle
        # connection: a connection is never reused just as the upstream closes it.
        client = httpx.AsyncClient(timeout=httpx.Timeout(settings.upstream_timeout, connect=10.0),
                                   limits=httpx.Limits(max_keepalive_connections=64,
                                                       keepalive_expiry=2.0))
        app.state.upstream_client = client
    return client


async def close(app: FastAPI) -> None:
    client = getattr(app.state, "upstream_client", None)
    if client is not None:
        await client.aclose()
        app.state.upstream_client = None


def _upstream_failed(detail: str) -> JSONResponse:
    return error(502, f"upstream LLM failed: {detail}", "upstream_error")


async def _forward(app: FastAPI, settings: Settings, body: dict[str, Any],
                   headers: dict[str, str]) -> Response:
    assert settings.upstream is not None
    url = settings.upstream.rstrip("/") + "/chat/completions"
    out_headers = {"Content-Type": "application/json"}
    if settings.upstream_key:
        out_headers["Authorization"] = f"Bearer {settings.upstream_key}"
    client = _client(app, settings)
    request = client.build_request("POST", url, json=body, headers=out_headers)
    try:
        try:
            upstream = await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            # A pooled connection the upstream closed as it was reused: one fresh try.
            upstream = await client.send(request, stream=True)
    except httpx.HTTPError as e:
        return _upstream_failed(type(e).__name__)
    if upstream.status_code >= 500:
        await upstream.aclose()
        return _upstream_failed(f"status {upstream.status_code}")
    media = upstream.headers.get("content-type", "application/json")
    if not body.get("stream"):
        try:
            content = await upstream.aread()
        except httpx.HTTPError as e:
            return _upstream_failed(type(e).__name__)
        finally:
            await upstream.aclose()
        return Response(content, upstream.status_code, headers=headers, media_type=media)
    return StreamingResponse(_relay(upstream), upstream.status_code, headers=headers,
                             media_type=media, background=BackgroundTask(upstream.aclose))


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """The upstream's bytes as they arrive; a failure mid-stream ends with an error event."""
    try:
        async for chunk in upstream.aiter_bytes():
            yield chunk
    except httpx.HTTPError as e:
        err = {"error": {"message": f"upstream LLM failed: {type(e).__name__}",
                         "type": "upstream_error"}}
        yield f"data: {json.dumps(err)}\n\n".encode()

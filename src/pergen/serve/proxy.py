"""`POST /v1/chat/completions`: personalize a chat request, then forward it.

The user is the request's ``user`` field (or header ``X-Pergen-User``); the query is the
last user message. The retrieved items are written into the system message through the
server's template (``$items`` and the user's attributes as ``$name``), and the request
goes to ``--upstream`` unchanged otherwise (streaming included: the upstream's bytes are
passed through as they come). Without an upstream the embedded model answers (see
`embedded`). ``X-Pergen-Items`` lists the ids used, each URL-quoted, comma-separated.
An optional ``"pergen": {"retriever": ..., "k": ...}`` object overrides the server's
retrieval for one request and is removed before forwarding.
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
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from ..data.records import ProfileItem
from ..errors import ConfigError
from . import embedded, store
from .http import ApiError, Settings, error, tenant, text_of
from .retrieval import Retrieval, check_spec, document

router = APIRouter(prefix="/v1", tags=["proxy"])


def _validate(body: Any, header_user: str | None) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    if not isinstance(body, dict):
        raise ApiError(422, "body: expected a JSON object", field="body")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(422, "messages: expected a non-empty list", field="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ApiError(422, f"messages.{i}.role: expected a string", field=f"messages.{i}.role")
    user = body.get("user") or header_user
    if not isinstance(user, str) or not user or len(user) > 200:
        raise ApiError(422, "user: give the 'user' field or the X-Pergen-User header "
                       "(1 to 200 characters)", field="user")
    options = body.pop("pergen", None) or {}
    if not isinstance(options, dict):
        raise ApiError(422, "pergen: expected an object", field="pergen")
    return messages, user, options


def personalize(messages: list[dict[str, Any]], items: list[ProfileItem],
                attributes: dict[str, Any], template: str) -> list[dict[str, Any]]:
    """The messages with the items written into the (first) system message."""
    if not items:
        return messages
    values = {k: str(v) for k, v in attributes.items()}
    values["items"] = "\n".join(f"- {document(i)}" for i in items)
    note = string.Template(template).safe_substitute(values)
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


@router.post("/chat/completions")
async def chat(request: Request, tenant_pk: int = Depends(tenant)) -> Response:
    """OpenAI-compatible chat completions, personalized from the user's profile."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ApiError(422, "body: not valid JSON", field="body") from None
    messages, user, options = _validate(body, request.headers.get("x-pergen-user"))
    settings: Settings = request.app.state.settings
    spec, k = options.get("retriever") or settings.retriever, options.get("k", settings.k)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= 100:
        raise ApiError(422, "pergen.k: expected an integer from 0 to 100", field="pergen.k")
    try:
        check_spec(str(spec))
    except ConfigError as e:
        raise ApiError(422, str(e), field="pergen.retriever") from None
    query = _last_user(messages)
    retrieval: Retrieval = request.app.state.retrieval
    found = await run_in_threadpool(retrieval.rank, tenant_pk, user, query, str(spec), k)
    items = [s.item for s in found[1]] if found else []
    attributes = found[0].user.attributes if found else {}
    body["messages"] = personalize(messages, items, attributes, settings.system_template)
    if settings.record and query:
        record = {"id": f"chat-{uuid.uuid4().hex}", "text": query, "role": "user",
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        await run_in_threadpool(store.add_items, request.app.state.engines, tenant_pk, user, [record])
    headers = {"X-Pergen-Items": ",".join(quote(i.id, safe="") for i in items)}
    if settings.model and not body.get("model"):
        body["model"] = settings.model
    if settings.upstream is None:
        return await embedded.answer(request.app, body, items, headers)
    return await _forward(request.app, settings, body, headers)


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

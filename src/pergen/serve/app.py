"""The FastAPI application: settings, authentication, and errors that never leak.

Every error answers ``{"error": {"message", "type", "field"?}}`` (the OpenAI shape, so
OpenAI clients show the message). A catch-all middleware turns anything unexpected into a
500 with an opaque id and logs only the exception's class and that id: exception messages
can quote SQL parameters, i.e. item text, which must not reach logs or responses.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PergenError
from . import proxy, routes_retrieve, routes_users
from .db import Engines, connect
from .http import DEFAULT_SYSTEM_TEMPLATE, ApiError, Settings, error, not_found, tenant
from .migrate import upgrade
from .retrieval import Retrieval

log = logging.getLogger("pergen.serve")
__all__ = ["DEFAULT_SYSTEM_TEMPLATE", "ApiError", "Settings", "create_app", "error", "not_found",
           "tenant"]

class BodyLimit:
    """413 for a request body over `limit` bytes, declared or streamed (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen, over, started = 0, False, False

        async def counted() -> Message:
            # Past the limit the app gets an empty end of body (FastAPI would turn an
            # exception raised here into a 400), and its answer is replaced by the 413.
            nonlocal seen, over
            if over:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                over = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over and not started:
                return
            started = True
            await send(message)

        await self.app(scope, counted, guarded)
        if over and not started:
            await _too_large(self.limit)(scope, receive, send)


class CatchAll:
    """500 with a reference id for any exception a route lets escape, logged by class only.

    Not an exception handler: Starlette re-raises after calling the handler for
    `Exception` so that the server logs it, and uvicorn's log would hold the traceback
    and the message (which can quote item text). This middleware swallows it instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as e:
            ref = uuid.uuid4().hex[:12]
            log.error("internal error %s on %s %s: %s", ref, scope.get("method"), scope.get("path"),
                      type(e).__name__)
            if not started and scope["type"] == "http":
                await error(500, f"internal error (reference {ref})", "internal_error")(
                    scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    return error(413, f"request body over {limit} bytes", "request_too_large")


def _field(loc: tuple[Any, ...]) -> str:
    """``("body", "items", 0, "id")`` -> ``items.0.id`` (the location's kind dropped)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError) -> JSONResponse:
        return error(e.status_code, str(e.detail), e.kind, e.field)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, e: HTTPException) -> JSONResponse:
        return error(e.status_code, str(e.detail), "http_error")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {"loc": ("body",), "msg": "invalid request"}
        where = _field(tuple(first.get("loc", ())))
        return error(422, f"{where}: {first.get('msg', 'invalid')}", "invalid_request_error", where)

    @app.exception_handler(PergenError)
    async def _pergen(_: Request, e: PergenError) -> JSONResponse:
        return error(422, str(e), "invalid_request_error")



def _no_telemetry() -> dict[str, Any]:
    """FastAPI >= 0.16x has built-in OpenTelemetry: spans, metrics, and logs of validation
    errors and exceptions with their messages (item text) and request bodies, exported as
    soon as a provider is configured (e.g. ``FASTAPI_OTEL_AUTO_CONFIGURE=true``). The
    service promises no telemetry and no item text in logs, so all of it is switched off."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False,
                          "operation_spans": False, "auto_configure": False}}


def create_app(settings: Settings, engines: Engines | None = None) -> FastAPI:
    """The service; `engines` lets tests share a database. Migrations run at startup."""
    engines = engines or connect(settings.db)
    upgrade(engines)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await proxy.close(app)

    app = FastAPI(title="pergen", description="User profiles and a personalizing "
                  "OpenAI-compatible proxy.", lifespan=lifespan, **_no_telemetry())
    app.state.settings, app.state.engines = settings, engines
    app.state.retrieval = Retrieval(engines)
    _handlers(app)
    app.include_router(routes_users.router)
    app.include_router(routes_retrieve.router)
    app.include_router(proxy.router)
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, limit=settings.max_body)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

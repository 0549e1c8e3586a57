"""The FastAPI application: settings, authentication, and errors that never leak.

Every error answers ``{"error": {"message", "type", "field"?}}`` (the OpenAI shape, so
OpenAI clients show the message), the framework's own 404, 405 and 400 included. A
catch-all middleware turns anything unexpected into a 500 with an opaque id and logs
only the exception's class and that id: exception messages can quote SQL parameters,
i.e. item text, which must not reach logs or responses. A path whose percent-escapes
are not UTF-8 is refused before routing (decoded, ``%E9`` and ``%FA`` both became
U+FFFD and so addressed the same user).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PergenError
from . import proxy, routes_retrieve, routes_users
from .catalog import Catalog
from .db import Engines, connect
from .encoding import EncodingWorker
from .http import (
    DEFAULT_SYSTEM_TEMPLATE,
    ApiError,
    Settings,
    error,
    not_found,
    tenant,
    validation_error,
)
from .logs import escape
from .memory import Memory
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


def _utf8(raw_path: bytes) -> bool:
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class CatchAll:
    """500 with a reference id for any exception a route lets escape, logged by class only;
    and 422 for a path whose percent-escapes are not UTF-8 (one ASGI layer for both).

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

        if scope["type"] == "http" and not _utf8(scope.get("raw_path") or b""):
            await error(422, "path: percent-escapes must encode UTF-8", "invalid_request_error",
                        "path")(scope, receive, send)
            return
        try:
            await self.app(scope, receive, tracked)
        except Exception as e:
            ref = uuid.uuid4().hex[:12]
            log.error("internal error %s on %s %s: %s", ref, scope.get("method"),
                      escape(str(scope.get("path"))), type(e).__name__)
            if not started and scope["type"] == "http":
                await error(500, f"internal error (reference {ref})", "internal_error")(
                    scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    return error(413, f"request body over {limit} bytes", "request_too_large")


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, e: ApiError) -> JSONResponse:
        return error(e.status_code, str(e.detail), e.kind, e.field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "invalid_request_error")
        if isinstance(e, ApiError):
            return error(e.status_code, str(e.detail), e.kind, e.field)
        field = "body" if e.status_code == 400 else None
        return error(e.status_code, escape(str(e.detail))[:300], kind, field)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        return validation_error(list(e.errors()))

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


async def _sweep(app: FastAPI, every: float) -> None:
    """Every `every` seconds, caches drop users erased through another process."""
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(app.state.retrieval.sweep)
            await run_in_threadpool(app.state.memory.sweep)
        except Exception as e:  # class only; the next round tries again
            log.warning("cache sweep failed (%s)", type(e).__name__)


def create_app(settings: Settings, engines: Engines | None = None,
               catalog: Catalog | None = None) -> FastAPI:
    """The service; `engines` lets tests share a database, `catalog` pass built retrievers
    (default: `settings.retrievers`, loaded now). Migrations run at startup."""
    engines = engines or connect(settings.db)
    upgrade(engines)
    catalog = catalog or Catalog.build(settings.retrievers)
    worker = EncodingWorker(engines, catalog, batch=settings.encode_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker.start()
        app.state.memory.start()
        sweeper = asyncio.create_task(_sweep(app, settings.sweep_seconds))
        try:
            yield
        finally:
            sweeper.cancel()
            worker.stop()
            app.state.memory.stop()
            await proxy.close(app)

    app = FastAPI(title="pergen", description="User profiles and a personalizing "
                  "OpenAI-compatible proxy.", lifespan=lifespan, **_no_telemetry())
    app.state.settings, app.state.engines = settings, engines
    app.state.retrieval = Retrieval(engines, catalog, worker, dense_wait=settings.dense_wait)
    app.state.memory = Memory(engines, settings.memory)
    _handlers(app)
    app.include_router(routes_users.router)
    app.include_router(routes_retrieve.router)
    app.include_router(proxy.router)
    proxy.document_body(app)
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, limit=settings.max_body)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

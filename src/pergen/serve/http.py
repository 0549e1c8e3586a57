"""What every route of the service shares: its settings, errors and authentication.

Kept apart from `pergen.serve.app` (which assembles the routes) so that the route
modules import it without importing the application back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from . import keys
from .catalog import DEFAULT_RETRIEVERS
from .logs import escape

DEFAULT_SYSTEM_TEMPLATE = ("Earlier texts written by this user, most relevant first; use them to "
                           "match the user's preferences and style:\n$items")


@dataclass
class Settings:
    """What `pergen serve` was started with."""

    db: str
    upstream: str | None = None
    upstream_key: str | None = None
    model: str | None = None
    retrievers: tuple[str, ...] = DEFAULT_RETRIEVERS  # NAME=SPEC or SPEC; the first: default
    k: int = 4
    record: bool = False
    system_template: str = DEFAULT_SYSTEM_TEMPLATE
    max_body: int = 8 << 20
    upstream_timeout: float = 120.0
    max_length: int = 512  # the proxy's budget for injected items, in whitespace words
    memory: str | None = None  # summary | summary+items
    dense_wait: float = 0.25  # seconds a dense request waits for its items' vectors
    sweep_seconds: float = 5.0  # how soon caches drop users erased by another process
    encode_batch: int = 8  # texts per encoding batch: what a query encoding may wait behind
    extra: dict[str, Any] = field(default_factory=dict)


def error(status: int, message: str, kind: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "type": kind}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def _field(loc: tuple[Any, ...]) -> str:
    """``("body", "items", 0, "id")`` -> ``items.0.id`` (the location's kind dropped)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_error(errors: list[Any], prefix: tuple[Any, ...] = ()) -> JSONResponse:
    """The 422 for pydantic's first error: the field's dotted path and a short message.

    A contract error (`contract.pydantic_error`) adds the path inside the value checked.
    The message never quotes the input (it could be item text, or megabytes)."""
    first: dict[str, Any] = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    loc = (*prefix, *first.get("loc", ()))
    sub = (first.get("ctx") or {}).get("subfield")
    if sub:
        loc = (*loc, *str(sub).split("."))
    where = _field(loc)
    message = escape(str(first.get("msg", "invalid")))[:300]
    return error(422, f"{where}: {message}", "invalid_request_error", where)


class ApiError(HTTPException):
    """An HTTP error with the error type and, for bad input, the field at fault."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 field: str | None = None) -> None:
        super().__init__(status, message)
        self.kind, self.field = kind, field


def not_found(what: str = "user") -> ApiError:
    # The same answer for "no such user" and "another tenant's user": never reveal which.
    return ApiError(404, f"no such {what}", "not_found")


async def tenant(request: Request) -> int:
    """FastAPI dependency: the tenant of the bearer key, or 401.

    The key is looked up on every request (one indexed read), so a key revoked through
    any process sharing the database is refused at once; the read runs on the event loop
    for SQLite (tens of microseconds, and a thread-pool hop waits for a CPU slice on a
    busy machine) and in a worker thread for PostgreSQL (a network round trip).
    """
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", "authentication_error")
    engines = request.app.state.engines
    if engines.is_sqlite:
        found = keys.tenant_of(engines, key)
    else:
        found = await run_in_threadpool(keys.tenant_of, engines, key)
    if found is None:
        raise ApiError(401, "invalid API key", "authentication_error")
    return found


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of an OpenAI content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content
                        if isinstance(p, dict) and p.get("type") == "text")
    return ""

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

DEFAULT_SYSTEM_TEMPLATE = ("Earlier texts written by this user, most relevant first; use them to "
                           "match the user's preferences and style:\n$items")


@dataclass
class Settings:
    """What `pergen serve` was started with."""

    db: str
    upstream: str | None = None
    upstream_key: str | None = None
    model: str | None = None
    retriever: str = "bm25"
    k: int = 4
    record: bool = False
    embed: tuple[str, ...] = ()
    system_template: str = DEFAULT_SYSTEM_TEMPLATE
    max_body: int = 8 << 20
    upstream_timeout: float = 120.0
    extra: dict[str, Any] = field(default_factory=dict)


def error(status: int, message: str, kind: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "type": kind}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


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

    Async so that a cached key costs no hop to the thread pool (a hop waits for a CPU
    slice on a busy machine); a key not seen lately is looked up in a worker thread.
    """
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", "authentication_error")
    engines = request.app.state.engines
    found = keys.cached_tenant(engines, key)
    if found is None:
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

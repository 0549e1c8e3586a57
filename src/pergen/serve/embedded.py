"""Answer chat requests with pergen's embedded model when no upstream is configured.

The model (``--model``, default pergen's `DEFAULT_MODEL`) is loaded by `pergen serve`
before it listens (else on the first request, in a worker thread), and generates one
request at a time under a lock: a CPU model gains nothing from parallel calls, and the
event loop stays free for other routes. The conversation is
flattened into one prompt (the backend applies the model's chat template to it).
Streaming sends the whole answer as one chunk: the backend does not yield tokens.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..data.records import ProfileItem
from ..llm import DEFAULT_MODEL, Generator, Request, get_model
from ..tasks import TaskSpec
from .http import ApiError, text_of

_CHAT = TaskSpec(name="chat", item_template="$text", prompt_template="$profile $input",
                 document_fields=("text",), output_fields=("text",))
_LOCK = threading.Lock()
MAX_NEW_TOKENS = 512


def flatten(messages: list[dict[str, Any]]) -> str:
    """System text first, then the turns as 'User: ...' / 'Assistant: ...' lines."""
    system = [text_of(m.get("content")) for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) == 1:
        body = text_of(turns[0].get("content"))
    else:
        body = "\n".join(f"{m['role'].capitalize()}: {text_of(m.get('content'))}" for m in turns)
    return "\n\n".join([*system, body]).strip()


def _model(app: FastAPI, name: str) -> Generator:
    with _LOCK:
        model: Generator | None = getattr(app.state, "embedded_model", None)
        if model is None:
            model = get_model(name)
            app.state.embedded_model = model
        return model


def _generate(app: FastAPI, name: str, prompt: str, items: list[ProfileItem], limit: int) -> str:
    model = _model(app, name)
    with _LOCK:
        request = Request(prompt=prompt, input=prompt, retrieved=tuple(items), task=_CHAT)
        return model.generate([request], limit)[0]


async def answer(app: FastAPI, body: dict[str, Any], items: list[ProfileItem],
                 headers: dict[str, str]) -> Response:
    name = app.state.settings.model or DEFAULT_MODEL
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or 128
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise ApiError(422, "max_tokens: expected an integer", field="max_tokens")
    limit = max(1, min(limit, MAX_NEW_TOKENS))
    text = await run_in_threadpool(_generate, app, name, flatten(body["messages"]), items, limit)
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if body.get("stream"):
        return StreamingResponse(_chunks(ident, created, name, text), headers=headers,
                                 media_type="text/event-stream")
    return JSONResponse({
        "id": ident, "object": "chat.completion", "created": created, "model": name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
        "usage": None,
    }, headers=headers)


async def _chunks(ident: str, created: int, name: str, text: str) -> AsyncIterator[bytes]:
    base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": name}
    for delta, finish in (({"role": "assistant"}, None), ({"content": text}, None), ({}, "stop")):
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"

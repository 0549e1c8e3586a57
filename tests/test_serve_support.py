"""Helpers for the service tests: databases, real server processes, a stub upstream.

PostgreSQL comes from ``PERGEN_TEST_PG_URL`` (`.ci/run` starts a throwaway cluster and
sets it). Without it the PostgreSQL tests skip with the reason, except under CI=true,
where they fail: CI must never test less than it claims.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install 'pergen[serve]'")

from fastapi import FastAPI, Request  # noqa: E402  (after the skip: the serve extra)
from fastapi.responses import JSONResponse, StreamingResponse  # noqa: E402

DATABASES = ["sqlite", "postgresql"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pg_url() -> str:
    url = os.environ.get("PERGEN_TEST_PG_URL")
    if url:
        return url
    reason = ("PERGEN_TEST_PG_URL is not set: no PostgreSQL server to test against "
              "(.ci/run starts one; see README 'Service')")
    if in_ci():
        pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
    pytest.skip(reason)


def reset_pg(url: str) -> None:
    """An empty database: every table of an earlier test dropped."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def database_url(kind: str, tmp_path: Path) -> str:
    """A fresh, empty database of `kind` (``sqlite`` or ``postgresql``)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'pergen.db'}"
    url = pg_url()
    reset_pg(url)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout} s")


class Server:
    """A real `pergen serve` process (``python -m pergen.serve serve ...``) on loopback."""

    def __init__(self, db: str, *args: str, log: Path | None = None, timeout: float = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "pergen.serve", "serve", "--db", db, "--port", str(self.port),
               "--log-level", "warning", *args]
        self.log = log
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=out)
        wait_ready(self.url + "/healthz", self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def make_key(db: str, tenant: str) -> str:
    from pergen.serve.db import connect
    from pergen.serve.keys import create_key
    from pergen.serve.migrate import upgrade

    engines = connect(db)
    try:
        upgrade(engines)
        return create_key(engines, tenant)
    finally:
        engines.dispose()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# A minimal OpenAI-compatible upstream: it answers with the messages it received (so a
# test sees what the proxy forwarded) and streams that answer in three SSE chunks.
def stub_upstream_app(fail: bool = False) -> FastAPI:
    app = FastAPI()
    app.state.calls = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        app.state.calls.append(body)
        if fail:
            return JSONResponse({"error": "boom"}, status_code=500)
        content = json.dumps(body["messages"])
        if not body.get("stream"):
            return {"id": "stub", "object": "chat.completion", "model": body.get("model", "stub"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}]}

        async def events() -> AsyncIterator[bytes]:
            third = len(content) // 3 + 1
            for i in range(3):
                piece = content[i * third:(i + 1) * third]
                chunk = {"id": "stub", "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": piece}}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                await asyncio.sleep(0.01)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a loopback port in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 20
    while not server.started and time.monotonic() < end:
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def sse_contents(text: str) -> list[str]:
    """The content deltas of an SSE chat stream."""
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if "content" in delta:
                out.append(delta["content"])
    return out


class HashEncoder:
    """Bag of hashed words, a fast stand-in for MiniLM: texts sharing words get a larger
    dot product. `delay` seconds per text simulate a slow encoder."""

    def __init__(self, delay: float = 0.0, dim: int = 64) -> None:
        self.texts_encoded, self.delay, self.dim = 0, delay, dim

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        time.sleep(self.delay * len(texts))
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % self.dim] += 1
        return out

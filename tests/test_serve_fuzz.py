"""Property-based tests of every route, generated from the service's OpenAPI schema.

Schemathesis (Hypothesis underneath) generates requests that fit the schema and requests
that do not (both modes), for every operation, and a real `pergen serve` process on
loopback answers them, on SQLite and on PostgreSQL, with a stub upstream behind the chat
route and `--record` on; every other request names a seeded user (in the path or the
body), so generated queries, templates and bodies meet real ranking. Every answer must be
below 500, in the documented error shape when it is an error, and without a stack trace;
after the run, the server's log must hold no traceback, no internal error and nothing but
its own lines (no request content).

The number of examples per operation is fixed (`PERGEN_FUZZ_EXAMPLES`, default 110: over
1,500 requests per database over the 10 operations, about 45 s each on 2 busy cores).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_serve_support import (
    DATABASES,
    Server,
    auth,
    database_url,
    in_ci,
    make_key,
    serve_in_thread,
    stub_upstream_app,
)

try:
    import schemathesis
    from hypothesis import HealthCheck, settings
except ImportError:  # CI must never test less than it claims
    if in_ci():
        pytest.fail("schemathesis is not installed; CI=true requires it", pytrace=False)
    pytest.skip("pip install 'pergen[dev]' (schemathesis, hypothesis)", allow_module_level=True)

from pergen.serve.app import Settings, create_app  # noqa: E402
from pergen.serve.db import connect  # noqa: E402

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("PERGEN_FUZZ_EXAMPLES", "110"))
MIN_REQUESTS = int(os.environ.get("PERGEN_FUZZ_MIN_REQUESTS", "1000"))


def _openapi() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'schema.db'}"
        engines = connect(db)
        try:
            return create_app(Settings(db=db), engines).openapi()
        finally:
            engines.dispose()


schema = schemathesis.openapi.from_dict(_openapi())
# The server's own lines: uvicorn's startup and access lines, pergen's warnings.
ALLOWED = re.compile(r"^(INFO|WARNING|ERROR|DEBUG):\s+(uvicorn(\.error|\.access)?|pergen\S*): "
                     r"(\d+\.\d+\.\d+\.\d+:\d+ - \"[A-Z]+ \S+ HTTP/1\.1\" \d{3}"
                     r"|Started server process \[\d+\]|Waiting for application startup\."
                     r"|Application startup complete\.|Uvicorn running on \S+ \(Press CTRL\+C to quit\)"
                     r"|Shutting down|Waiting for application shutdown\.|Application shutdown complete\."
                     r"|Finished server process \[\d+\])$")


SEED = "seed"  # a user with items, so that generated queries and templates meet real ranking
SEED_ITEMS = [{"id": "1", "text": "jazz trumpet solos \u00e9t\u00e9 \U0001f3ba", "title": "Jazz",
               "date": "2024-05-01"},
              {"id": "2", "text": "hiking in the Vosges " * 50, "title": "Hiking", "score": 4},
              {"id": "x y", "text": "", "tags": ["a", {"b": None}], "title": "\u202eodd"}]


class Run:
    def __init__(self, server: Server, key: str, kind: str) -> None:
        self.server, self.key, self.kind = server, key, kind
        self.requests, self.by_route, self.statuses = 0, dict[str, int](), dict[int, int]()
        self.seeded = 0

    def seed(self) -> None:
        r = httpx.post(f"{self.server.url}/v1/users/{SEED}/items", json={"items": SEED_ITEMS},
                       headers=auth(self.key), timeout=60)
        assert r.status_code == 201, r.text

    def aim(self, case: Any) -> None:
        """Every other request names the seeded user (in the path or in the body)."""
        if self.requests % 2:
            return
        if "user_id" in (case.path_parameters or {}):
            case.path_parameters["user_id"] = SEED
            self.seeded += 1
        elif isinstance(case.body, dict) and "user" in case.body:
            case.body["user"] = SEED
            self.seeded += 1


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve_in_thread(stub_upstream_app()) as url:
        yield url + "/v1"


@pytest.fixture(scope="module", params=DATABASES)
def run(request: pytest.FixtureRequest, upstream: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    db = database_url(request.param, tmp)
    key = make_key(db, "fuzz")
    log = tmp / "server.log"
    server = Server(db, "--upstream", upstream, "--record", "--log-level", "info", log=log)
    state = Run(server, key, request.param)
    state.seed()
    try:
        yield state
    finally:
        server.stop()
    lines = log.read_text(encoding="utf-8", errors="strict").splitlines()
    print(f"\nfuzz on {request.param}: {state.requests} requests ({state.seeded} to the seeded "
          f"user), statuses {state.statuses}, per route {state.by_route}")
    assert state.requests >= MIN_REQUESTS, state.requests
    assert len(state.by_route) == len(list(schema.get_all_operations()))
    unexpected = [line for line in lines if line.strip() and not ALLOWED.match(line)]
    assert unexpected == [], unexpected[:5]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_route_answers_5xx(case: Any, run: Run) -> None:
    run.aim(case)
    response = case.call(base_url=run.server.url, headers=auth(run.key), timeout=60)
    if case.operation.method.upper() == "DELETE" and SEED in case.formatted_path:
        run.seed()  # erased (or an item of it): seed again for the next cases
    run.requests += 1
    route = f"{case.operation.method.upper()} {case.operation.path}"
    run.by_route[route] = run.by_route.get(route, 0) + 1
    run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1
    assert response.status_code < 500, (route, response.status_code, response.text[:500])
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str)

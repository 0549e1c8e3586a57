"""The OpenAI-compatible backend against a real local HTTP server started in the test."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("httpx")

from pergen.errors import BackendError, ConfigError
from pergen.llm import Request, WhitespaceTokenizer, get_model
from pergen.tasks import get_task

TASK = get_task("LaMP_4")


class FakeOpenAI(ThreadingHTTPServer):
    """Answers ``/v1/chat/completions`` with ``echo: <prompt>``; fails the first
    `fail_first` requests with `fail_status`; records every request body."""

    daemon_threads = True

    def __init__(self, fail_first: int = 0, fail_status: int = 503) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fail_first, self.fail_status = fail_first, fail_status
        self.bodies: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with srv.lock:
            srv.bodies.append(body)
            srv.headers_seen.append(dict(self.headers))
            n = len(srv.bodies)
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        time.sleep(0.05)  # long enough for concurrent requests to overlap
        with srv.lock:
            srv.in_flight -= 1
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": "no such route"})
        if n <= srv.fail_first:
            return self._send(srv.fail_status, {"error": "busy"})
        prompt = body["messages"][0]["content"]
        self._send(200, {"choices": [{"message": {"role": "assistant",
                                                  "content": f"  echo: {prompt}\n"}}],
                         "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 3}})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[FakeOpenAI]:
    fail_first, status = getattr(request, "param", (0, 503))
    srv = FakeOpenAI(fail_first, status)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def reqs(n: int) -> list[Request]:
    return [Request(f"prompt {i}", f"input {i}", (), TASK) for i in range(n)]


def test_answers_in_order_concurrently_with_chat_body(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = get_model(f"openai:tiny-model@{server.url}", concurrency=4)
    assert model.generate(reqs(8), max_new_tokens=7) == [f"echo: prompt {i}" for i in range(8)]
    assert server.max_in_flight > 1
    body = server.bodies[0]
    assert body["model"] == "tiny-model" and body["temperature"] == 0 and body["max_tokens"] == 7
    assert body["messages"][0]["role"] == "user"
    assert server.headers_seen[0]["Authorization"] == "Bearer sk-test"
    assert isinstance(model.tokenizer, WhitespaceTokenizer)


def test_no_key_sends_no_auth_header(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    get_model(f"openai:m@{server.url}").generate(reqs(1), 4)
    assert "Authorization" not in server.headers_seen[0]


@pytest.mark.parametrize("server", [(2, 503), (2, 429)], indirect=True)
def test_retries_transient_failures(server):
    model = get_model(f"openai:m@{server.url}", max_retries=3, backoff=0.01, concurrency=1)
    assert model.generate(reqs(1), 4) == ["echo: prompt 0"]
    assert len(server.bodies) == 3


@pytest.mark.parametrize("server", [(10, 503)], indirect=True)
def test_gives_up_after_retries_naming_url_and_status(server):
    model = get_model(f"openai:m@{server.url}", max_retries=2, backoff=0.01)
    with pytest.raises(BackendError) as err:
        model.generate(reqs(1), 4)
    assert server.url in str(err.value) and "503" in str(err.value)
    assert "3 attempts" in str(err.value) and len(server.bodies) == 3


@pytest.mark.parametrize("server", [(10, 400)], indirect=True)
def test_client_errors_are_not_retried(server):
    model = get_model(f"openai:m@{server.url}", max_retries=3, backoff=0.01)
    with pytest.raises(BackendError, match="400"):
        model.generate(reqs(1), 4)
    assert len(server.bodies) == 1


def test_unreachable_server_raises_clear_error():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    model = get_model(f"openai:m@{url}", max_retries=1, backoff=0.01, timeout=1.0)
    t = time.perf_counter()
    with pytest.raises(BackendError, match=f"127.0.0.1:{port}.*2 attempts.*Connect"):
        model.generate(reqs(2), 4)
    assert time.perf_counter() - t < 10


def test_needs_a_model_name():
    with pytest.raises(ConfigError):
        get_model("openai:@http://127.0.0.1:1/v1")


def test_urls_share_the_load_and_usage_lands_in_run_json(server, synthetic, tmp_path):
    import threading as th

    second = FakeOpenAI()
    th.Thread(target=second.serve_forever, daemon=True).start()
    try:
        from pergen.run.pipeline import evaluate

        model = get_model(f"openai:tiny@{server.url},{second.url}", concurrency=1)
        evaluate(synthetic("generation"), "dev", ["none"], tmp_path / "run", model=model,
                 progress=False)
    finally:
        second.shutdown()
        second.server_close()
    chats = [[b for b in srv.bodies if "messages" in b] for srv in (server, second)]
    assert abs(len(chats[0]) - len(chats[1])) <= 1 and chats[1]  # in turn
    stored = json.loads((tmp_path / "run" / "none" / "run.json").read_text())
    n = len(chats[0]) + len(chats[1])
    assert stored["usage"]["requests"] == n and stored["usage"]["completion_tokens"] == 3 * n
    assert stored["usage"]["prompt_tokens"] > 0


def test_scoring_without_logprobs_names_what_to_do(server):
    model = get_model(f"openai:tiny@{server.url}", max_retries=0)
    with pytest.raises(BackendError, match="echo and logprobs"):
        model.loglik(reqs(1), ["x"])


def test_echo_alignment_is_checked_and_offsets_are_not_trusted() -> None:
    """Echoes as llama-cpp-python's server writes them (tokens and log-probabilities
    recorded from it): aligned for a chat prompt that starts with the BOS token, shifted
    by one for a plain prompt."""
    from pergen.llm.openai_backend import _target_logprobs

    aligned = ["<|im_start|>", "assistant", "\n", "[", "1", "]", " A"]
    values = [None, -1e-6, -8e-4, -9.2, -6.3, -2.7, -2.9]
    assert _target_logprobs(aligned, values, {" A": -2.9}, " A", "[1]", "u") == [-9.2, -6.3, -2.7]
    # The model stopped at once: no generated token in the echo, every entry is the prompt's.
    assert _target_logprobs(aligned[:-1], values[:-1], {"]:": -0.3, "]": -2.7}, "", "1]",
                            "u") == [-6.3, -2.7]
    # Shifted: the last entry is the prompt's last token scored under the next position.
    shifted = ["Hello", " there", ",", " my", " friend"]
    with pytest.raises(BackendError, match="not aligned"):
        _target_logprobs(shifted, [None, -7.6, -16.6, -9.7, -8.4],
                         {".": -1.3, " friend": -8.4}, ".", " friend", "u")
    with pytest.raises(BackendError, match="no log-probabilities for the target"):
        _target_logprobs(aligned, values, {" A": -2.9}, " A", "[2]", "u")

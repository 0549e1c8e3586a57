"""Any OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp server...) as a backend.

Spec: ``openai:MODEL@BASE_URL``, e.g. ``openai:llama3@http://localhost:11434/v1``; without
``@BASE_URL`` it uses ``$OPENAI_BASE_URL`` or the OpenAI API. Several URLs serving the same
model, ``openai:MODEL@URL1,URL2``, share the requests in turn. The key comes from
``$OPENAI_API_KEY`` (optional: local servers need none).

Each prompt is one chat completion (single user message, temperature 0). Requests run
concurrently on a thread pool because servers batch on their side and most of the time
is network wait. Token usage reported by the server is summed in `usage`.

Scoring (`label_scores`, `loglik`) uses ``/v1/completions`` with ``echo`` and
``logprobs``: the server returns the log-probability of every token of prompt + target,
and the target's are those at or after the prompt's end (``text_offset``). vLLM and
``llama_cpp.server`` (started with ``--logits_all true``) offer it; a server that offers
none is refused with what to do. A completions endpoint applies no chat template, so the
scored text is the prompt rendered with the model's template from ``tokenizer=`` (a local
tokenizer folder, as for token budgets); without one the raw prompt is scored.

Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff
(honouring a numeric ``Retry-After``), since local servers restart and hosted ones
rate-limit; anything else fails at once. A failure raises `BackendError` naming the URL
and the last status.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import BackendError, ConfigError, MissingExtraError
from .base import (
    MODELS,
    BaseGenerator,
    HFTokenizer,
    Message,
    Request,
    Tokenizer,
    WhitespaceTokenizer,
)

try:
    import httpx
except ImportError as e:  # pragma: no cover - depends on the install
    raise MissingExtraError("httpx", "openai") from e

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_RETRY_STATUS = {408, 409, 429}  # plus every 5xx


class OpenAIModel(BaseGenerator):
    """Chat completions over HTTP, one request per prompt, run `concurrency` at a time.

    Args:
        model: the model name the server knows.
        base_url: the API root, up to and including ``/v1``.
        api_key: bearer token (default ``$OPENAI_API_KEY``; none sent if empty).
        concurrency: requests in flight at once.
        max_retries: retries after the first attempt, for retryable failures only.
        timeout: seconds per HTTP request.
        backoff: first retry delay in seconds, doubled at each retry (capped at 30 s).
        tokenizer: a local tokenizer folder, so that token budgets match the server's
            model; without it, budgets count whitespace words.
    """

    def __init__(self, model: str, base_url: str | None = None, *, api_key: str | None = None,
                 concurrency: int = 8, max_retries: int = 4, timeout: float = 60.0,
                 backoff: float = 0.5, tokenizer: str | None = None) -> None:
        if not model:
            raise ConfigError("openai needs a model name: openai:MODEL@BASE_URL")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.model = model
        self.roots = [u.strip().rstrip("/") for u in base_url.split(",") if u.strip()]
        self.url = self.roots[0] + "/chat/completions"
        self._turn = itertools.cycle(range(len(self.roots)))
        self._lock = threading.Lock()
        self.usage: dict[str, int] = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self.name = f"openai:{model}@{base_url}"
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        key = os.environ.get("OPENAI_API_KEY", "") if api_key is None else api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=float(timeout), headers=headers)
        self._hf: Any = _load_hf_tokenizer(tokenizer) if tokenizer else None
        self.tokenizer: Tokenizer = HFTokenizer(self._hf) if self._hf else WhitespaceTokenizer()

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        """One stripped answer per request, in order; raises `BackendError` on failure."""
        return self._map(lambda r: self.complete(r.turns(), max_new_tokens), list(requests))

    def complete(self, turns: Sequence[Message], max_tokens: int) -> str:
        """One chat completion for these turns, with retries."""
        body = {"model": self.model, "temperature": 0, "max_tokens": max_tokens,
                "messages": [{"role": role, "content": text} for role, text in turns]}
        resp = self._post("/chat/completions", body)
        try:
            content = resp["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as e:
            raise BackendError(f"{self.url} sent an unexpected response: {str(resp)[:200]}") from e
        return (content or "").strip()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to the next URL in turn, with retries; the decoded JSON of a 200 answer."""
        with self._lock:
            url = self.roots[next(self._turn)] + path
        last, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt, retry_after))
            retry_after = None
            try:
                resp = self._client.post(url, json=body)
            except httpx.TransportError as e:  # connect refused, DNS, timeouts, reset
                last = f"{type(e).__name__}: {e}"
                continue
            if resp.status_code == 200:
                return self._decoded(url, resp)
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            retry_after = resp.headers.get("retry-after")
            if resp.status_code not in _RETRY_STATUS and resp.status_code < 500:
                raise BackendError(f"{url} refused the request ({last})")
        tries = self.max_retries + 1
        raise BackendError(f"{url} failed after {tries} attempt{'s' * (tries > 1)}: {last}")

    def _decoded(self, url: str, resp: httpx.Response) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError as e:
            raise BackendError(f"{url} sent an unexpected response: {resp.text[:200]}") from e
        if not isinstance(data, dict):
            raise BackendError(f"{url} sent an unexpected response: {resp.text[:200]}")
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        with self._lock:
            self.usage["requests"] += 1
            for k in ("prompt_tokens", "completion_tokens"):
                if isinstance(usage.get(k), int):
                    self.usage[k] += usage[k]
        return data

    def token_usage(self) -> dict[str, int]:
        return dict(self.usage)

    # -- scoring through /v1/completions --------------------------------------------
    @functools.cached_property
    def scores_text(self) -> bool:
        """Whether the server returns prompt log-probabilities aligned with their tokens
        (one probe request, once, formatted as the real prompts are, and whose answer is
        not empty, so that `_target_logprobs` can check the alignment): without them,
        gold-loglik is skipped and scoring label modes are refused."""
        try:
            self.continuation_logprob(self.scoring_text(_probe()), " 4, 5,",
                                      verify=True)
        except BackendError:
            return False
        return True

    def scoring_text(self, request: Request) -> str:
        """The text a completions endpoint scores: the turns through the chat template when
        a tokenizer with one was given, else the plain prompt."""
        if self._hf is not None and getattr(self._hf, "chat_template", None):
            turns = [{"role": role, "content": text} for role, text in request.turns()]
            return str(self._hf.apply_chat_template(turns, tokenize=False,
                                                    add_generation_prompt=True))
        return request.prompt

    def loglik(self, requests: Sequence[Request], targets: Sequence[str]) -> list[float]:
        """Sum of log p(target tokens | prompt) for each (request, target) pair."""
        if len(requests) != len(targets):
            raise ConfigError(f"loglik: {len(requests)} requests but {len(targets)} targets")
        if not self.scores_text:
            raise BackendError(f"{self.roots[0]}: {_NO_LOGPROBS}")
        pairs = [(self.scoring_text(r), t) for r, t in zip(requests, targets)]
        return self._map(lambda pair: self.continuation_logprob(*pair), pairs)

    def label_scores(self, requests: Sequence[Request], labels: Sequence[str]
                     ) -> list[list[float]]:
        """log p(label | prompt) for every label, per request (one request per pair)."""
        if not labels:
            raise ConfigError("label_scores needs at least one label")
        flat = self.loglik([r for r in requests for _ in labels], list(labels) * len(requests))
        n = len(labels)
        return [flat[i * n:(i + 1) * n] for i in range(len(requests))]

    def continuation_logprob(self, text: str, target: str, verify: bool = False) -> float:
        """log p(target | text) from the echoed log-probabilities of text + target;
        `verify`: refuse unless the echo proves its alignment (see `_target_logprobs`)."""
        if not target:
            return 0.0
        body = {"model": self.model, "prompt": text + target, "max_tokens": 1, "temperature": 0,
                "echo": True, "logprobs": 1}
        try:
            data = self._post("/completions", body)
        except BackendError as e:
            raise BackendError(f"{e}; {_NO_LOGPROBS}") from None
        try:
            lp = data["choices"][0]["logprobs"]
            tokens, values = list(lp["tokens"]), list(lp["token_logprobs"])
            generated = str(data["choices"][0]["text"])[len(text + target):]
            top = lp["top_logprobs"][-1] if tokens else None
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"{self.roots[0]} returned no prompt log-probabilities; "
                               f"{_NO_LOGPROBS}") from None
        if verify and not generated:
            raise BackendError(f"{self.roots[0]}: the alignment probe got an empty answer")
        return sum(_target_logprobs(tokens, values, top, generated, target, self.roots[0]))

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff, stretched to the server's numeric Retry-After if longer."""
        delay = self.backoff * 2 ** (attempt - 1)
        with contextlib.suppress(ValueError):  # an HTTP date: keep the exponential delay
            delay = max(delay, float(retry_after or 0))
        return min(30.0, delay)

    def close(self) -> None:
        self._client.close()


def _target_logprobs(tokens: list[str], values: list[float | None], top: Any,
                     generated: str, target: str, url: str) -> list[float]:
    """The target's token log-probabilities in an echo of ``text + target``, followed by
    the one generated token unless the model stopped at once (`generated` empty).

    Positions come from the echoed token strings counted back from the end, not from
    ``text_offset``: llama-cpp-python's server computes offsets on text rendered without
    special tokens, so they fall short of a chat prompt's real positions. A generated
    token must be the echo's last and the most likely at its position; where it is not,
    the log-probabilities are not aligned with the tokens (llama-cpp-python shifts them by
    one where the prompt does not start with the model's BOS token) and would be wrong, so
    they are refused. `OpenAIModel.scores_text` runs this check once on a probe whose
    answer is not empty.
    """
    if generated:
        aligned = bool(tokens) and tokens[-1] == generated and isinstance(top, dict) and \
            values[-1] is not None and values[-1] >= max(top.values()) - 1e-6
        if not aligned:
            raise BackendError(f"{url} returned log-probabilities not aligned with the "
                               f"echoed tokens; {_NO_LOGPROBS}")
        tokens, values = tokens[:-1], values[:-1]
    ends = list(itertools.accumulate(map(len, tokens)))
    start = (ends[-1] if ends else 0) - len(target)
    picked = [float(v) for end, tok, v in zip(ends, tokens, values)
              if end - len(tok) >= start and v is not None]
    if not picked or not "".join(tokens).endswith(target):
        raise BackendError(f"{url} returned no log-probabilities for the target; {_NO_LOGPROBS}")
    return picked


_NO_LOGPROBS = ("scoring through a server needs /v1/completions with echo and logprobs "
                "(vLLM; llama_cpp.server started with --logits_all true, for prompts that "
                "start with the model's BOS token, as SmolLM2's chat template does); use "
                "--label-mode "
                "generate and --no-gold-loglik with this server")


def _load_hf_tokenizer(folder: str) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise MissingExtraError("transformers", "local") from e
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


@MODELS.register("openai")
def openai_model(spec: str = "", **options: Any) -> OpenAIModel:
    """``openai:MODEL@BASE_URL`` (the URL part optional)."""
    model, _, base_url = spec.partition("@")
    return OpenAIModel(model, base_url or None, **options)


def _probe() -> Request:
    """The scoring probe, formatted as real prompts are (a task is not read by scoring)."""
    from ..tasks import get_task
    return Request(prompt="Count on: 1, 2, 3,", input="", retrieved=(), task=get_task("LaMP_7"))

"""Any OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp server...) as a backend.

Spec: ``openai:MODEL@BASE_URL``, e.g. ``openai:llama3@http://localhost:11434/v1``; without
``@BASE_URL`` it uses ``$OPENAI_BASE_URL`` or the OpenAI API. The key comes from
``$OPENAI_API_KEY`` (optional: local servers need none).

Each prompt is one chat completion (single user message, temperature 0). Requests run
concurrently on a thread pool because servers batch on their side and most of the time
is network wait. Connection errors, timeouts, HTTP 429 and 5xx are retried with
exponential backoff (honouring a numeric ``Retry-After``), since local servers restart
and hosted ones rate-limit; anything else fails at once. A failure raises
`BackendError` naming the URL and the last status.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import BackendError, ConfigError, MissingExtraError
from .base import MODELS, Request, Tokenizer, WhitespaceTokenizer

try:
    import httpx
except ImportError as e:  # pragma: no cover - depends on the install
    raise MissingExtraError("httpx", "openai") from e

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_RETRY_STATUS = {408, 409, 429}  # plus every 5xx


class OpenAIModel:
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
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.name = f"openai:{model}@{base_url}"
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff = float(backoff)
        key = os.environ.get("OPENAI_API_KEY", "") if api_key is None else api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=float(timeout), headers=headers)
        self.tokenizer: Tokenizer = _load_tokenizer(tokenizer) if tokenizer else WhitespaceTokenizer()

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        """One stripped answer per request, in order; raises `BackendError` on failure."""
        prompts = [r.prompt for r in requests]
        if len(prompts) <= 1 or self.concurrency == 1:
            return [self.complete(p, max_new_tokens) for p in prompts]
        with ThreadPoolExecutor(min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(lambda p: self.complete(p, max_new_tokens), prompts))

    def complete(self, prompt: str, max_tokens: int) -> str:
        """One chat completion for one prompt, with retries."""
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": 0, "max_tokens": max_tokens}
        last, retry_after = "", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._delay(attempt, retry_after))
            retry_after = None
            try:
                resp = self._client.post(self.url, json=body)
            except httpx.TransportError as e:  # connect refused, DNS, timeouts, reset
                last = f"{type(e).__name__}: {e}"
                continue
            if resp.status_code == 200:
                return self._content(resp)
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            retry_after = resp.headers.get("retry-after")
            if resp.status_code not in _RETRY_STATUS and resp.status_code < 500:
                raise BackendError(f"{self.url} refused the request ({last})")
        tries = self.max_retries + 1
        raise BackendError(f"{self.url} failed after {tries} attempt{'s' * (tries > 1)}: {last}")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff, stretched to the server's numeric Retry-After if longer."""
        delay = self.backoff * 2 ** (attempt - 1)
        with contextlib.suppress(ValueError):  # an HTTP date: keep the exponential delay
            delay = max(delay, float(retry_after or 0))
        return min(30.0, delay)

    def _content(self, resp: httpx.Response) -> str:
        try:
            content = resp.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise BackendError(f"{self.url} sent an unexpected response: {resp.text[:200]}") from e
        return (content or "").strip()

    def close(self) -> None:
        self._client.close()


def _load_tokenizer(folder: str) -> Tokenizer:
    try:
        from transformers import AutoTokenizer

        from .transformers_backend import HFTokenizer
    except ImportError as e:
        raise MissingExtraError("transformers", "local") from e
    return HFTokenizer(AutoTokenizer.from_pretrained(folder, local_files_only=True))


@MODELS.register("openai")
def openai_model(spec: str = "", **options: Any) -> OpenAIModel:
    """``openai:MODEL@BASE_URL`` (the URL part optional)."""
    model, _, base_url = spec.partition("@")
    return OpenAIModel(model, base_url or None, **options)

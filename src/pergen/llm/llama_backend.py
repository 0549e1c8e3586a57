"""GGUF models run by llama.cpp (``llama-cpp-python``): generation, label scores, log-likelihood.

llama.cpp computes on the quantized weights directly, so a GGUF model loads in about a
second and needs a quarter of the float32 memory the transformers backend de-quantizes to;
on 2 CPU cores it answers a HuffPost headline in about a third of the time (see
`bench/RESULTS.md`, "Engines").

Prompts go through the GGUF file's own chat template (the same Jinja template
transformers renders), so both engines see the same text. Requests run one at a time:
llama-cpp-python keeps one sequence, but its key/value cache is reused across calls for
the longest common token prefix, so scoring several labels after one prompt evaluates the
prompt once, and a generation that follows a scoring of the same prompt starts where the
scoring stopped.

Scoring asks llama.cpp for logits only at the positions that predict the scored tokens
(a per-token flag in the batch), instead of `logits_all`, which would allocate an
``n_ctx x vocabulary`` array (1.2 GB for Qwen's 152k-token vocabulary) and compute the
output layer for every prompt token.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..errors import ConfigError, MissingExtraError
from .base import DEVICES, MODELS, BaseGenerator, Request, Tokenizer

try:
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
except ImportError as e:  # pragma: no cover - depends on the install
    raise MissingExtraError("llama_cpp", "llama") from e


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class StateCache(llama_cpp.LlamaRAMCache):
    """llama-cpp-python's RAM cache of prompt states, with its size counted honestly.

    Each saved `LlamaState` carries a copy of the whole logits buffer (n_batch x n_vocab
    floats: 311 MB for the 1.5B model), which `LlamaRAMCache` leaves out of its size, so
    a 1 GB cache grew past 20 GB and was killed. The logits are never read back (a loaded
    state is re-evaluated at its last token before sampling, and `_logits` evaluates what
    it scores), so only the last row is kept, and every byte is counted.
    """

    def __setitem__(self, key: Sequence[int], value: Any) -> None:
        value.scores = value.scores[-1:].copy()
        super().__setitem__(key, value)

    @property
    def cache_size(self) -> int:
        return sum(s.llama_state_size + s.scores.nbytes + s.input_ids.nbytes
                   for s in self.cache_state.values())


class LlamaTokenizer:
    """The `Tokenizer` protocol over llama.cpp's tokenizer: plain text, no special tokens."""

    def __init__(self, llm: Any) -> None:
        self._llm = llm

    def encode(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(self._llm.detokenize(list(ids))).decode("utf-8", errors="replace")


class LlamaCppModel(BaseGenerator):
    """A GGUF file behind the `Generator` and `LabelScorer` protocols.

    Args:
        path: the ``.gguf`` file.
        name: the name reported in results (default ``gguf:PATH``).
        n_ctx: context length in tokens; prompts are cut to their budget before this.
        threads: CPU threads (default: every core this process may use).
        n_batch: tokens per decode call.
        cache_bytes: memory for saved prompt states (`LlamaRAMCache`, least recently used
            out first).
    """

    def __init__(self, path: str | Path, *, name: str | None = None, n_ctx: int = 4096,
                 threads: int | None = None, n_batch: int = 512, cache_bytes: int = 1 << 30,
                 device: str = "auto", **_ignored: Any) -> None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF file {path} does not exist")
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise ConfigError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
        self.name: str = name or f"gguf:{path}"
        self.engine = "llama.cpp"
        threads = threads or _cpu_count()
        self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_batch,
                                    n_threads=threads, n_threads_batch=threads,
                                    n_gpu_layers=_gpu_layers(device),
                                    logits_all=False, verbose=False)
        # States after each answer, so the gold-loglik pass after a batch of answers scores
        # each gold without evaluating its prompt again (a state is the KV cache: ~30 MB
        # for 1,000 tokens of the 1.5B model).
        self._llm.set_cache(StateCache(capacity_bytes=cache_bytes))
        self.tokenizer: Tokenizer = LlamaTokenizer(self._llm)
        self._n_vocab = int(self._llm.n_vocab())
        self._formatter = self._chat_formatter()

    def _chat_formatter(self) -> Jinja2ChatFormatter | None:
        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None  # a base model: it sees the raw prompt
        model = self._llm._model

        def text(token: int) -> str:
            return str(model.token_get_text(token)) if token != -1 else ""
        return Jinja2ChatFormatter(template, eos_token=text(self._llm.token_eos()),
                                   bos_token=text(self._llm.token_bos()))

    # -- prompt to ids --------------------------------------------------------------
    def prompt_ids(self, request: Request) -> list[int]:
        """Token ids the model sees for a request: its turns through the chat template,
        special tokens parsed (a base model reads the plain prompt)."""
        if self._formatter is None:
            return list(self._llm.tokenize(request.prompt.encode("utf-8"), add_bos=True,
                                           special=False))
        turns = [{"role": role, "content": text} for role, text in request.turns()]
        text = self._formatter(messages=turns).prompt  # type: ignore[arg-type]  # TypedDicts
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _check_fits(self, n: int) -> None:
        if n >= self._llm.n_ctx():
            raise ConfigError(f"{self.name}: a prompt of {n} tokens does not fit the context of "
                              f"{self._llm.n_ctx()} tokens; lower the prompt budget")

    # -- Generator ------------------------------------------------------------------
    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        """Greedy answers, stripped of surrounding whitespace, in request order."""
        out = []
        for r in requests:
            ids = self.prompt_ids(r)
            self._check_fits(len(ids) + max_new_tokens)
            res = cast(dict[str, Any], self._llm.create_completion(
                ids, max_tokens=max_new_tokens, temperature=0.0, top_k=1, top_p=1.0, min_p=0.0,
                repeat_penalty=1.0))  # not streamed: one response, not an iterator
            out.append(str(res["choices"][0]["text"]).strip())
        return out

    # -- scoring --------------------------------------------------------------------
    def loglik(self, requests: Sequence[Request], targets: Sequence[str]) -> list[float]:
        """Sum of log p(target tokens | prompt) for each (request, target) pair."""
        if len(requests) != len(targets):
            raise ConfigError(f"loglik: {len(requests)} requests but {len(targets)} targets")
        return [self._score(self.prompt_ids(r), self.tokenizer.encode(t))
                for r, t in zip(requests, targets)]

    def label_scores(self, requests: Sequence[Request], labels: Sequence[str]
                     ) -> list[list[float]]:
        """log p(label | prompt) for every label, per request; the prompt is evaluated once."""
        if not labels:
            raise ConfigError("label_scores needs at least one label")
        label_ids = [self.tokenizer.encode(lab) for lab in labels]
        out = []
        for r in requests:
            prompt = self.prompt_ids(r)
            out.append([self._score(prompt, c) for c in label_ids])
        return out

    def _score(self, prompt: list[int], cont: list[int]) -> float:
        if not cont:
            return 0.0
        seq = prompt + cont
        self._check_fits(len(seq))
        rows = self._logits(seq[:-1], first=len(prompt) - 1)
        logp = rows - _logsumexp(rows)
        return float(logp[np.arange(len(cont)), cont].sum())

    def _logits(self, tokens: list[int], first: int) -> np.ndarray:
        """Logits at positions ``first..len(tokens)-1``, evaluating only what the cache lacks."""
        llm = self._llm
        self._restore_longest(tokens[:first])
        keep = min(_common_prefix(llm.input_ids[:llm.n_tokens].tolist(), tokens), first)
        llm.n_tokens = keep
        llm._ctx.kv_cache_seq_rm(-1, keep, -1)
        batch, rows = llm._batch, []
        for start in range(keep, len(tokens), llm.n_batch):
            chunk = tokens[start:start + llm.n_batch]
            batch.set_batch(batch=chunk, n_past=start, logits_all=False)
            wanted = [j for j in range(len(chunk)) if start + j >= first]
            for j in range(len(chunk)):
                batch.batch.logits[j] = start + j >= first
            llm._ctx.decode(batch)
            llm.input_ids[start:start + len(chunk)] = chunk
            llm.n_tokens += len(chunk)
            rows += [np.ctypeslib.as_array(llm._ctx.get_logits_ith(j), shape=(self._n_vocab,))
                     .astype(np.float64) for j in wanted]
        return np.stack(rows)

    def _restore_longest(self, tokens: list[int]) -> None:
        """Load the saved state sharing the longest prefix with `tokens`, when it shares
        more than what the context holds now (as llama-cpp-python's completions do)."""
        llm = self._llm
        if llm.cache is None:
            return
        try:
            state = llm.cache[tokens]
        except KeyError:
            return
        if _common_prefix(state.input_ids.tolist(), tokens) > \
                _common_prefix(llm.input_ids[:llm.n_tokens].tolist(), tokens):
            llm.load_state(state)

    def close(self) -> None:
        self._llm.close()


def _gpu_layers(device: str) -> int:
    """Layers offloaded to the GPU: all of them where the build can (``auto`` and
    ``cuda``), none on ``cpu``; ``cuda`` on a CPU-only build is refused rather than
    silently run on the CPU."""
    if device not in DEVICES:
        raise ConfigError(f"device {device!r}: accepted {', '.join(DEVICES)}")
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    if device == "cuda" and not offload:
        raise ConfigError("device 'cuda': this llama-cpp-python was built for the CPU only; "
                          "rebuild it with CMAKE_ARGS=-DGGML_CUDA=on, or use the "
                          "transformers engine (NAME:transformers)")
    return -1 if offload and device != "cpu" else 0


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _logsumexp(rows: np.ndarray) -> np.ndarray:
    top = rows.max(axis=-1, keepdims=True)
    return top + np.log(np.exp(rows - top).sum(axis=-1, keepdims=True))


@MODELS.register("gguf")
def gguf_model(path: str = "", **options: Any) -> LlamaCppModel:
    """``gguf:PATH``: any local GGUF file, run by llama.cpp."""
    if not path:
        raise ConfigError("gguf needs a path: gguf:/path/to/model.gguf")
    return LlamaCppModel(path, **options)

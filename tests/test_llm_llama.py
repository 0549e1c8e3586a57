"""The llama.cpp engine on the real SmolLM2 GGUF, and scoring through a real
``llama_cpp.server`` on loopback (started here, as `.ci/run` expects)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import in_ci

from pergen.errors import BackendError, ConfigError
from pergen.llm import Request, embedded, get_model
from pergen.llm.base import choose
from pergen.llm.gguf import assemble_gguf
from pergen.tasks import get_task, load_task_file


def _need_llama() -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        if in_ci():
            pytest.fail("llama-cpp-python is not installed; CI=true requires it", pytrace=False)
        pytest.skip("llama-cpp-python is not installed: pip install 'pergen[llama]'")


TASK = get_task("LaMP_4")


def req(prompt: str, task: Any = TASK) -> Request:
    return Request(prompt=prompt, input=prompt, retrieved=(), task=task)


@pytest.fixture(scope="module")
def smol_gguf() -> Path:
    _need_llama()
    try:
        return embedded.embedded_gguf("smollm2")
    except ConfigError as e:
        pytest.skip(f"smollm2 unavailable: {e}")


@pytest.fixture(scope="module")
def smol(smol_gguf: Path) -> Any:
    return get_model("smollm2:llama.cpp")


@pytest.fixture(scope="module")
def tweet_requests(tweets: Path, tweet_task_path: Path) -> list[Request]:
    task = load_task_file(tweet_task_path)
    qs = json.loads((tweets / "dev_questions.json").read_text(encoding="utf-8"))[:6]
    return [req(q["input"], task) for q in qs]


# -- assembling chunked models (no llama.cpp needed) -----------------------------------
def test_assemble_checks_size_and_checksum_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    import hashlib

    monkeypatch.setenv("PERGEN_CACHE", str(tmp_path / "cache"))
    parts = []
    for i, chunk in enumerate([b"GGUF1234", b"abcd", b"xyz"]):
        parts.append(tmp_path / f"part{i}.bin")
        parts[-1].write_bytes(chunk)
    whole = b"GGUF1234abcdxyz"
    good = hashlib.sha256(whole).hexdigest()
    with pytest.raises(ConfigError, match="15 bytes, expected 16"):
        assemble_gguf(parts, "m", size=16)
    with pytest.raises(ConfigError, match="checksum"):
        assemble_gguf(parts, "m", size=15, sha256="0" * 64)
    assert not list((tmp_path / "cache" / "models").iterdir())  # no partial file left
    path = assemble_gguf(parts, "m", size=15, sha256=good)
    assert path.read_bytes() == whole
    assert assemble_gguf(parts, "m", size=15, sha256=good) == path  # joined once


# -- the engine on the real model ----------------------------------------------------
@pytest.mark.slow
def test_named_engines_and_refusals(smol):
    assert smol.name == "smollm2:llama.cpp" and smol.engine == "llama.cpp"
    with pytest.raises(ConfigError, match="unknown engine 'vllm'"):
        get_model("smollm2:vllm")
    with pytest.raises(ConfigError, match="not a GGUF file"):
        get_model(f"gguf:{Path(__file__)}")


@pytest.mark.slow
def test_generation_is_greedy_and_deterministic(smol, huffpost):
    qs = json.loads((huffpost / "dev_questions.json").read_text(encoding="utf-8"))[:2]
    reqs = [req(q["input"]) for q in qs]
    first = smol.generate(reqs, max_new_tokens=20)
    assert all(a and a == a.strip() for a in first)
    assert smol.generate(list(reversed(reqs)), max_new_tokens=20) == list(reversed(first))
    # Saved prompt states keep one logits row and count every byte (llama-cpp-python's
    # own count leaves out a copy of the whole logits buffer per state).
    cache = smol._llm.cache
    states = list(cache.cache_state.values())
    assert states and all(s.scores.shape[0] == 1 for s in states)
    assert cache.cache_size == sum(s.llama_state_size + s.scores.nbytes + s.input_ids.nbytes
                                   for s in states) <= cache.capacity_bytes


@pytest.mark.slow
def test_loglik_equals_a_direct_all_logits_computation(smol, smol_gguf):
    """The selective-logits path (with its prefix cache) against llama.cpp computing every
    position's logits in one pass on a fresh context."""
    import llama_cpp

    prompt, target = "Write a headline about cats:", " Cats rule the internet"
    got = smol.loglik([req(prompt), req(prompt)], [target, target + " again"])
    ref = llama_cpp.Llama(model_path=str(smol_gguf), n_ctx=512, logits_all=True, verbose=False)
    for value, tgt in zip(got, [target, target + " again"]):
        p, c = smol.prompt_ids(req(prompt)), smol.tokenizer.encode(tgt)
        ref.reset()
        ref.eval(p + c)
        rows = np.asarray(ref.scores[len(p) - 1:len(p) + len(c) - 1], dtype=np.float64)
        logp = rows - np.log(np.exp(rows - rows.max(1, keepdims=True)).sum(1, keepdims=True)) \
            - rows.max(1, keepdims=True)
        direct = float(logp[np.arange(len(c)), c].sum())
        assert value == pytest.approx(direct, abs=2e-3)
    ref.close()


@pytest.mark.slow
def test_label_scores_match_loglik_and_ignore_cache_order(smol, tweet_requests):
    labels = ["[1]", "[2]"]
    scores = smol.label_scores(tweet_requests, labels)
    again = smol.label_scores(list(reversed(tweet_requests)), list(reversed(labels)))
    for s, t in zip(scores, reversed(again)):
        assert s == pytest.approx(list(reversed(t)), abs=1e-3)
    flat = smol.loglik([tweet_requests[0]] * 2, labels)
    assert flat == pytest.approx(scores[0], abs=1e-3)
    assert all(v < 0 for s in scores for v in s)


# -- scoring through a real server on loopback ---------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(gguf: Path, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
           "--port", str(port), "--model_alias", "smollm2", "--n_ctx", "2048", *extra]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        return proc, _wait_ready(f"http://127.0.0.1:{port}/v1", proc, log)
    except RuntimeError:
        proc.kill()
        raise


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None,
                log: Path | None = None) -> str:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:] if log else ''}")
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no llama.cpp server answered at {url} within 120 s")


@pytest.fixture(scope="module")
def server(smol_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama_cpp.server with the SmolLM2 GGUF, answering log-probabilities: the one
    `.ci/run` started ($PERGEN_TEST_LLAMA_URL), or one started here."""
    pytest.importorskip("httpx")
    if os.environ.get("PERGEN_TEST_LLAMA_URL"):
        yield _wait_ready(os.environ["PERGEN_TEST_LLAMA_URL"])
        return
    proc, url = _start_server(smol_gguf, tmp_path_factory.mktemp("srv") / "server.log",
                              "--logits_all", "true")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def chat_tokenizer() -> str:
    pytest.importorskip("transformers")
    try:
        return str(embedded.embedded_model_path("smollm2"))  # the same chat template
    except ConfigError as e:
        pytest.skip(f"smollm2 unavailable: {e}")


@pytest.mark.slow
def test_server_scores_choose_what_the_local_engine_chooses(server, smol, chat_tokenizer,
                                                            tweet_requests):
    remote = get_model(f"openai:smollm2@{server}", tokenizer=chat_tokenizer)
    labels = ["[1]", "[2]"]
    local_scores = smol.label_scores(tweet_requests, labels)
    remote_scores = remote.label_scores(tweet_requests, labels)
    assert choose(remote, tweet_requests, labels) == choose(smol, tweet_requests, labels)
    for a, b in zip(local_scores, remote_scores):
        assert a == pytest.approx(b, abs=0.05)
    target = "Obama wins again"
    assert remote.loglik(tweet_requests[:1], [target])[0] == pytest.approx(
        smol.loglik(tweet_requests[:1], [target])[0], abs=0.1)
    assert remote.usage["requests"] >= 2 * len(tweet_requests)


@pytest.mark.slow
def test_server_without_logprobs_is_refused_clearly(smol_gguf, tmp_path):
    pytest.importorskip("httpx")
    proc, url = _start_server(smol_gguf, tmp_path / "server.log")
    try:
        remote = get_model(f"openai:smollm2@{url}", max_retries=0)
        with pytest.raises(BackendError, match="echo and logprobs"):
            remote.loglik([req("Say hi")], ["hi"])
        assert remote.generate([req("Say hi")], max_new_tokens=4)[0]  # generation still works
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_device_cuda_is_refused_on_a_cpu_build() -> None:
    _need_llama()
    import llama_cpp

    from pergen.llm.llama_backend import _gpu_layers

    assert _gpu_layers("cpu") == 0
    with pytest.raises(ConfigError, match="accepted auto, cpu, cuda"):
        _gpu_layers("tpu")
    if llama_cpp.llama_supports_gpu_offload():
        assert _gpu_layers("cuda") == -1
    else:
        assert _gpu_layers("auto") == 0
        with pytest.raises(ConfigError, match="built for the CPU only"):
            _gpu_layers("cuda")


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["LaMP_4", "LaMP_3", "LaMP_2"])
def test_chat_turns_go_through_the_models_own_template(smol: Any, task_name: str) -> None:
    """Each task kind's chat prompt (generation, rating, label) reaches the model as the
    GGUF's ChatML turns, in order, with the generation prompt last."""
    from pergen.data.records import ProfileItem
    from pergen.prompts import PromptOptions
    from pergen.prompts.chat import build_chat

    task = get_task(task_name)
    fields = {f: f"{f} value" for f in (*task.input_fields, *task.output_fields)}
    turns = build_chat(task, "question text", [ProfileItem("0", fields, 0)],
                       smol.tokenizer, PromptOptions(k=1))
    text = smol._llm.detokenize(smol.prompt_ids(Request(
        prompt="", input="", retrieved=(), task=task, messages=turns)), special=True).decode()
    expected = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
    assert text == expected + "<|im_start|>assistant\n"

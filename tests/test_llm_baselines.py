"""`knn` and `copy-input` on the shared HuffPost data, plus the model registry's lookup."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pergen.data.lamp import load_questions
from pergen.errors import ConfigError
from pergen.llm import MODELS, Generator, Request, WhitespaceTokenizer, get_model
from pergen.tasks import get_task

TASK = get_task("LaMP_4")


@pytest.fixture(scope="module")
def requests_(huffpost: Path) -> list[Request]:
    qs = load_questions(huffpost / "dev_questions.json", limit=3)
    # "retrieved": the two newest profile items, enough to check which one knn answers with
    return [Request(q.input, q.input, tuple(q.profile[-2:][::-1]), TASK) for q in qs]


def test_knn_answers_with_top_item_output(requests_):
    model = get_model("knn")
    answers = model.generate(requests_, max_new_tokens=32)
    assert answers == [r.retrieved[0].get("title") for r in requests_]
    assert all(answers)
    empty = Request("p", "i", (), TASK)
    assert model.generate([empty], 32) == [""]


def test_copy_input_answers_with_query(requests_):
    answers = get_model("copy-input").generate(requests_, max_new_tokens=32)
    for r, a in zip(requests_, answers):
        assert a and not a.startswith("Generate a headline")
        assert r.input.endswith(a)


def test_baselines_follow_the_protocol_and_ignore_model_options():
    for name in ("knn", "copy-input"):
        model = get_model(name, batch_size=4)
        assert isinstance(model, Generator) and model.name == name
        assert isinstance(model.tokenizer, WhitespaceTokenizer)
    with pytest.raises(ConfigError):
        get_model("knn:3")


def test_registry_lists_every_builtin_without_importing_torch():
    assert {"smollm2", "hf", "openai", "knn", "copy-input", "gemma3-270m",
            "qwen2.5-coder-0.5b"} <= set(MODELS.names())
    with pytest.raises(ConfigError, match="accepted: .*smollm2"):
        get_model("no-such-model")


def test_missing_torch_fails_only_when_a_local_model_is_asked(monkeypatch):
    from pergen.errors import MissingExtraError
    from pergen.registry import ModelFacts, Registry

    monkeypatch.setitem(sys.modules, "pergen.llm.fake_heavy", None)  # import -> ImportError
    models: Registry[object, ModelFacts] = Registry("model", "pergen.none", ModelFacts)
    models.register_lazy("fake", "pergen.llm.fake_heavy", "transformers", "local", local=True)
    assert models.facts("fake").local and MODELS.facts("hf").extra == "local"
    with pytest.raises(MissingExtraError, match=r"pergen\[local\]"):
        models.create("fake")

"""Per-item feedback on real data: values, store keys and resuming a killed run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from pergen.errors import ConfigError, DataError
from pergen.evaluation.metrics import rouge1_per_example
from pergen.llm import get_model
from pergen.llm.base import BaseGenerator, Request
from pergen.tasks import get_task
from pergen.training.feedback import FeedbackStore, collect_feedback


class Counting(BaseGenerator):
    """A real backend that counts the prompts it answers and can die after N calls."""

    def __init__(self, inner: object, die_after: int | None = None) -> None:
        self.inner, self.die_after = inner, die_after
        self.name, self.tokenizer = inner.name, inner.tokenizer  # type: ignore[attr-defined]
        self.calls = self.prompts = 0

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        if self.die_after is not None and self.calls >= self.die_after:
            raise KeyboardInterrupt  # what Ctrl-C or a kill does mid-run
        self.calls += 1
        self.prompts += len(requests)
        return self.inner.generate(requests, max_new_tokens)  # type: ignore[attr-defined]


def _collect(huffpost: Path, out: Path, model: object, **kw: object) -> FeedbackStore:
    options = {"retriever": "bm25", "depth": 4, "limit": 6, "questions_per_step": 2,
               "progress": False, **kw}
    return collect_feedback(huffpost, "train", out, model=model, **options)  # type: ignore[arg-type]


def test_metric_feedback_scores_each_item_alone(huffpost: Path, tmp_path: Path) -> None:
    from pergen.data import lamp

    store = _collect(huffpost, tmp_path / "fb", get_model("knn"))
    golds = lamp.load_outputs(lamp.outputs_path(huffpost, "train")).by_id
    groups = store.by_question()
    assert len(groups) == 6 and all(len(ps) == 4 for ps in groups.values())
    pairs = store.pairs()
    # knn answers with the one item's own headline: the feedback is its ROUGE-1 with the gold
    expected = rouge1_per_example([p.output or "" for p in pairs], [golds[p.question] for p in pairs])
    assert [p.value for p in pairs] == pytest.approx(expected)
    assert len({p.value for p in pairs}) > 3  # items really differ
    assert [p.rank for p in next(iter(groups.values()))] == [0, 1, 2, 3]
    assert all(p.doc and p.query for p in pairs)
    assert store.key.signal == "metric" and store.key.retriever == "bm25" and store.key.depth == 4


def test_killed_run_resumes_without_recomputing(huffpost: Path, tmp_path: Path) -> None:
    knn = get_model("knn")
    dying = Counting(knn, die_after=1)
    with pytest.raises(KeyboardInterrupt):
        _collect(huffpost, tmp_path / "fb", dying)
    assert len(FeedbackStore(tmp_path / "fb").done()) == 8  # the first step: 2 questions x 4
    resumed = Counting(knn)
    store = _collect(huffpost, tmp_path / "fb", resumed)
    assert resumed.prompts == 24 - 8  # only the pairs not stored yet
    clean = _collect(huffpost, tmp_path / "clean", knn)
    assert store.values() == clean.values()
    again = Counting(knn)
    _collect(huffpost, tmp_path / "fb", again)
    assert again.prompts == 0


def test_store_refuses_other_producers(huffpost: Path, tmp_path: Path) -> None:
    _collect(huffpost, tmp_path / "fb", get_model("knn"))
    with pytest.raises(ConfigError, match="holds feedback from"):
        _collect(huffpost, tmp_path / "fb", get_model("copy-input"))
    with pytest.raises(ConfigError, match="holds feedback from"):
        _collect(huffpost, tmp_path / "fb", get_model("knn"), depth=5)
    with pytest.raises(ConfigError, match="not a feedback store"):
        FeedbackStore(tmp_path / "nothing")


def test_bad_settings_are_refused(huffpost: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="signal"):
        _collect(huffpost, tmp_path / "a", get_model("knn"), signal="vibes")
    with pytest.raises(ConfigError, match="signal loglik needs a model that scores"):
        _collect(huffpost, tmp_path / "b", get_model("knn"), signal="loglik")


def test_union_of_retrievers_and_short_profiles(huffpost: Path, tmp_path: Path) -> None:
    store = _collect(huffpost, tmp_path / "fb", get_model("knn"), retriever=["bm25", "recency"],
                     depth=2, limit=3)
    groups = store.by_question()
    assert all(2 <= len(ps) <= 4 for ps in groups.values())
    assert store.key.retriever == "bm25|recency"
    deep = _collect(huffpost, tmp_path / "deep", get_model("knn"), depth=10_000, limit=2)
    from pergen.data import lamp
    questions = lamp.load_questions(lamp.questions_path(huffpost, "train"), 2)
    assert [len(ps) for ps in deep.by_question().values()] == [len(q.profile) for q in questions]


@pytest.mark.slow
def test_loglik_signal_with_the_embedded_model(huffpost: Path, tmp_path: Path) -> None:
    model = get_model("smollm2")
    store = _collect(huffpost, tmp_path / "fb", model, signal="loglik", limit=1)
    pairs = store.pairs()
    assert len(pairs) == 4 and all(p.output is None for p in pairs)
    # mean log-probability per gold token: negative, finite, and different per item
    assert all(-20 < p.value < 0 and math.isfinite(p.value) for p in pairs)
    assert len({round(p.value, 4) for p in pairs}) == 4
    assert get_task("LaMP_4").name == store.key.task


def test_chat_prompts_for_the_feedback_of_a_chat_model(huffpost: Path, tmp_path: Path) -> None:
    """`--prompt-style chat`: each item alone becomes one demonstration turn pair before the
    question, and the store says which style produced its values."""
    seen: list[Request] = []

    class Recording(Counting):
        def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
            seen.extend(requests)
            return super().generate(requests, max_new_tokens)

    knn = get_model("knn")
    _collect(huffpost, tmp_path / "paper", knn, limit=2)
    store = _collect(huffpost, tmp_path / "chat", Recording(knn), limit=2, prompt_style="chat")
    assert len(store.pairs()) == 8 and len(seen) == 8
    for request in seen:
        roles = [role for role, _ in request.messages]
        assert roles == ["system", "user", "assistant", "user"]  # one item: one demonstration
        assert request.messages[-1][1] == request.input
    assert store.key.template != FeedbackStore(tmp_path / "paper").key.template
    with pytest.raises(ConfigError, match="holds feedback from"):
        _collect(huffpost, tmp_path / "paper", knn, limit=2, prompt_style="chat")


def test_values_carry_a_store_without_its_text(huffpost: Path, tmp_path: Path) -> None:
    from pergen.training.feedback_values import load_values, save_values

    knn = get_model("knn")
    store = _collect(huffpost, tmp_path / "fb", knn, limit=4)
    assert save_values(tmp_path / "fb", tmp_path / "values.jsonl") == 16
    saved = (tmp_path / "values.jsonl").read_text(encoding="utf-8")
    texts = {t for p in store.pairs() for t in (p.query, p.doc)}
    assert not any(t in saved for t in texts)  # ids and numbers only
    # a fresh machine: the store rebuilt from the values and the data set
    assert load_values(tmp_path / "values.jsonl", tmp_path / "copy", huffpost, "train") == 16
    copy = FeedbackStore(tmp_path / "copy")
    assert copy.key == store.key
    strip = [(p.question, p.item, p.rank, p.value, p.query, p.doc) for p in store.pairs()]
    assert [(p.question, p.item, p.rank, p.value, p.query, p.doc) for p in copy.pairs()] == strip
    resumed = Counting(knn)
    _collect(huffpost, tmp_path / "copy", resumed, limit=6)
    assert resumed.prompts == 8  # only the two questions the values did not hold
    # a values file from other data is refused before the store is written
    other = tmp_path / "other.jsonl"
    other.write_text(saved.replace(store.pairs()[0].question, "no-such-question"), encoding="utf-8")
    with pytest.raises(DataError, match="no-such-question.*not in the train split") as e:
        load_values(other, tmp_path / "never", huffpost, "train")
    assert e.value.record == "line 2" and not (tmp_path / "never").exists()


@pytest.mark.slow
def test_values_carry_a_per_retriever_store(huffpost: Path, tmp_path: Path) -> None:
    """RSPG's loglik store: each record's document is a whole prompt, rebuilt from the
    store's retrievers and model; other prompt settings are refused before writing."""
    from pergen.training.feedback import collect_retriever_feedback
    from pergen.training.feedback_values import load_values, save_values

    store = collect_retriever_feedback(huffpost, "train", tmp_path / "fb", ["none", "bm25"],
                                       model="smollm2", k=2, limit=2, signal="loglik",
                                       progress=False)
    assert save_values(tmp_path / "fb", tmp_path / "values.jsonl") == 4
    assert load_values(tmp_path / "values.jsonl", tmp_path / "copy", huffpost, "train") == 4
    copy = FeedbackStore(tmp_path / "copy")
    fields = [(p.question, p.item, p.rank, p.value, p.query, p.doc) for p in store.pairs()]
    assert copy.key == store.key
    assert [(p.question, p.item, p.rank, p.value, p.query, p.doc) for p in copy.pairs()] == fields
    docs = {(p.question, p.item): p.doc for p in copy.pairs()}
    for q in {p.question for p in copy.pairs()}:  # bm25's prompt: no-profile prompt + items
        assert len(docs[q, "bm25"]) > len(docs[q, "none"])
    with pytest.raises(ConfigError, match="differ from the collection's"):
        load_values(tmp_path / "values.jsonl", tmp_path / "never", huffpost, "train",
                    max_length=256)
    assert not (tmp_path / "never").exists()


class Recording(Counting):
    """Counting, and keeps every prompt it was asked to answer."""

    def __init__(self, inner: object) -> None:
        super().__init__(inner)
        self.seen: list[str] = []

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        self.seen += [r.prompt for r in requests]
        return super().generate(requests, max_new_tokens)


def test_item_after_the_question_shares_the_prompt_start(huffpost: Path, tmp_path: Path) -> None:
    before, after = Recording(get_model("knn")), Recording(get_model("knn"))
    a = _collect(huffpost, tmp_path / "before", before, limit=2)
    b = _collect(huffpost, tmp_path / "after", after, limit=2, position="after")
    assert a.key != b.key  # a store never mixes the two prompts
    groups = [after.seen[i:i + 4] for i in (0, 4)]  # 2 questions x depth 4, in order
    for prompts in groups:
        start = prompts[0][:prompts[0].index("For reference")]
        assert len(start) > 40 and all(p.startswith(start) for p in prompts)
    assert not any(p.startswith(before.seen[0][:40]) for p in before.seen[1:4])
    assert {p.item for p in a.pairs()} == {p.item for p in b.pairs()}

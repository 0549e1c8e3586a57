"""Preference summaries: what the stats summarizer says, the llm summarizer's prompt, the
cache (computed once, resumable) and the summary's place in the prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic import FakeLM
from typer.testing import CliRunner

from pergen.cli import app
from pergen.data.records import ProfileItem
from pergen.errors import ConfigError
from pergen.llm.base import WhitespaceTokenizer
from pergen.memory.summaries import LLMSummarizer, StatsSummarizer, SummaryCache
from pergen.prompts.templates import PromptOptions, build_prompt
from pergen.run.pipeline import evaluate
from pergen.tasks import get_task


def tags(user: str, labels: list[str]) -> list[ProfileItem]:
    return [ProfileItem(f"{user}{i}", {"description": f"film {i} of {user}", "tag": t,
                                       "date": f"2020-01-{i + 1:02d}"})
            for i, t in enumerate(labels)]


def headlines(words: list[str]) -> list[ProfileItem]:
    return [ProfileItem(str(i), {"title": w, "text": "t", "date": f"2020-01-{i + 1:02d}"})
            for i, w in enumerate(words)]


def test_stats_summary_by_hand() -> None:
    task = get_task("LaMP_2")
    a = tags("a", ["comedy", "comedy", "action", "comedy"])
    b = tags("b", ["action"])
    text = StatsSummarizer(task, [a, b]).summarize([a])[0]
    assert text.startswith("labels comedy 75%, action 25%")
    assert "typically 1 words long" in text
    assert "words they use more than others: comedy" in text  # action is shared with b
    assert 'recent examples: "comedy"; "action"' in text  # the two newest
    ratings = [ProfileItem(str(i), {"text": "r", "score": s}) for i, s in enumerate("5545")]
    assert "ratings average 4.8" in StatsSummarizer(get_task("LaMP_3"), [ratings]).summarize(
        [ratings])[0]
    assert StatsSummarizer(task, [a]).summarize([[]]) == [""]


def test_llm_summarizer_shows_outputs_newest_first() -> None:
    task = get_task("LaMP_4")
    model = FakeLM()
    summarizer = LLMSummarizer(task, model, summary_tokens=12)
    prompt = summarizer._prompt(headlines(["oldest one", "middle one", "newest one"]))
    assert prompt.index("newest one") < prompt.index("middle one") < prompt.index("oldest one")
    assert prompt.startswith("Here are texts this user wrote") and "Description:" in prompt
    assert summarizer.name == "llm:fake:12"
    labelled = LLMSummarizer(get_task("LaMP_2"), model)._prompt(tags("a", ["comedy"]))
    assert "- comedy: film 0 of a" in labelled  # output first, then what it labelled


def test_summary_goes_before_the_items_within_the_budget() -> None:
    task, tok = get_task("LaMP_4"), WhitespaceTokenizer()
    items = headlines(["alpha news"])
    both = build_prompt(task, "Generate a headline for: x", items, tok, summary="likes alpha")
    assert both.startswith('About this user: likes alpha. "alpha news" is the title for')
    alone = build_prompt(task, "Generate a headline for: x", [], tok, summary="likes alpha")
    assert alone == "About this user: likes alpha. Generate a headline for: x"
    long = " ".join(f"w{i}" for i in range(500))
    cut = build_prompt(task, "in", items, tok, PromptOptions(max_length=64), summary=long)
    assert len(cut.split()) <= 64 and "alpha" in cut  # the items keep their share


def test_summaries_are_computed_once_and_resume(synthetic, tmp_path: Path) -> None:
    data = synthetic("generation", users=3, per_user=2)
    cache_dir = tmp_path / "summaries"
    model = FakeLM()
    runs = evaluate(data, "dev", ["bm25"], tmp_path / "a", model=model, memory="summary+items",
                    summarizer="llm", summaries_dir=cache_dir, progress=False)
    counts = json.loads((tmp_path / "a" / "summaries.json").read_text())
    assert (counts["computed"], counts["reused"]) == (3, 0)  # one per user
    assert model.calls == 3 + 6  # 3 summaries, 6 answers
    journal = (tmp_path / "a" / "bm25" / "journal.jsonl").read_text()
    assert "About this user:" in journal
    again = evaluate(data, "dev", ["none"], tmp_path / "b", model=FakeLM(),
                     memory="summary", summarizer="llm", summaries_dir=cache_dir,
                     progress=False)
    counts = json.loads((tmp_path / "b" / "summaries.json").read_text())
    assert (counts["computed"], counts["reused"]) == (0, 3)
    assert set(again["none"].predictions) == set(runs["bm25"].predictions)


def test_an_interrupted_summarize_loses_nothing(synthetic, tmp_path: Path) -> None:
    task = get_task("LaMP_4")

    class Dies(FakeLM):
        def generate(self, requests, max_new_tokens):  # type: ignore[no-untyped-def]
            if self.calls >= 2:
                raise KeyboardInterrupt
            return super().generate(requests, max_new_tokens)

    profiles = [headlines([f"topic{u} a", f"topic{u} b"]) for u in range(5)]
    cache = SummaryCache(tmp_path / "c")
    with pytest.raises(KeyboardInterrupt):
        cache.summaries(LLMSummarizer(task, Dies()), task, profiles, batch_size=2)
    assert cache.computed == 2
    rest = SummaryCache(tmp_path / "c")
    out = rest.summaries(LLMSummarizer(task, FakeLM()), task, profiles, batch_size=2)
    assert (rest.computed, rest.reused) == (3, 2) and all(out)


def test_summarize_command_and_refusals(synthetic, tmp_path: Path) -> None:
    data = synthetic("label", users=2)
    result = CliRunner().invoke(app, ["summarize", "--data", str(data), "--summarizer", "stats",
                                      "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "2 computed, 0 reused" in result.output
    with pytest.raises(ConfigError, match="summarizer llm needs an LLM"):
        evaluate(data, "dev", ["bm25"], tmp_path / "o", model="knn", memory="summary",
                 summarizer="llm")
    with pytest.raises(ConfigError, match="memory 'notes' is not valid"):
        evaluate(data, "dev", ["bm25"], tmp_path / "o", model="knn", memory="notes")
    assert not (tmp_path / "o").exists()

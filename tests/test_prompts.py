"""Prompt building: Table-2 templates, the official token budget, views and position."""

from __future__ import annotations

from pathlib import Path

import pytest

from pergen.data.lamp import load_questions
from pergen.data.records import ProfileItem
from pergen.errors import ConfigError, TaskError
from pergen.llm.base import WhitespaceTokenizer
from pergen.prompts.templates import PromptOptions, build_prompt
from pergen.tasks import get_task

TOK = WhitespaceTokenizer()


def test_lamp4_template_exact() -> None:
    items = [ProfileItem("1", {"title": "T one", "text": "body one"}),
             ProfileItem("2", {"title": "T two", "text": "body two"})]
    prompt = build_prompt(get_task("LaMP_4"), "Generate a headline for the following article: X",
                          items, TOK)
    assert prompt == ('"T one" is the title for "body one", and "T two" is the title for '
                      '"body two". Generate a headline for the following article: X')


@pytest.mark.parametrize("task, item, expected", [
    ("LaMP_2", {"description": "d", "tag": "comedy"}, 'the tag for the movie: "d" is "comedy". IN'),
    ("LaMP_3", {"text": "good", "score": "5"}, '5 is the score for "good". IN'),
    ("LaMP_5", {"title": "T", "abstract": "A"}, '"T" is the title for "A". Following the given '
                                                'patterns IN'),
    ("LaMP_7", {"text": "tw"}, '"tw" are written by a person. Following the given patterns IN'),
])
def test_table2_templates(task: str, item: dict[str, str], expected: str) -> None:
    assert build_prompt(get_task(task), "IN", [ProfileItem("1", item)], TOK) == expected


def test_lamp1_inserts_after_title() -> None:
    text = 'For an author who has written the paper with the title "X", which reference?'
    prompt = build_prompt(get_task("LaMP_1"), text, [ProfileItem("1", {"title": "P", "abstract":
                                                                        "a"})], TOK)
    assert prompt == ('For an author who has written the paper with the title, and "P" "X", '
                      'which reference?')


def test_budget_truncates_and_rolls_over() -> None:
    """Budget 40, input 10 words: 30 left; share (30-1-4)//2 = 12 per item; fixed part of
    the LaMP-4 template with a 1-word title is 6 words, so item 1 keeps 6 words of text;
    item 2 has a 1-word text and leaves 5 words to nobody (rolled over)."""
    text = " ".join(["w"] * 10)
    long_item = ProfileItem("1", {"title": "T", "text": " ".join(f"a{i}" for i in range(50))})
    short_item = ProfileItem("2", {"title": "U", "text": "b"})
    prompt = build_prompt(get_task("LaMP_4"), text, [long_item, short_item], TOK,
                          PromptOptions(k=2, max_length=40))
    assert prompt.startswith('"T" is the title for "a0 a1 a2 a3 a4 a5", and "U" is the title '
                             'for "b". ')
    # the short item first: the long one inherits its unused share
    prompt2 = build_prompt(get_task("LaMP_4"), text, [short_item, long_item], TOK,
                           PromptOptions(k=2, max_length=40))
    assert '"a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 a10"' in prompt2


def test_real_prompts_fit_budget(huffpost: Path) -> None:
    task = get_task("LaMP_4")
    for q in load_questions(huffpost / "dev_questions.json", limit=20):
        prompt = build_prompt(task, q.input, q.profile[:4], TOK, PromptOptions(max_length=200))
        assert prompt.endswith(q.input)
        assert len(prompt.split()) <= max(200, len(q.input.split())) + 8


def test_views_and_position() -> None:
    task = get_task("LaMP_4")
    items = [ProfileItem("1", {"title": "T", "text": "body"})]
    assert build_prompt(task, "IN", items, TOK, PromptOptions(view="output-only")) == '"T". IN'
    assert build_prompt(task, "IN", items, TOK, PromptOptions(view="input-only")) == '"body". IN'
    after = build_prompt(task, "IN", items, TOK, PromptOptions(position="after"))
    assert after.startswith("IN\n") and '"T" is the title for "body"' in after
    with pytest.raises(TaskError, match="input-only"):
        build_prompt(get_task("LaMP_7"), "IN", [ProfileItem("1", {"text": "x"})], TOK,
                     PromptOptions(view="input-only"))
    with pytest.raises(ConfigError, match="view 'sideways' is not valid; accepted: full"):
        build_prompt(task, "IN", items, TOK, PromptOptions(view="sideways"))


def test_no_items_and_missing_field() -> None:
    assert build_prompt(get_task("LaMP_4"), "IN", [], TOK) == "IN"
    with pytest.raises(TaskError, match="'title'"):
        build_prompt(get_task("LaMP_4"), "IN", [ProfileItem("1", {"text": "x"})], TOK)

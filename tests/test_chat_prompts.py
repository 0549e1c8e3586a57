"""Chat prompts: the user's items as demonstration turns, rendered by the model's own chat
template, within the token budget; the same answers as the paper style without items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic import FakeLM

from pergen.data.records import ProfileItem
from pergen.errors import ConfigError
from pergen.llm import WhitespaceTokenizer
from pergen.prompts import PromptOptions
from pergen.prompts.chat import build_chat, render
from pergen.run.pipeline import evaluate
from pergen.tasks import get_task

HEADLINE = get_task("LaMP_4")
RATING = get_task("LaMP_3")
TWEETS = Path(__file__).resolve().parents[1] / "examples" / "tasks" / "tweet_authorship.toml"
ASK = "Generate a headline for the following article: markets fell sharply on friday"


def item(i: int, **fields: str) -> ProfileItem:
    return ProfileItem(id=str(i), fields=fields, position=i)


def test_items_with_an_input_part_become_demonstrations() -> None:
    items = [item(0, text="the senate passed the bill", title="Senate Passes Bill"),
             item(1, text="a storm hit the coast", title="Storm Hits Coast")]
    turns = build_chat(HEADLINE, ASK, items, WhitespaceTokenizer(), PromptOptions(k=2))
    roles = [r for r, _ in turns]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert turns[1] == ("user", "Generate a headline for the following article: the senate "
                                "passed the bill")
    assert turns[2] == ("assistant", "Senate Passes Bill")
    assert turns[-1] == ("user", ASK)
    assert "this user's own past work" in turns[0][1]


def test_a_rating_task_demonstrates_its_scores() -> None:
    ask = ("What is the score of the following review on a scale of 1 to 5? just answer with "
           "1, 2, 3, 4, or 5 without further explanation. review: not bad at all")
    turns = build_chat(RATING, ask, [item(0, text="great value", score="5")],
                       WhitespaceTokenizer(), PromptOptions(k=1))
    assert turns[1][1].endswith("review: great value") and turns[2] == ("assistant", "5")


def test_items_without_an_input_part_are_listed_in_the_system_message() -> None:
    task = get_task(str(TWEETS))
    ask = 'Which of the following two tweets was written by this user? [1]: "a" [2]: "b"'
    turns = build_chat(task, ask, [item(0, text="first tweet"), item(1, text="second tweet")],
                       WhitespaceTokenizer(), PromptOptions(k=2))
    assert [r for r, _ in turns] == ["system", "user"]
    assert turns[0][1].endswith("- first tweet\n- second tweet")


def test_the_budget_cuts_each_demonstrations_input() -> None:
    long = " ".join(f"w{i}" for i in range(500))
    items = [item(i, text=long, title=f"Title {i}") for i in range(4)]
    turns = build_chat(HEADLINE, ASK, items, WhitespaceTokenizer(), PromptOptions(k=4,
                                                                                 max_length=200))
    words = sum(len(text.split()) for role, text in turns if role != "system")
    assert words <= 200 and all(t[1].startswith("Title") for t in turns[2:-1:2])


def test_without_items_both_styles_ask_the_bare_question() -> None:
    turns = build_chat(HEADLINE, ASK, [], WhitespaceTokenizer(), PromptOptions())
    assert turns == (("user", ASK),) and render(turns) == ASK


def test_position_after_is_refused_in_chat() -> None:
    with pytest.raises(ConfigError) as e:
        build_chat(HEADLINE, ASK, [item(0, text="x", title="y")], WhitespaceTokenizer(),
                   PromptOptions(position="after"))
    assert e.value.option == "position"


def test_a_chat_run_journals_its_turns_and_keeps_the_paper_key(synthetic, tmp_path) -> None:
    data = synthetic("generation")
    evaluate(data, "dev", ["bm25"], tmp_path / "c", model=FakeLM(), prompt_style="chat",
             limit=3, progress=False)
    record = json.loads((tmp_path / "c" / "bm25" / "journal.jsonl").read_text().splitlines()[0])
    assert [turn[0] for turn in record["messages"]][:2] == ["system", "user"]
    assert json.loads((tmp_path / "c" / "bm25" / "run.json").read_text())["settings"][
        "prompt_style"] == "chat"
    evaluate(data, "dev", ["bm25"], tmp_path / "p", model=FakeLM(), limit=3, progress=False)
    assert "prompt_style" not in json.loads((tmp_path / "p" / "bm25" / "run.json").read_text())[
        "settings"]

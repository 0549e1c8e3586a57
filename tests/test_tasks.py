"""Task specs: built-in LaMP tasks, user task files and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pergen.data.lamp import load_questions
from pergen.data.records import ProfileItem
from pergen.errors import TaskError
from pergen.tasks import builtin_tasks, get_task, load_task_file


def test_builtins_and_aliases() -> None:
    names = set(builtin_tasks())
    assert {f"LaMP_{i}" for i in range(1, 8)} <= names and "LaMP_2_old" in names
    assert get_task("lamp-4") is get_task("LaMP_4") is get_task("4")
    assert get_task("LaMP_2").labels is not None and len(get_task("LaMP_2").labels) == 15
    assert get_task("lamp_2_old").name == "LaMP_2_old"


@pytest.mark.parametrize("task, text, query", [
    ("LaMP_2", "Which tag does this movie relate to among the following tags? Just answer with "
               "the tag name without further explanation. tags: [sci-fi, comedy] description: "
               "A man wakes up.", "A man wakes up."),
    ("LaMP_3", "What is the score of the following review on a scale of 1 to 5? just answer "
               "with 1, 2, 3, 4, or 5 without further explanation. review: Great pan.",
     "Great pan."),
    ("LaMP_6", "Generate a subject for the following email: Meeting at 5: bring notes",
     "Meeting at 5: bring notes"),
    ("LaMP_1", 'For an author who has written the paper with the title "X", which reference '
               'is related? Just answer with [1] or [2] without explanation. [1]: "A: b" '
               '[2]: "C "d""', 'A: b C "d"'),
])
def test_query_extraction(task: str, text: str, query: str) -> None:
    assert get_task(task).query(text) == query


def test_document_with_date() -> None:
    item = ProfileItem("p", {"title": "T", "text": "body", "date": "2020-01-02"})
    assert get_task("LaMP_4").document(item) == "T body"
    assert get_task("LaMP_4").document(item, with_date=True) == "T body date: 2020-01-02"


def test_tweet_task_file_runs_on_real_data(tweet_task_path: Path, tweets: Path) -> None:
    task = get_task(str(tweet_task_path))
    assert task.name == "tweet_authorship" and task.labels == ("[1]", "[2]")
    q = load_questions(tweets / "dev_questions.json", limit=1)[0]
    assert task.query(q.input) == ("Hey #Blacktivist! is my new prodject!\ufffd Follow me! F4f "
                                   "'@NOrleansDaily sometimes mother nature is very dangerous'")


@pytest.mark.parametrize("body, words", [
    ('item_template = "x"', ["missing required key", "prompt_template"]),
    ('item_template = "x"\nprompt_template = "$input"\ndocument_fields = ["t"]\n'
     'output_fields = ["t"]', ["$profile"]),
    ('item_template = "x"\nprompt_template = "$profile $input"\ndocument_fields = ["t"]\n'
     'output_fields = ["t"]\nmetrics = ["bleu"]', ["unknown metric", "bleu"]),
    ('item_template = "x"\nprompt_template = "$profile $input"\ndocument_fields = ["t"]\n'
     'output_fields = ["t"]\nmetrics = ["accuracy"]', ["labels"]),
    ('item_template = "x"\nprompt_template = "$profile $input"\ndocument_fields = "t"\n'
     'output_fields = ["t"]', ["document_fields", "list of strings"]),
    ('colour = 1', ["unknown keys", "colour"]),
    ('item_template = "x', ["invalid TOML"]),
    ('item_template = "x"\nprompt_template = "$profile $input"\ndocument_fields = ["t"]\n'
     'output_fields = ["t"]\nquery_regex = "("', ["query_regex"]),
])
def test_bad_task_files(tmp_path: Path, body: str, words: list[str]) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TaskError) as info:
        load_task_file(path)
    assert str(path) in str(info.value) or "mine" in str(info.value)
    for w in words:
        assert w in str(info.value)


def test_unknown_task_lists_known() -> None:
    with pytest.raises(TaskError, match="LaMP_4"):
        get_task("LaMP_9")

"""Tasks as data: a `TaskSpec` says how to query, how to prompt and how to score.

Built-in tasks (LaMP-1..7, LaMP-2's older news version, and the demo's chat task) live in
the ``*.toml`` files beside this file; users write the same keys in a TOML file of their own (see
``examples/tasks/tweet_authorship.toml``).
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ..data.records import ProfileItem
from ..errors import TaskError

PROFILE_VIEWS = ("full", "output-only", "input-only")
DEFAULT_SUMMARY_PROMPT = (
    "Here are texts this user wrote, newest first:\n$outputs\n\nIn one or two sentences, "
    "describe this user's topics, preferences and writing style.\nDescription:")
KNOWN_METRICS = ("accuracy", "f1", "mae", "rmse", "rouge-1", "rouge-L")
FEEDBACK_METRICS = ("accuracy", "rating_reward", "rouge-1", "rouge-L")


@dataclass(frozen=True)
class TaskSpec:
    """Everything pergen needs to know about a personalization task."""

    name: str
    item_template: str
    prompt_template: str
    document_fields: tuple[str, ...]
    output_fields: tuple[str, ...]
    input_fields: tuple[str, ...] = ()
    truncate_field: str | None = None
    query_after: str | None = None
    query_regex: str | None = None
    insert_after: str | None = None
    labels: tuple[str, ...] | None = None
    candidates_regex: str | None = None
    metrics: tuple[str, ...] = ("rouge-1", "rouge-L")
    feedback_metric: str = "rouge-1"
    max_new_tokens: int = 32
    description: str = ""
    summary_prompt: str = DEFAULT_SUMMARY_PROMPT  # the llm summarizer's prompt ($outputs)
    prompt_style: str = "paper"  # what --prompt-style auto uses: paper or chat
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _candidates: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for m in self.metrics:
            if m not in KNOWN_METRICS:
                raise TaskError(f"task {self.name}: unknown metric {m!r}; known: {KNOWN_METRICS}")
        if self.feedback_metric not in FEEDBACK_METRICS:
            raise TaskError(f"task {self.name}: unknown feedback_metric {self.feedback_metric!r};"
                            f" known: {FEEDBACK_METRICS}")
        if set(self.metrics) & {"accuracy", "f1"} and not self.labels:
            raise TaskError(f"task {self.name}: accuracy/f1 need a 'labels' list")
        for tpl, what in ((self.item_template, "item_template"),
                          (self.prompt_template, "prompt_template")):
            try:
                string.Template(tpl).get_identifiers()
            except ValueError as e:
                raise TaskError(f"task {self.name}: bad {what}: {e}") from e
        if "$profile" not in self.prompt_template and "${profile}" not in self.prompt_template:
            raise TaskError(f"task {self.name}: prompt_template must contain $profile")
        if self.query_regex:
            try:
                object.__setattr__(self, "_regex", re.compile(self.query_regex, re.DOTALL))
            except re.error as e:
                raise TaskError(f"task {self.name}: bad query_regex: {e}") from e
        if self.candidates_regex:
            # Candidate i of an input is answered by labels[i]: a choice task needs both.
            if not self.labels:
                raise TaskError(f"task {self.name}: candidates_regex needs a 'labels' list "
                                "(candidate i is answered by labels[i])")
            try:
                object.__setattr__(self, "_candidates",
                                   re.compile(self.candidates_regex, re.DOTALL))
            except re.error as e:
                raise TaskError(f"task {self.name}: bad candidates_regex: {e}") from e

    @property
    def is_classification(self) -> bool:
        return bool(self.labels)

    @property
    def kind(self) -> str:
        """generation (free text), choice (the input's candidates), rating (labels scored
        as numbers) or label (a closed label set)."""
        if not self.labels:
            return "generation"
        if self.candidates_regex:
            return "choice"
        return "rating" if {"mae", "rmse"} & set(self.metrics) else "label"

    def query(self, text: str) -> str:
        """The retrieval query: the non-instruction part of the input (the whole input when
        it lacks the task's query marker)."""
        marked = self.marked_query(text)
        return text.strip() if marked is None else marked

    def marked_query(self, text: str) -> str | None:
        """The part of the input the task's query marker picks out (`query_regex` matches,
        else the text after `query_after`); None when the task has a marker and the input
        lacks it, or when the task has none."""
        if self._regex is not None:
            found = self._regex.findall(text)
            if found:
                return " ".join(found)
        if self.query_after:
            head, sep, tail = text.partition(self.query_after)
            if sep:
                return tail.strip()
        return None

    @property
    def query_marker(self) -> str | None:
        """The task's query marker in words (for messages), or None when the whole input is
        the query by design."""
        markers = [f"query_regex {self.query_regex}" if self.query_regex else "",
                   repr(self.query_after) if self.query_after else ""]
        return " or ".join(m for m in markers if m) or None

    def candidates(self, text: str) -> list[str]:
        """The candidates an input offers, in order (candidate i is answered by labels[i]);
        empty when the task has no candidates_regex or the input matches none."""
        if self._candidates is None:
            return []
        return [c if isinstance(c, str) else c[0] for c in self._candidates.findall(text)]

    def document(self, item: ProfileItem, with_date: bool = False) -> str:
        """The text a retriever indexes for a profile item."""
        text = " ".join(item.get(f) for f in self.document_fields if item.get(f))
        if with_date and item.date:
            text = f"{text} date: {item.date}"
        return text

    def output_of(self, item: ProfileItem) -> str:
        """The user's own output in a profile item (the `knn` baseline answers with it)."""
        return " ".join(item.get(f) for f in self.output_fields if item.get(f))

    def item_fields(self, view: str) -> tuple[str, ...] | None:
        """Fields shown for an item in a profile view (None: the task's own template)."""
        if view == "full":
            return None
        if view == "output-only":
            return self.output_fields
        if view == "input-only":
            return self.input_fields
        raise TaskError(f"unknown profile view {view!r}; known: {PROFILE_VIEWS}")


def _from_mapping(name: str, raw: dict[str, Any], origin: str) -> TaskSpec:
    known = {f.name for f in fields(TaskSpec) if not f.name.startswith("_")}
    unknown = set(raw) - known
    if unknown:
        raise TaskError(f"{origin}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    data = dict(raw)
    data.setdefault("name", name)
    for key in ("document_fields", "output_fields", "input_fields", "labels", "metrics"):
        if key in data and data[key] is not None:
            if not isinstance(data[key], list) or not all(isinstance(x, str) for x in data[key]):
                raise TaskError(f"{origin}: {key!r} must be a list of strings")
            data[key] = tuple(data[key])
    for key in ("item_template", "prompt_template", "document_fields", "output_fields"):
        if key not in data:
            raise TaskError(f"{origin}: missing required key {key!r}")
    try:
        return TaskSpec(**data)
    except TypeError as e:
        raise TaskError(f"{origin}: {e}") from e


@cache
def builtin_tasks() -> dict[str, TaskSpec]:
    """Every table of every ``*.toml`` file in this package (LaMP, the demo task)."""
    tasks: dict[str, TaskSpec] = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            for name, raw in tomllib.loads(entry.read_text(encoding="utf-8")).items():
                tasks[name] = _from_mapping(name, raw, f"built-in task {name}")
    return tasks


def load_task_file(path: str | Path) -> TaskSpec:
    """Read a user-defined task from a TOML file (keys as in the built-in ``lamp.toml``)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError(f"task file {path}: cannot read: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise TaskError(f"task file {path}: invalid TOML: {e}") from e
    return _from_mapping(raw.get("name", path.stem), raw, f"task file {path}")


def get_task(name_or_path: str | Path) -> TaskSpec:
    """A built-in task by name (``LaMP_4``, ``lamp-4``, ``4``) or a task file by path."""
    key = str(name_or_path)
    tasks = builtin_tasks()
    normal = key.replace("-", "_").upper().replace("LAMP", "LaMP")
    for candidate in (key, normal, f"LaMP_{key}", normal.replace("_OLD", "_old")):
        if candidate in tasks:
            return tasks[candidate]
    if Path(key).suffix == ".toml" or Path(key).exists():
        return load_task_file(key)
    raise TaskError(f"unknown task {key!r}: give a built-in name ({', '.join(tasks)}) "
                    "or the path of a task .toml file")

"""Personalized prompts: the task's templates, k retrieved items and the token budget.

The budget rule is the official LaMP one (Salemi et al., 2023): the input keeps at most
60% of `max_length` tokens; the rest is split evenly over the k items, each item's long
field is truncated to its share, and a share an item does not use rolls over to the
next items. When even that leaves no room, the input's share shrinks by 10% steps; at 0
the prompt is the bare input.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from ..data.records import ProfileItem
from ..errors import ConfigError, TaskError, bad_choice
from ..llm.base import Tokenizer
from ..tasks import TaskSpec
from ..tasks.spec import PROFILE_VIEWS

POSITIONS = ("before", "after")
PROMPT_STYLES = ("auto", "paper", "chat")
"""paper: the paper's templates (Table 2); chat: the items as chat turns (`prompts.chat`);
auto: the task's own ``prompt_style`` (paper unless its task file says chat)."""
SUMMARY_LEAD = "About this user: "
_JOIN = ", and "


class _NoRoom(Exception):
    """The budget cannot fit one item's fixed part: retry with less room for the input."""


@dataclass(frozen=True)
class PromptOptions:
    """How to show the profile: k items, token budget, profile view and position."""

    k: int = 4
    max_length: int = 512
    view: str = "full"
    position: str = "before"
    prompt_style: str = "auto"

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ConfigError(f"{{option}} must be >= 0, got {self.k}", option="k")
        if self.max_length < 16:
            raise ConfigError(f"{{option}} must be >= 16 tokens, got {self.max_length}",
                              option="max_length")
        if self.view not in PROFILE_VIEWS:
            raise bad_choice("view", self.view, PROFILE_VIEWS)
        if self.position not in POSITIONS:
            raise bad_choice("position", self.position, POSITIONS)
        if self.prompt_style not in PROMPT_STYLES:
            raise bad_choice("prompt_style", self.prompt_style, PROMPT_STYLES)

    def check_task(self, task: TaskSpec) -> None:
        """Refuse a view the task cannot show (input-only where items have no input field)."""
        if self.view != "full" and not task.item_fields(self.view):
            raise ConfigError(f"{{option}} {self.view!r}: task {task.name} has no fields for "
                              "it (its items have no input part)", option="view")


def _item_template(task: TaskSpec, view: str) -> tuple[str, str | None]:
    """The per-item template and the field truncated to fit, for a profile view."""
    shown = task.item_fields(view)
    if shown is None:
        return task.item_template, task.truncate_field
    if not shown:
        raise TaskError(f"task {task.name} has no fields for the {view!r} profile view")
    template = " ".join(f'"${{{f}}}"' for f in shown)
    truncate = task.truncate_field if task.truncate_field in shown else shown[-1]
    return template, truncate


def _render(template: str, item: ProfileItem, override: dict[str, str]) -> str:
    values = {**item.fields, **override}
    try:
        return string.Template(template).substitute(values)
    except KeyError as e:
        raise TaskError(f"profile item {item.id} has no field {e.args[0]!r} that the task's "
                        f"template needs (template: {template!r})") from None


def render_items(task: TaskSpec, items: Sequence[ProfileItem], tokenizer: Tokenizer,
                 budget: int, view: str = "full") -> list[str]:
    """Each item through the template, its long field cut to its share of `budget` tokens."""
    template, truncate = _item_template(task, view)
    share = (budget - 1 - 2 * len(items)) // len(items)
    saved = 0
    rendered = []
    for item in items:
        if truncate is None:
            rendered.append(_render(template, item, {}))
            continue
        fixed = len(tokenizer.encode(_render(template, item, {truncate: ""})))
        room = share + saved - fixed
        if room <= 0:
            raise _NoRoom
        ids = tokenizer.encode(item.get(truncate))[:room]
        saved += share - len(ids) - fixed
        rendered.append(_render(template, item, {truncate: tokenizer.decode(ids).strip()}))
    return rendered


def _assemble(task: TaskSpec, text: str, joined: str, position: str) -> str:
    if position == "after":
        return f"{text}\nFor reference, earlier items of this user: {joined}."
    filled = string.Template(task.prompt_template).safe_substitute(profile=joined, input=text)
    if task.insert_after:
        at = text.find(task.insert_after)
        if at < 0:
            return text
        cut = at + len(task.insert_after)
        return text[:cut] + string.Template(task.prompt_template).safe_substitute(
            profile=joined, input="") + text[cut:]
    return filled


def build_prompt(task: TaskSpec, text: str, items: Sequence[ProfileItem], tokenizer: Tokenizer,
                 options: PromptOptions = PromptOptions(), summary: str = "") -> str:
    """The personalized prompt for input `text` with the retrieved `items` (best first)
    and, when given, a summary of the user placed before them.

    The summary counts against the profile's token budget like the items: it takes at
    most half of it when items follow (all of it otherwise), and the items share the rest.
    """
    items = list(items)[: options.k]
    if not items and not summary:
        return text
    input_len = len(tokenizer.encode(text))
    factor = 0.6
    while factor > 1e-9:
        budget = options.max_length - min(input_len, int(factor * options.max_length))
        about, left = summary_part(summary, tokenizer, budget, bool(items))
        try:
            rendered = render_items(task, items, tokenizer, left, options.view) if items else []
        except _NoRoom:
            factor -= 0.1
            continue
        joined = _JOIN.join(rendered)
        profile = f"{about}. {joined}" if about and joined else (about or joined)
        return _assemble(task, text, profile, options.position)
    return text


def summary_part(summary: str, tokenizer: Tokenizer, budget: int, items: bool
                  ) -> tuple[str, int]:
    """The summary sentence cut to its share of `budget`, and the tokens left for items."""
    if not summary.strip():
        return "", budget
    ids = tokenizer.encode(SUMMARY_LEAD + summary.strip().rstrip("."))
    ids = ids[: budget // 2 if items else budget]
    return tokenizer.decode(ids).strip(), budget - len(ids) - 2

"""The text of an item as retrieval indexes it and as the proxy injects it.

`cut` bounds what the proxy writes into a system message: items go in best first, each
cut to the words left of a token budget (whitespace words, as the library's prompts
count when the model's tokenizer is not at hand), so one huge item can no longer send
megabytes upstream.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..data.records import ProfileItem
from ..tasks import TaskSpec

_SKIP = frozenset({"date"})
MAX_WORD = 64  # characters of one "word": a text without spaces is cut too


def document(item: ProfileItem, task: TaskSpec | None = None) -> str:
    """The indexed text: the task's document fields, or every field but the date."""
    if task is not None:
        return task.document(item)
    return " ".join(v for k, v in item.fields.items() if k not in _SKIP and v)


def cut(texts: Sequence[str], budget: int) -> list[str]:
    """The texts, in order, cut so that together they hold at most `budget` words."""
    out: list[str] = []
    left = budget
    for text in texts:
        if left <= 0:
            break
        words = [w[:MAX_WORD] for w in text.split(maxsplit=left)[:left]]
        out.append(" ".join(words))
        left -= len(words)
    return [t for t in out if t]

"""Chat prompts: the user's past items as few-shot turns, for models trained on chat.

The paper's templates (`templates`) were written for FlanT5, which has no chat format:
the profile is one long string in front of the question. An instruct model is trained
on turns, and a user's past (input, output) pairs are natural demonstrations of their
format, length and style. So, with ``--prompt-style chat``:

- a system message says what the examples are (this user's own past work);
- each retrieved item becomes a user turn with its input part, phrased as the question
  is (the question's instruction, then the item's text), and an assistant turn with its
  output part;
- items without an input part (tweets, LaMP-1 papers), or a profile view that shows one
  side only, are a short list in the system message instead;
- the question is the last user turn; the model's own chat template renders the turns.

The token budget is the paper's rule: the question keeps at most 60% of `max_length`,
the items share the rest, each item's long part (the input of a demonstration, the
text of a listed item) is cut to its share, and a share an item does not use rolls over.
Without items or a summary the messages are the bare question, as the paper's prompt is,
so no-personalization runs are the same in both styles.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..data.records import ProfileItem
from ..errors import ConfigError
from ..llm.base import Message, Tokenizer
from ..tasks import TaskSpec
from .templates import PromptOptions, summary_part

SYSTEM = ("Answer the last message as this user would. {what} Match their format, length "
          "and style, and reply with the answer only.")
DEMOS = "The earlier exchanges are this user's own past work."
LISTED = "Below are texts from this user's own past work."


def build_chat(task: TaskSpec, text: str, items: Sequence[ProfileItem], tokenizer: Tokenizer,
               options: PromptOptions = PromptOptions(), summary: str = ""
               ) -> tuple[Message, ...]:
    """The chat turns for input `text` with the retrieved `items` (best first)."""
    if options.position != "before":
        raise ConfigError("{option} after: chat prompts put the user's examples before the "
                          "question; use the paper style for it", option="position")
    items = list(items)[: options.k]
    if not items and not summary.strip():
        return (("user", text),)
    budget = options.max_length - min(len(tokenizer.encode(text)), int(0.6 * options.max_length))
    about, left = summary_part(summary, tokenizer, budget, bool(items))
    demos = bool(task.input_fields) and options.view == "full"
    turns = _demonstrations(task, text, items, tokenizer, left) if demos and items else []
    listed = [] if demos else _listed(task, items, tokenizer, left, options.view)
    system = SYSTEM.format(what=DEMOS if turns else LISTED if listed else "")
    system = " ".join(system.split())
    if about:
        system += f"\n\n{about}."
    if listed:
        system += "\n\n" + "\n".join(f"- {t}" for t in listed)
    return (("system", system), *turns, ("user", text))


def render(messages: Sequence[Message]) -> str:
    """The turns as plain text: the journal's prompt, and what a model without a chat
    template reads."""
    return "\n\n".join(content if role == "user" and len(messages) == 1
                       else f"{role}: {content}" for role, content in messages)


def instruction(task: TaskSpec, text: str) -> str:
    """The question's instruction, up to and including the task's query marker ('' when
    the task has none or the input lacks it)."""
    marker = task.query_after
    if not marker or marker not in text:
        return ""
    return text[: text.index(marker) + len(marker)]


def _demonstrations(task: TaskSpec, text: str, items: Sequence[ProfileItem],
                    tokenizer: Tokenizer, budget: int) -> list[Message]:
    lead = instruction(task, text)
    turns: list[Message] = []
    share, saved = budget // len(items), 0
    for item in items:
        output = task.output_of(item)
        room = share + saved - len(tokenizer.encode(output)) - len(tokenizer.encode(lead)) - 4
        ids = tokenizer.encode(" ".join(item.get(f) for f in task.input_fields if item.get(f)))
        ids = ids[: max(room, 0)]
        saved = max(0, room - len(ids))
        shown = tokenizer.decode(ids).strip()
        turns += [("user", f"{lead} {shown}".strip()), ("assistant", output)]
    return turns


def _listed(task: TaskSpec, items: Sequence[ProfileItem], tokenizer: Tokenizer, budget: int,
            view: str) -> list[str]:
    fields = task.item_fields(view) or task.output_fields
    share, saved, out = budget // max(1, len(items)), 0, []
    for item in items:
        ids = tokenizer.encode(" ".join(item.get(f) for f in fields if item.get(f)))
        room = share + saved - 2
        ids = ids[: max(room, 0)]
        saved = max(0, room - len(ids))
        out.append(tokenizer.decode(ids).strip())
    return [t for t in out if t]

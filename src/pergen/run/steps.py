"""The building blocks of every run: a question's rank request, its prompt, the answer.

`evaluate`, `feedback`, `rank` and the selectors all assemble these, so a question is
ranked and prompted the same way wherever it is asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any  # noqa: F401

from ..data.records import ProfileItem, Question
from ..errors import ConfigError
from ..llm.base import Generator, LabelScorer, Message, Request, Tokenizer, best_label, can_score
from ..prompts.chat import build_chat, render
from ..prompts.templates import build_prompt
from ..registry import Spec
from ..retrievers import RETRIEVERS, RankRequest, Retriever, get_retriever
from ..tasks import TaskSpec
from .settings import SCORED_MODES, EvalSettings


def rank_request(task: TaskSpec, q: Question, with_date: bool = False) -> RankRequest:
    """What a retriever sees for a question: the task's query and its profile's documents."""
    docs = [task.document(item, with_date) for item in q.profile]
    return RankRequest(task.query(q.input), q.profile, docs)


def build_request(task: TaskSpec, q: Question, items: Sequence[ProfileItem], model: Generator,
                  settings: EvalSettings, retriever: Retriever | None = None, summary: str = ""
                  ) -> Request:
    """The prompt of a question with these profile items (and a summary of the user),
    within the token budget."""
    options = settings.prompt_options()
    messages: tuple[Message, ...] = ()
    if options.prompt_style == "chat":
        messages = build_chat(task, q.input, list(items), model.tokenizer, options, summary)
        prompt = render(messages)
    else:
        prompt = build_prompt(task, q.input, list(items), model.tokenizer, options, summary)
    return Request(prompt=prompt, input=q.input, retrieved=tuple(items), task=task,
                   profile=q.profile, retriever=retriever, messages=messages)


def clean_output(text: str) -> str:
    """The first non-empty line, stripped: small models often run on after the answer."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def gold_logliks(model: LabelScorer, requests: Sequence[Request], golds: Sequence[str],
                 tokenizer: Tokenizer) -> list[float]:
    """Mean log-probability per token of each gold output given its exact prompt (teacher
    forcing, one batched forward pass, no decoding). Per token, so that golds of different
    lengths compare; a sensitive measure where a small model's answers all score alike."""
    sums = model.loglik(requests, golds)
    return [s / max(1, len(tokenizer.encode(g))) for s, g in zip(sums, golds)]


def answer(model: Generator, requests: Sequence[Request], task: TaskSpec,
           settings: EvalSettings) -> tuple[list[str], list[list[float]] | None]:
    """Answers, and the label scores when labels are picked by likelihood."""
    use_scores = bool(task.labels) and can_score(model) \
        and settings.label_mode != "generate"
    if settings.label_mode in SCORED_MODES and not use_scores:
        raise ConfigError(f"{{option}} {settings.label_mode} needs a task with labels and a "
                          f"model that scores them; {model.name} on {task.name} cannot",
                          option="label_mode")
    if use_scores:
        assert isinstance(model, LabelScorer)
        labels = list(task.labels or ())
        scores = model.label_scores(requests, labels)
        return [best_label(s, labels) for s in scores], scores
    max_new = settings.max_new_tokens or task.max_new_tokens
    return [clean_output(o) for o in model.generate(requests, max_new)], None


def build_retrievers(specs: Iterable[str]) -> dict[str, Retriever]:
    """Retrievers for a batch job over data files (rank, evaluate, feedback), by spec.

    `rrf` reuses the ones also run on their own, so a dense encoder (and its embedding
    cache) is loaded once per run, not once more for fusion. `bm25` keeps its tokens on
    disk (``<pergen cache>/bm25-tokens``, about 15 MB for both shared data sets' four
    splits), so a second run over the same split reads them back instead of tokenizing
    (11x rank_bm25 instead of 4.5x, bench/RESULTS.md); the service does not, since it
    ranks ever new profiles.
    """
    pool: dict[str, Retriever] = {}

    def get(spec: Spec) -> Retriever:
        key = str(spec)
        if key not in pool:
            facts = RETRIEVERS.facts(spec)
            pool[key] = (get_retriever(spec.name, retrievers=[get(p) for p in spec.parts(facts.fuses)])
                         if facts.fuses is not None
                         else get_retriever(key, **facts.batch_options))
        return pool[key]

    return {str(s): get(Spec.parse(s)) for s in dict.fromkeys(specs)}

"""The LLM backend protocols: `Generator` (`generate` over a batch of requests) and
`LabelScorer` (`label_scores` and `loglik`: likelihoods of given continuations).

A request carries the built prompt and what it was built from, so that non-LLM
baselines (`knn`, `copy-input`) answer through the same interface as real models. Picking
the most likely label, batch calibration and the gold-likelihood measures are all built
on the two scoring methods, so a backend that implements them gets every one of those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard, runtime_checkable

from ..data.records import ProfileItem, Question
from ..registry import ModelFacts, Registry, Spec
from ..retrievers.base import Retriever
from ..tasks import TaskSpec

Message = tuple[str, str]
"""One chat turn: (role, content), role system, user or assistant."""


@dataclass(frozen=True, slots=True)
class Request:
    """One generation: the prompt, plus the input and retrieved items it was built from.

    `profile` (the user's whole profile) and `retriever` (the run's retriever) let non-LLM
    baselines such as the vote models rank the profile themselves; LLMs ignore them.
    """

    prompt: str
    input: str
    retrieved: tuple[ProfileItem, ...]
    task: TaskSpec
    profile: tuple[ProfileItem, ...] = ()
    retriever: Retriever | None = None
    messages: tuple[Message, ...] = ()  # chat turns (prompt style chat); () means one user turn

    def turns(self) -> tuple[Message, ...]:
        """The chat turns a chat model reads: the messages, or the prompt as one user turn."""
        return self.messages or (("user", self.prompt),)


def stored_request(record: Mapping[str, Any], question: Question, task: TaskSpec) -> Request:
    """The request of a journal record (its prompt, and its chat turns where it has them),
    to score again what was answered before."""
    turns = tuple((str(role), str(text)) for role, text in record.get("messages", ()))
    return Request(prompt=record["prompt"], input=question.input, retrieved=(), task=task,
                   profile=question.profile, messages=turns)


@runtime_checkable
class Tokenizer(Protocol):
    """What the prompt builder needs to apply a token budget."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


@runtime_checkable
class Generator(Protocol):
    """A model: `generate` is the one method to write; the hooks below have defaults in
    `BaseGenerator`, which every backend subclasses."""

    name: str
    tokenizer: Tokenizer

    @property
    def scores_text(self) -> bool:
        """False for a server that cannot return log-probabilities."""
        ...

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        """One answer per request, in order."""
        ...

    def prepare(self, questions: Sequence[Question], task: TaskSpec) -> None:
        """Learn what the model needs from the split's profiles before answering."""
        ...

    def check_task(self, task: TaskSpec) -> None:
        """Raise ConfigError for a task this model cannot answer."""
        ...

    def token_usage(self) -> dict[str, int]:
        """Tokens and requests counted so far (servers), for ``run.json``."""
        ...


class BaseGenerator:
    """The defaults of `Generator`'s hooks: any task, nothing to prepare, nothing counted."""

    name = "base"

    @property
    def scores_text(self) -> bool:
        return True

    def prepare(self, questions: Sequence[Question], task: TaskSpec) -> None:
        return None

    def check_task(self, task: TaskSpec) -> None:
        return None

    def token_usage(self) -> dict[str, int]:
        return {}


@runtime_checkable
class LabelScorer(Protocol):
    """A backend that scores given continuations of a prompt by their likelihood."""

    def label_scores(self, requests: Sequence[Request], labels: Sequence[str]
                     ) -> list[list[float]]:
        """log p(label | prompt) for every label, per request."""
        ...

    def loglik(self, requests: Sequence[Request], targets: Sequence[str]) -> list[float]:
        """Sum of log p(target tokens | prompt), per (request, target) pair."""
        ...


def can_score(model: object) -> TypeGuard[LabelScorer]:
    """Whether the model scores text: it has `label_scores` and `loglik`, and (servers) the
    server behind it offers log-probabilities (`scores_text`, probed once)."""
    return isinstance(model, LabelScorer) and isinstance(model, Generator) and model.scores_text


def is_llm(model: Generator) -> bool:
    """Whether the model writes text (a summary, a verbal confidence): the registered fact
    of its name; a model built outside the registry counts as one."""
    name = Spec.parse(model.name).name
    return MODELS.facts(name).llm if name in MODELS else True


def best_label(scores: Sequence[float], labels: Sequence[str]) -> str:
    """The label with the highest score; ties go to the label listed first."""
    return labels[max(range(len(labels)), key=lambda j: (scores[j], -j))]


def choose(scorer: LabelScorer, requests: Sequence[Request], labels: Sequence[str]) -> list[str]:
    """The most likely label of each request; ties go to the label listed first."""
    return [best_label(s, labels) for s in scorer.label_scores(requests, labels)]


class HFTokenizer:
    """The `Tokenizer` protocol over a Hugging Face tokenizer: no special tokens added."""

    def __init__(self, tok: Any) -> None:
        self.hf = tok

    def encode(self, text: str) -> list[int]:
        return list(self.hf(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.hf.decode(list(ids), skip_special_tokens=True))


class WhitespaceTokenizer:
    """Token budget in whitespace words, for backends whose tokenizer is not at hand."""

    def __init__(self) -> None:
        self._vocab: dict[str, int] = {}
        self._words: list[str] = []

    def encode(self, text: str) -> list[int]:
        ids = []
        for w in text.split():
            if w not in self._vocab:
                self._vocab[w] = len(self._words)
                self._words.append(w)
            ids.append(self._vocab[w])
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self._words[i] for i in ids)


MODELS: Registry[Generator, ModelFacts] = Registry("model", "pergen.models", ModelFacts)
DEVICES = ("auto", "cpu", "cuda")  # where a local model may run (``device=``, --device)

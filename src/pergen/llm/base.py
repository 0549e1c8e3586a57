"""The LLM backend protocol: one method, `generate`, over a batch of requests.

A request carries the built prompt and what it was built from, so that non-LLM
baselines (`knn`, `copy-input`) answer through the same interface as real models.
Backends that can score a closed label set by likelihood also implement `choose`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..records import ProfileItem
from ..registry import Registry
from ..retrievers.base import Retriever
from ..tasks import TaskSpec


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


@runtime_checkable
class Tokenizer(Protocol):
    """What the prompt builder needs to apply a token budget."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


@runtime_checkable
class Generator(Protocol):
    name: str
    tokenizer: Tokenizer

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        """One answer per request, in order."""
        ...


@runtime_checkable
class LabelScorer(Protocol):
    """A backend that picks the most likely label instead of generating freely."""

    def choose(self, requests: Sequence[Request], labels: Sequence[str]) -> list[str]: ...

    def label_scores(self, requests: Sequence[Request], labels: Sequence[str]
                     ) -> list[list[float]]:
        """log p(label | prompt) for every label, per request."""
        ...


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


MODELS: Registry[Generator] = Registry("model", "pergen.models")

"""Non-LLM baselines that answer through the same `Generator` interface as real models.

They bound what a model adds: `knn` repeats the output the user gave for the most
similar profile item (so it measures the retriever alone), `copy-input` echoes the
query part of the input (a floor for generation tasks such as paraphrasing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..llm.base import MODELS, BaseGenerator, Request, Tokenizer, WhitespaceTokenizer


class KnnBaseline(BaseGenerator):
    """Answer with the user's own output in the top retrieved item (empty if none)."""

    name: str = "knn"

    def __init__(self) -> None:
        self.tokenizer: Tokenizer = WhitespaceTokenizer()

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        return [r.task.output_of(r.retrieved[0]) if r.retrieved else "" for r in requests]


class CopyInputBaseline(BaseGenerator):
    """Answer with the task's query: the input without its instruction."""

    name: str = "copy-input"

    def __init__(self) -> None:
        self.tokenizer: Tokenizer = WhitespaceTokenizer()

    def generate(self, requests: Sequence[Request], max_new_tokens: int) -> list[str]:
        return [r.task.query(r.input) for r in requests]


def _no_arg(name: str, arg: str) -> None:
    # Options meant for real models (batch_size...) are ignored so one call fits all.
    if arg:
        raise ConfigError(f"{name} takes no argument (got {name}:{arg})")


@MODELS.register("knn", llm=False, reference="bm25",
                 reference_kinds=("generation", "label", "rating"))
def knn(arg: str = "", **options: Any) -> KnnBaseline:
    _no_arg("knn", arg)
    return KnnBaseline()


@MODELS.register("copy-input", llm=False, reference="none", reference_kinds=("generation",))
def copy_input(arg: str = "", **options: Any) -> CopyInputBaseline:
    _no_arg("copy-input", arg)
    return CopyInputBaseline()

"""The no-LLM references every run shows beside its methods.

A personalized LLM is worth its cost only where it beats what a user gets without one:
copying the input (generation), the output of the most similar profile item (``knn``),
the user's own label or rating prior, and the label votes over the profile. Each
registered baseline that declares itself a reference (``ModelFacts.reference``: the
retriever it runs with) and accepts the task answers the same questions, in
``OUT/ref_<name>/``, resumable like any run; it costs milliseconds (the similarity vote
encodes the profiles once). Their runs are named ``ref:<name>`` in ``metrics.json`` and
every table, and `pergen.reports.tables.best_against_reference` tests the best method
against the best of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..data.records import Question
from ..errors import ConfigError
from ..llm import MODELS, get_model
from ..tasks import TaskSpec
from .answering import run_retriever
from .folder import RetrieverRun, slug
from .settings import EvalSettings
from .steps import build_retrievers

PREFIX = "ref:"


def is_reference(name: str) -> bool:
    return name.startswith(PREFIX)


def run_references(questions: Sequence[Question], everyone: Sequence[Question], task: TaskSpec,
                   settings: EvalSettings, out: Path, batch_size: int, progress: bool
                   ) -> dict[str, RetrieverRun]:
    """Every applicable reference's run on `questions`, by ``ref:<name>``."""
    runs: dict[str, RetrieverRun] = {}
    for name in MODELS.names():
        facts = MODELS.facts(name)
        retriever = facts.reference
        if retriever is None or task.kind not in facts.reference_kinds:
            continue
        model = get_model(name)
        try:
            model.check_task(task)
        except ConfigError:
            continue  # the task lacks what it needs (a profile prior without labelled items)
        model.prepare(everyone, task)
        options = replace(settings, model=name, label_mode="generate", memory="items")
        built = build_retrievers([retriever])[retriever]
        key = PREFIX + name
        runs[key] = run_retriever(questions, task, retriever, model, options, out / slug(key),
                                  batch_size, progress, built, confidence="none", name=key)
    return runs

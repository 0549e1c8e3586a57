"""Answering every question of a split with one retriever: `run_retriever`, resumable.

Questions are ranked, prompted and answered in batches (`pergen.run.steps`); each batch
is appended to the retriever's journal when done, so an interrupted run resumes where it
stopped. Whole-run label modes are decided once all are answered (`pergen.run.labels`),
then the answers' confidence is measured.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..data import lamp
from ..data.records import Question
from ..evaluation.confidence import Measured, answer_confidence, run_confidence
from ..llm.base import Generator, Request, can_score, stored_request
from ..retrievers import Retriever, get_retriever, rank_many
from ..tasks import TaskSpec
from .folder import (
    RetrieverRun,
    claim,
    slug,
)
from .fusion import Fuser
from .labels import CALIBRATED, whole_run_labels
from .settings import (
    EvalSettings,
)
from .steps import answer, build_request, gold_logliks, rank_request
from .storage import Journal


def run_retriever(questions: Sequence[Question], task: TaskSpec, retriever_spec: str,
                  model: Generator, settings: EvalSettings, folder: Path, batch_size: int = 8,
                  progress: bool = True, retriever: Retriever | None = None,
                  golds: Mapping[str, str] | None = None,
                  summaries: Mapping[str, str] | None = None,
                  label_prior: np.ndarray | None = None, confidence: str = "prob",
                  name: str | None = None, fuser: Fuser | None = None) -> RetrieverRun:
    """Answer every question with one retriever; finished questions are never redone.

    `name` is what the run is called in ``run.json`` and the results (default: the
    retriever spec; a reference's is ``ref:<model>``).

    With `golds` (and a model that scores text), each record also gets the gold output's
    mean log-probability per token given the same prompt (``gold_loglik``). `summaries`
    (question id -> text) go before the items, or replace them with memory ``summary``.
    `label_prior` is the split's label distribution that label mode ``prior`` smooths
    each user's own toward. `confidence` (`pergen.evaluation.confidence`: prob, verbal or none) is
    measured for every final answer.
    """
    started = time.perf_counter()
    name = name or retriever_spec
    journal = claim(folder, name, settings.key())
    done = journal.read()
    todo = [q for q in questions if q.id not in done]
    retriever = retriever or get_retriever(retriever_spec)
    llm_seconds = 0.0
    bar = tqdm(total=len(questions), initial=len(questions) - len(todo), disable=not progress,
               desc=slug(name), unit="q")
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        ranked = rank_many(retriever, [rank_request(task, q, settings.with_date) for q in batch])
        k = 0 if settings.memory == "summary" else settings.k
        requests = [build_request(task, q, [s.item for s in r[:k]], model, settings, retriever,
                                  (summaries or {}).get(q.id, "")) for q, r in zip(batch, ranked)]
        t0 = time.perf_counter()
        answers, scores = answer(model, requests, task, settings)
        likelihoods = _gold_logliks(model, requests, batch, golds)
        asked = answer_confidence(confidence, model, requests, answers, scores is not None,
                                 final=scores is None or settings.label_mode not in CALIBRATED)
        llm_seconds += time.perf_counter() - t0
        records: list[dict[str, object]] = [
            {"id": q.id, "output": a, "retrieved": [i.id for i in req.retrieved],
             "prompt": req.prompt, **({"messages": req.messages} if req.messages else {})}
            for q, req, a in zip(batch, requests, answers)]
        for record, s in zip(records, scores or ()):
            record["label_scores"] = s
        for record, ll in zip(records, likelihoods or ()):
            record["gold_loglik"] = ll
        for record, c in zip(records, asked or ()):
            record["confidence"] = c
        journal.append(records)
        bar.update(len(batch))
    bar.close()
    done = _complete_logliks(journal, questions, task, model, golds, batch_size)
    predictions = {q.id: done[q.id]["output"] for q in questions}
    matrix = None
    if settings.label_mode in CALIBRATED:
        chosen, matrix = whole_run_labels([done[q.id]["label_scores"] for q in questions],
                                          questions, task, settings, label_prior, fuser)
        predictions = dict(zip(predictions, chosen))
    lamp.write_outputs(folder / "predictions.json", task.name, predictions)
    t0 = time.perf_counter()
    sure = run_confidence(confidence, model, task, journal, questions, predictions, matrix,
                          batch_size)
    llm_seconds += time.perf_counter() - t0
    likelihood = {q.id: done[q.id]["gold_loglik"] for q in questions
                  if "gold_loglik" in done[q.id]} if golds is not None else {}
    return RetrieverRun(name, predictions, llm_seconds=llm_seconds,
                        total_seconds=time.perf_counter() - started, answered=len(todo),
                        gold_loglik=likelihood if len(likelihood) == len(questions) else {},
                        confidence=sure.values, confidence_note=_note(sure))


def _note(sure: Measured) -> str | None:
    if sure.unparsed:
        return (f"{sure.unparsed} {sure.method} replies held no usable number: those answers "
                "have no confidence (they rank last, and count as unsure)")
    return sure.note


def _gold_logliks(model: Generator, requests: Sequence[Request], questions: Sequence[Question],
                  golds: Mapping[str, str] | None) -> list[float] | None:
    """gold-loglik of each request, where there are golds and the model scores text."""
    tokenizer = model.tokenizer
    if golds is None or not can_score(model):
        return None
    return gold_logliks(model, requests, [golds[q.id] for q in questions], tokenizer)


def _complete_logliks(journal: Journal, questions: Sequence[Question], task: TaskSpec,
                      model: Generator, golds: Mapping[str, str] | None, batch_size: int
                      ) -> dict[str, dict[str, Any]]:
    """The journal's records, after scoring the gold of those answered without it (a run
    begun with ``gold_loglik`` off, or by an older pergen) from their stored prompts."""
    done = journal.read()
    missing = [q for q in questions if "gold_loglik" not in done[q.id]]
    for start in range(0, len(missing), batch_size):
        batch = missing[start:start + batch_size]
        requests = [stored_request(done[q.id], q, task) for q in batch]
        values = _gold_logliks(model, requests, batch, golds)
        if values is None:  # nothing to score with
            return done
        journal.append([{**done[q.id], "gold_loglik": v} for q, v in zip(batch, values)])
    return journal.read() if missing else done



"""Per-item LLM feedback: how useful is each profile item, alone in the prompt, to the LLM?

For every question, the top `depth` items (l = 16 in the paper) of an initial retriever are
put in the prompt ONE at a time, and the LLM's use of that item is scored:

- ``metric`` (the paper's signal): the LLM answers and the task's feedback metric scores the
  answer against the gold (ROUGE-1, accuracy, LaMP-3's normalized rating reward).
- ``loglik`` (cheaper): the mean log-probability per token of the gold output given the
  prompt, one teacher-forced forward pass and no decoding. It is also smoother: it ranks
  items even where every answer scores 0.

Values go to a `FeedbackStore`: one journal record per (question, item), in a folder whose
``store.json`` names what produced them (model, task, template, retriever, signal, depth).
A killed run resumes where it stopped; opening the folder with another producer is refused,
so a different model never reuses stale values. Records carry the query and document text,
which makes a store all that training a retriever needs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..data import lamp
from ..data.records import Question, Scored
from ..errors import ConfigError, DataError, bad_choice
from ..evaluation.metrics import feedback as metric_feedback
from ..llm import DEFAULT_MODEL
from ..llm.base import Generator, LabelScorer, Request, can_score
from ..retrievers import RankRequest, Retriever, rank_many
from ..rspg import DEFAULT_POOL
from ..run.config import RunConfig
from ..run.prepare import prepare_run
from ..run.settings import EvalSettings, check_retrievers
from ..run.steps import answer, build_request, build_retrievers, gold_logliks, rank_request
from ..tasks import TaskSpec
from .feedback_store import FeedbackKey, FeedbackStore, Pair

SIGNALS = ("metric", "loglik")
__all__ = ["DEFAULT_POOL", "SIGNALS", "FeedbackKey", "FeedbackStore", "Pair", "collect_feedback",
           "collect_retriever_feedback", "retriever_records"]
def template_digest(task: TaskSpec, settings: EvalSettings) -> str:
    """A short digest of everything besides the model that shapes a one-item prompt."""
    spec = {k: v for k, v in asdict(task).items() if k not in ("_regex", "description")}
    payload = {"task": spec, "settings": settings.key()}
    blob = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


# -- signals ----------------------------------------------------------------------------
def _metric_values(model: Generator, requests: Sequence[Request], golds: Sequence[str],
                   task: TaskSpec, settings: EvalSettings) -> tuple[list[float], list[str]]:
    answers, _ = answer(model, requests, task, settings)
    return [metric_feedback(task, a, g) for a, g in zip(answers, golds)], answers


def _loglik_values(model: Generator, requests: Sequence[Request], golds: Sequence[str]
                   ) -> list[float]:
    """Mean log-probability per gold token: comparable across golds of different length."""
    assert isinstance(model, LabelScorer)  # checked when the job was set up
    return gold_logliks(model, requests, golds, model.tokenizer)


# -- collection -------------------------------------------------------------------------
def _candidates(ranked: Sequence[Sequence[Any]], depth: int) -> list[tuple[int, Any]]:
    """The union of each ranking's top `depth` items, as (first rank seen, item)."""
    seen: dict[str, tuple[int, Any]] = {}
    for ranking in ranked:
        for rank, s in enumerate(ranking[:depth]):
            if s.item.id not in seen or rank < seen[s.item.id][0]:
                seen[s.item.id] = (rank, s.item)
    return sorted(seen.values(), key=lambda x: x[0])


def _chunks(items: Sequence[Question], size: int) -> Iterator[Sequence[Question]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(frozen=True)
class _Job:
    """What a collection run needs besides the questions: set up once, checked once."""

    task: TaskSpec
    model: Generator
    settings: EvalSettings
    signal: str
    golds: dict[str, str]
    store: FeedbackStore


def _job(data_dir: str | Path, split: str, out_dir: str | Path, limit: int | None,
         model: str | Generator, specs: Sequence[str], signal: str, depth: int, unit: str,
         task: str | TaskSpec | None, **settings: Any) -> tuple[_Job, list[Question]]:
    """Check every setting, then load the split and the model, then open the store: a bad
    option fails before any data is read, and no store folder is left behind by it."""
    if signal not in SIGNALS:
        raise bad_choice("signal", signal, SIGNALS)
    if depth < 1:
        raise ConfigError(f"{{option}} must be >= 1, got {depth}", option="depth")
    check_retrievers(specs, option="retriever", selectors=False)
    config = RunConfig.build(retrievers=tuple(specs), model=model, **settings)
    run = prepare_run(data_dir, split, config, task, limit, resolve_label_mode=False)
    spec, questions, generator, options, golds = (run.task, run.questions, run.model,
                                                  run.settings, run.golds)
    if golds is None:
        raise DataError("feedback needs gold outputs", file=str(lamp.outputs_path(data_dir, split)))
    if signal == "loglik" and not can_score(generator):
        raise ConfigError(f"{{option}} loglik needs a model that scores text (hf:, smollm2...);"
                          f" {generator.name} cannot: use metric", option="signal")
    key = FeedbackKey(generator.name, spec.name, template_digest(spec, options), "|".join(specs),
                      signal, depth, unit)
    return _Job(spec, generator, options, signal, golds, FeedbackStore(out_dir, key)), questions


def _run(job: _Job, questions: Sequence[Question], specs: Sequence[str],
         todo_for: Callable[[Question, RankRequest, list[Sequence[Scored]]],
                            list[tuple[Pair, Request]]],
         questions_per_step: int, progress: bool,
         retrievers: Mapping[str, Retriever] | None = None) -> FeedbackStore:
    """Rank each step's questions with every retriever, then score the pairs not stored yet
    (`todo_for` lists a question's pairs with their prompts) and append them."""
    done = job.store.done()
    pool = retrievers or build_retrievers(specs)
    built = [pool[s] for s in specs]
    bar = tqdm(total=len(questions), disable=not progress, desc=f"feedback/{job.signal}", unit="q")
    for batch in _chunks(questions, max(1, questions_per_step)):
        requests = [rank_request(job.task, q, job.settings.with_date) for q in batch]
        per_retriever = [rank_many(r, requests) for r in built]
        todo = [(pair, request) for i, q in enumerate(batch)
                for pair, request in todo_for(q, requests[i], [r[i] for r in per_retriever])
                if job.store.pair_id(pair.question, pair.item) not in done]
        if todo:
            job.store.add(_scored(job, todo))
        bar.update(len(batch))
    bar.close()
    return job.store


def _scored(job: _Job, todo: Sequence[tuple[Pair, Request]]) -> list[Pair]:
    requests = [r for _, r in todo]
    gold = [job.golds[p.question] for p, _ in todo]
    outputs: list[str | None] = [None] * len(todo)
    if job.signal == "metric":
        values, answers = _metric_values(job.model, requests, gold, job.task, job.settings)
        outputs = list(answers)
    else:
        values = _loglik_values(job.model, requests, gold)
    return [replace(p, value=float(v), output=o) for (p, _), v, o in zip(todo, values, outputs)]


def collect_feedback(data_dir: str | Path, split: str, out_dir: str | Path,
                     model: str | Generator = DEFAULT_MODEL, retriever: str | Sequence[str] = "dense",
                     signal: str = "metric", depth: int = 16, task: str | TaskSpec | None = None,
                     limit: int | None = None, max_length: int = 512, with_date: bool = False,
                     label_mode: str = "auto", questions_per_step: int = 4,
                     progress: bool = True, retrievers: Mapping[str, Retriever] | None = None,
                     prompt_style: str = "auto", position: str = "before") -> FeedbackStore:
    """Score the top `depth` items of `retriever` (several: the union of their tops), one
    item per prompt, for every question of a split; resumable, never recomputes a pair.

    Returns the store. LLM calls go in steps of `questions_per_step` questions (up to
    ``depth`` x that many prompts at once), each step appended to the journal when done.
    `retrievers` may hold the retrievers already built by spec (their caches are reused).
    ``position="after"`` puts the item after the question: the prompts of one question then
    share their start, which llama.cpp evaluates once (see `bench/RESULTS.md`, issue 22).
    """
    specs = [retriever] if isinstance(retriever, str) else list(retriever)
    job, questions = _job(data_dir, split, out_dir, limit, model, specs, signal, depth, "item",
                          task, k=1, max_length=max_length, with_date=with_date,
                          label_mode=label_mode, prompt_style=prompt_style, position=position)

    def todo_for(q: Question, request: RankRequest, ranked: list[Sequence[Scored]]
                 ) -> list[tuple[Pair, Request]]:
        return [(Pair(q.id, item.id, rank, 0.0, request.query, request.docs[item.position]),
                 build_request(job.task, q, [item], job.model, job.settings))
                for rank, item in _candidates(ranked, depth)]

    return _run(job, questions, specs, todo_for, questions_per_step, progress, retrievers)


def collect_retriever_feedback(data_dir: str | Path, split: str, out_dir: str | Path,
                               retrievers: Sequence[str], model: str | Generator = DEFAULT_MODEL,
                               k: int = 4, task: str | TaskSpec | None = None,
                               limit: int | None = None, max_length: int = 512,
                               with_date: bool = False, label_mode: str = "auto",
                               signal: str = "metric", questions_per_step: int = 4,
                               progress: bool = True, prompt_style: str = "auto"
                               ) -> FeedbackStore:
    """RSPG's feedback: each retriever of the pool puts its top `k` items in the prompt; the
    record of (question, retriever) keeps the prompt (``doc``), the answer (``output``,
    metric signal) and its feedback (``value``). Same store, same resuming as
    `collect_feedback`; ``signal="loglik"`` scores the gold's likelihood instead, for tasks
    where a small model's answers are all alike."""
    specs = list(dict.fromkeys(retrievers))
    job, questions = _job(data_dir, split, out_dir, limit, model, specs, signal, k, "retriever",
                          task, k=k, max_length=max_length, with_date=with_date,
                          label_mode=label_mode, prompt_style=prompt_style)

    def todo_for(q: Question, request: RankRequest, ranked: list[Sequence[Scored]]
                 ) -> list[tuple[Pair, Request]]:
        return _retriever_pairs(job.task, job.model, job.settings, specs, q, ranked)

    return _run(job, questions, specs, todo_for, questions_per_step, progress)


def _retriever_pairs(task: TaskSpec, model: Generator, settings: EvalSettings,
                     specs: Sequence[str], q: Question, ranked: Sequence[Sequence[Scored]]
                     ) -> list[tuple[Pair, Request]]:
    """A question's per-retriever records (value 0) and prompts: each retriever's top k."""
    todo = []
    for rank, (spec, scored) in enumerate(zip(specs, ranked)):
        req = build_request(task, q, [s.item for s in scored[:settings.k]], model, settings)
        todo.append((Pair(q.id, spec, rank, 0.0, q.input, req.prompt), req))
    return todo


def retriever_records(data_dir: str | Path, split: str, key: FeedbackKey, ids: set[str],
                      task: str | TaskSpec | None = None, **settings: Any) -> dict[str, Pair]:
    """The records a per-retriever store with this `key` holds for the questions `ids`
    (value 0), keyed by `FeedbackStore.pair_id`: the prompts rebuilt exactly as
    `collect_retriever_feedback` built them, with the store's model (its tokenizer cuts
    each prompt to the budget). `settings` (max_length, with_date, label_mode,
    prompt_style) must be the collection's: the store's template digest is checked."""
    specs = key.retriever.split("|")
    config = RunConfig.build(retrievers=tuple(specs), model=key.model, k=key.depth, **settings)
    run = prepare_run(data_dir, split, config, task, resolve_label_mode=False)
    if template_digest(run.task, run.settings) != key.template:
        raise ConfigError("{option}: these prompt settings differ from the collection's (its "
                          "template digest); give the --max-length, --with-date, --label-mode "
                          "and --prompt-style it was collected with", option="values")
    questions = [q for q in run.questions if q.id in ids]
    requests = [rank_request(run.task, q, run.settings.with_date) for q in questions]
    pool = build_retrievers(specs)
    ranked = [rank_many(pool[s], requests) for s in specs]
    return {FeedbackStore.pair_id(p.question, p.item): p
            for i, q in enumerate(questions)
            for p, _ in _retriever_pairs(run.task, run.model, run.settings, specs, q,
                                         [r[i] for r in ranked])}

"""`evaluate`: retrieve, prompt, generate and score, per retriever, resumable.

Orchestration: the configuration is checked and the split loaded once
(`pergen.run.config`, `pergen.run.prepare`), questions are ranked, prompted and answered
by `pergen.run.steps`, whole-run label modes decided by `pergen.run.labels`, and
everything lands in the run folder described in `pergen.run.folder` (journal per
retriever, so an interrupted run resumes where it stopped; results written atomically),
scored by `pergen.run.scoring`. Selectors (`pergen.rspg.selectors`) run after their pool
and reuse its answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..baselines.priors import global_distribution
from ..data import lamp
from ..data.records import Question
from ..data.splits import golds_for, load_split
from ..errors import ConfigError
from ..evaluation.abstention import Reanswer, check_trust_fit, settle
from ..llm.base import Generator
from ..memory.levels import Embed, Population, profiles_at_level
from ..memory.summaries import SummaryCache, describe, get_summarizer, question_summaries
from ..registry import Spec
from ..retrievers import Retriever
from ..rspg.context import SelectionContext
from ..rspg.selectors import SELECTORS, Selector, get_selector
from ..tasks import TaskSpec
from ..tasks.rating import prior_gap
from .answering import run_retriever
from .config import RunConfig
from .folder import (
    JOURNAL,
    RetrieverRun,
    add_selection,
    add_usage,
    degenerate,
    slug,
    write_warnings,
)
from .fusion import Fuser, features, stored_or_fit
from .prepare import prepare_run
from .references import run_references
from .scoring import score_runs
from .settings import (
    LABEL_MODES,
    PRIOR_MODES,
    EvalSettings,
    check_retrievers,
)
from .steps import build_retrievers, rank_request
from .storage import Journal, atomic_write_json

__all__ = ["LABEL_MODES", "EvalSettings", "RetrieverRun", "build_retrievers", "evaluate",
           "run_retriever", "slug"]

CONFIG_FILE = "config.json"


def evaluate(data_dir: str | Path, split: str, retrievers: Iterable[str] | None,
             out_dir: str | Path, config: RunConfig | None = None, *,
             task: str | TaskSpec | None = None, limit: int | None = None,
             progress: bool = True, embed: Embed | None = None,
             reprofile: Callable[[Question], Question] | None = None, **options: Any
             ) -> dict[str, RetrieverRun]:
    """Run every retriever on a split; write predictions, per-example scores, metrics,
    significance against the baseline and a Markdown table.

    `config` (`pergen.run.config.RunConfig`) holds every setting; keyword `options`
    (``model=``, ``k=``, ``level=``... the flat names of its parts) change it, and
    `retrievers` replaces its retrievers. Every setting is checked before any data is
    loaded or any file written. ``OUT/config.json`` records the configuration.

    gold-loglik (on by default) is the mean log-probability per token of the user's real
    output given the exact prompt, where the model scores text and the split has golds:
    it separates methods where the task metric cannot. The level options
    (`pergen.memory.levels`) say whose items form each profile; `embed` replaces the
    dense encoder that places users (tests pass a cheap one). `reprofile` replaces each
    question's profile after its level formed it (the swap study). The memory options
    put a summary of each profile (`pergen.memory.summaries`) before or instead of the
    items. The trust options give every answer a confidence and replace those below a
    threshold by a fallback (`pergen.evaluation.abstention`); ``OUT/selective.json``
    holds the metric at 50/80/100% coverage, the risk-coverage curve, AURC and ECE.

    Returns the runs by retriever spec. Metrics need the split's outputs file; without
    one (a test split) only predictions are written.
    """
    config = (config or RunConfig()).replace(**options)
    if retrievers is not None:
        config = config.replace(retrievers=tuple(retrievers))
    run = prepare_run(data_dir, split, config, task, limit)
    spec, generator, settings, golds = run.task, run.model, run.settings, run.golds
    specs = list(config.retrieval.retrievers)
    selectors = {s: get_selector(s) for s in specs if Spec.parse(s).name in SELECTORS}
    check_trust_fit(config.trust, spec, generator, list(selectors))
    everyone = run.questions
    questions = profiles_at_level(everyone, spec, settings.levels(), embed)
    if reprofile is not None:
        questions = [reprofile(q) for q in questions]
    out = Path(out_dir)
    summaries = _summaries(everyone, questions, spec, generator, settings,
                           config.memory.summaries_dir, out, progress)
    label_prior = (global_distribution(spec, everyone) if settings.label_mode in PRIOR_MODES
                   else None)
    generator.prepare(everyone, spec)  # models that learn something from the split's profiles
    pool = [s for s in specs if s not in selectors]
    pool += [p for sel in selectors.values() for p in sel.pool]
    built = build_retrievers(check_retrievers(pool, selectors=False))
    batch_size = config.model.batch_size
    likelihood_golds = golds if config.model.gold_loglik else None
    runs: dict[str, RetrieverRun] = {}
    for spec_r, retriever in built.items():
        before = generator.token_usage()
        fuser = (_fuser(data_dir, spec, generator, settings, spec_r, retriever,
                        out / slug(spec_r), config, progress, everyone)
                 if settings.label_mode == "fused" else None)
        runs[spec_r] = run_retriever(questions, spec, spec_r, generator, settings,
                                     out / slug(spec_r), batch_size, progress, retriever,
                                     likelihood_golds, summaries, label_prior,
                                     config.trust.confidence, fuser=fuser)
        add_usage(out / slug(spec_r), before, generator.token_usage())
    if selectors:
        requests = [rank_request(spec, q, settings.with_date) for q in questions]
        ctx = SelectionContext(questions, requests, spec, built, runs, out)
        for spec_r, selector in selectors.items():
            runs[spec_r] = run_selector(ctx, spec_r, selector)
    reanswer = _reanswerer(everyone, spec, generator, settings, built, out, batch_size, progress,
                           label_prior, embed)
    settle(runs, config.trust, questions, everyone, spec, golds, out, reanswer)
    methods = list(runs)
    if config.retrieval.references:
        runs.update(run_references(questions, everyone, spec, settings, out, batch_size,
                                   progress))
    if golds is not None:
        score_runs(runs, spec, golds, out, config.retrieval.baseline)
    for run_ in (runs[m] for m in methods):
        gap = prior_gap(spec, everyone, everyone, run_.predictions, golds,
                        hint=settings.label_mode != "expected") if golds else None
        run_.warning = "; ".join(w for w in (degenerate(run_.predictions), gap) if w) or None
    write_warnings(out, {r: run_.warning for r, run_ in runs.items() if run_.warning})
    atomic_write_json(out / CONFIG_FILE, config.to_json())
    return runs


def run_selector(ctx: SelectionContext, spec: str, selector: Selector) -> RetrieverRun:
    """Per question, let the selector pick one of its pool's runs and take that answer.

    RSPG-Pre scores the pool's prompts, Post the prompts with their answers, QPP the pool's
    rankings; the chosen retriever's answer is reused (same prompt, same greedy answer).
    """
    started = time.perf_counter()
    choices = selector.select(ctx)
    folder = ctx.run_dir / slug(spec)
    atomic_write_json(folder / "run.json", {"retriever": spec, "pool": selector.pool})
    add_selection(ctx.run_dir, spec, choices)
    predictions = {qid: ctx.runs[choice].predictions[qid] for qid, choice in choices.items()}
    lamp.write_outputs(folder / "predictions.json", ctx.task.name, predictions)
    likelihood = {qid: ctx.runs[choice].gold_loglik[qid] for qid, choice in choices.items()
                  if qid in ctx.runs[choice].gold_loglik}
    sure = {qid: ctx.runs[choice].confidence[qid] for qid, choice in choices.items()
            if qid in ctx.runs[choice].confidence}
    return RetrieverRun(spec, predictions, total_seconds=time.perf_counter() - started,
                        gold_loglik=likelihood if len(likelihood) == len(choices) else {},
                        confidence=sure)


def _reanswerer(everyone: Sequence[Question], task: TaskSpec, model: Generator,
                settings: EvalSettings, built: Mapping[str, Retriever], out: Path,
                batch_size: int, progress: bool, label_prior: np.ndarray | None,
                embed: Embed | None) -> Reanswer:
    """The persona / global fallback: the same retriever and model answer the unsure
    questions again from that level's items (memory: items), in
    ``OUT/<retriever>/fallback-<level>/``, a resumable run folder of its own."""
    at_level: dict[str, dict[str, Question]] = {}

    def reanswer(spec: str, ids: Sequence[str], level: str) -> dict[str, str]:
        options = replace(settings, level=level, memory="items")
        if level not in at_level:
            formed = profiles_at_level(everyone, task, options.levels(), embed)
            at_level[level] = {q.id: q for q in formed}
        subset = [at_level[level][qid] for qid in ids]
        run = run_retriever(subset, task, spec, model, options,
                            out / slug(spec) / f"fallback-{level}", batch_size, progress,
                            built[spec], label_prior=label_prior, confidence="none")
        return run.predictions
    return reanswer


def _summaries(everyone: Sequence[Question], questions: Sequence[Question], task: TaskSpec,
               model: Generator, settings: EvalSettings, folder: str | Path | None,
               out_dir: str | Path, progress: bool) -> dict[str, str] | None:
    """The summary of each question's profile when the memory holds summaries; how many
    were computed and reused goes to ``OUT/summaries.json``."""
    if settings.memory == "items":
        return None
    population = Population(everyone, task).users.values()
    summarizer = get_summarizer(settings.summarizer, task, model,
                                [list(p.values()) for p in population], settings.summary_tokens)
    cache = SummaryCache(folder)
    texts = question_summaries(questions, task, summarizer, cache, progress)
    atomic_write_json(Path(out_dir) / "summaries.json",
                      {"summarizer": summarizer.name, **describe(cache)})
    return texts


def _fuser(data_dir: str | Path, task: TaskSpec, model: Generator, settings: EvalSettings,
           spec_r: str, retriever: Retriever, folder: Path, config: RunConfig, progress: bool,
           everyone: Sequence[Question]) -> Fuser:
    """Label mode fused: the first `fuse_train` train questions answered by the same model
    and retriever (``<folder>/fuse-train/``, resumable), their features, and the fit."""
    limit = config.model.fuse_train
    if not lamp.outputs_path(data_dir, "train").exists():
        raise ConfigError("{option} fused learns its weights on the train split: "
                          f"{lamp.outputs_path(data_dir, 'train')} does not exist",
                          option="label_mode")
    train = load_split(data_dir, "train", limit, task=task)
    golds = golds_for(data_dir, "train", train)
    assert golds is not None
    train_run = folder / "fuse-train"
    run_retriever(train, task, spec_r, model, replace(settings, label_mode="calibrate"),
                  train_run, config.model.batch_size, progress, retriever, confidence="none")
    done = Journal(train_run / JOURNAL).read()
    labels = list(task.labels or ())
    kept = [q for q in train if golds[q.id] in labels]
    x = features([done[q.id]["label_scores"] for q in kept], kept, train, task)
    key = {"settings": settings.key(), "retriever": spec_r, "fuse_train": limit}
    weights, scale = stored_or_fit(folder, key, x, [labels.index(golds[q.id]) for q in kept])
    return Fuser(weights, scale, everyone, task)

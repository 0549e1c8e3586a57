"""`evaluate`: retrieve, prompt, generate and score, per retriever, resumable.

Orchestration only: the settings are checked first (`pergen.run.settings`, `pergen.data.splits`),
questions are ranked and prompted by `pergen.run.steps`, and everything lands in the run
folder described in `pergen.run.folder` (journal per retriever, so an interrupted run
resumes where it stopped; results written atomically). Selectors (`pergen.rspg.selectors`)
run after their pool and reuse its answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..baselines.priors import global_distribution, prior_scores
from ..data import lamp
from ..data.records import Question
from ..data.splits import check_split, golds_for, load_split, resolve_task
from ..evaluation.abstention import Reanswer, TrustOptions, check_trust_fit, settle
from ..evaluation.calibration import argmax_labels, calibrated_scores
from ..evaluation.confidence import Measured, answer_confidence, run_confidence
from ..evaluation.metrics import GOLD_LOGLIK, per_example, score, units
from ..llm import DEFAULT_MODEL, get_model
from ..llm.base import Generator, Request, can_score
from ..memory.levels import Embed, Population, profiles_at_level
from ..memory.summaries import SummaryCache, describe, get_summarizer, question_summaries
from ..reports.comparison import write_comparison
from ..retrievers import Retriever, get_retriever, rank_many
from ..rspg.context import SelectionContext
from ..rspg.selectors import SELECTORS, Selector, get_selector
from ..tasks import TaskSpec
from ..tasks.rating import expected_ratings, prior_gap
from .folder import (
    RetrieverRun,
    add_selection,
    add_usage,
    claim,
    degenerate,
    slug,
    write_scores,
    write_warnings,
)
from .settings import (
    LABEL_MODES,
    PRIOR_MODES,
    EvalSettings,
    check_model,
    check_retrievers,
    check_task_fit,
    label_mode_for,
)
from .steps import answer, build_request, build_retrievers, gold_logliks, rank_request
from .storage import Journal, atomic_write_json

__all__ = ["LABEL_MODES", "EvalSettings", "RetrieverRun", "build_retrievers", "evaluate",
           "run_retriever", "slug"]

CALIBRATED = ("calibrate", "prior", "expected")  # label modes whose answers need the whole run


def run_retriever(questions: Sequence[Question], task: TaskSpec, retriever_spec: str,
                  model: Generator, settings: EvalSettings, folder: Path, batch_size: int = 8,
                  progress: bool = True, retriever: Retriever | None = None,
                  golds: Mapping[str, str] | None = None,
                  summaries: Mapping[str, str] | None = None,
                  label_prior: np.ndarray | None = None, confidence: str = "prob"
                  ) -> RetrieverRun:
    """Answer every question with one retriever; finished questions are never redone.

    With `golds` (and a model that scores text), each record also gets the gold output's
    mean log-probability per token given the same prompt (``gold_loglik``). `summaries`
    (question id -> text) go before the items, or replace them with memory ``summary``.
    `label_prior` is the split's label distribution that label mode ``prior`` smooths
    each user's own toward. `confidence` (`pergen.evaluation.confidence`: prob, verbal or none) is
    measured for every final answer.
    """
    started = time.perf_counter()
    journal = claim(folder, retriever_spec, settings.key())
    done = journal.read()
    todo = [q for q in questions if q.id not in done]
    retriever = retriever or get_retriever(retriever_spec)
    llm_seconds = 0.0
    bar = tqdm(total=len(questions), initial=len(questions) - len(todo), disable=not progress,
               desc=slug(retriever_spec), unit="q")
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
             "prompt": req.prompt} for q, req, a in zip(batch, requests, answers)]
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
        labels = list(task.labels or ())
        matrix = calibrated_scores([done[q.id]["label_scores"] for q in questions], len(labels))
        if settings.label_mode in PRIOR_MODES:
            assert label_prior is not None
            matrix = prior_scores(matrix, [q.profile for q in questions], task, label_prior,
                                  settings.prior_strength)
        chosen = (expected_ratings(matrix, task) if settings.label_mode == "expected"
                  else argmax_labels(matrix, labels))
        predictions = dict(zip(predictions, chosen))
    lamp.write_outputs(folder / "predictions.json", task.name, predictions)
    t0 = time.perf_counter()
    sure = run_confidence(confidence, model, task, journal, questions, predictions, matrix,
                          batch_size)
    llm_seconds += time.perf_counter() - t0
    likelihood = {q.id: done[q.id]["gold_loglik"] for q in questions
                  if "gold_loglik" in done[q.id]} if golds is not None else {}
    return RetrieverRun(retriever_spec, predictions, llm_seconds=llm_seconds,
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
        requests = [Request(prompt=done[q.id]["prompt"], input=q.input, retrieved=(), task=task)
                    for q in batch]
        values = _gold_logliks(model, requests, batch, golds)
        if values is None:  # nothing to score with
            return done
        journal.append([{**done[q.id], "gold_loglik": v} for q, v in zip(batch, values)])
    return journal.read() if missing else done


def evaluate(data_dir: str | Path, split: str, retrievers: Iterable[str], out_dir: str | Path,
             task: str | TaskSpec | None = None, model: str | Generator = DEFAULT_MODEL,
             k: int = 4, limit: int | None = None, max_length: int = 512, view: str = "full",
             position: str = "before", with_date: bool = False, label_mode: str = "auto",
             max_new_tokens: int | None = None, batch_size: int = 8, progress: bool = True,
             baseline: str = "none", gold_loglik: bool = True, level: str = "user",
             persona_k: int = 10, personas: int | None = None, persona_select: str = "user",
             min_profile: int = 4, profile_cap: int | None = None,
             memory: str = "items", summarizer: str = "stats", summary_tokens: int = 96,
             summaries_dir: str | Path | None = None, prior_strength: float = 1.0,
             embed: Embed | None = None,
             reprofile: Callable[[Question], Question] | None = None,
             confidence: str = "prob", abstain_below: float | None = None,
             coverage: float | None = None, fallback: str = "abstain"
             ) -> dict[str, RetrieverRun]:
    """Run every retriever on a split; write predictions, per-example scores, metrics,
    significance against `baseline` and a Markdown table.

    `gold_loglik` (on by default) adds the metric ``gold-loglik`` where the model can score
    text and the split has gold outputs: the mean log-probability per token of the user's
    real output given the exact prompt. It separates methods where the task metric cannot.

    `level` and its options (`pergen.memory.levels`) say whose items form each profile: the
    user's (capped to `profile_cap` most recent), a persona's, or everyone's; `embed`
    replaces the dense encoder that places users (tests pass a cheap one).
    `reprofile` replaces each question's profile after its level formed it: the swap
    study (`pergen.studies.swap`) puts another user's profile there.

    `memory` ``summary`` or ``summary+items`` puts a summary of each profile
    (`pergen.memory.summaries`, by `summarizer`) in the prompt, instead of or before the items;
    summaries are cached in `summaries_dir` (default: pergen's cache) and reused.

    `confidence` (prob, verbal or none; `pergen.evaluation.confidence`) gives every answer a
    confidence in [0, 1]; with `abstain_below` or `coverage`, answers below the threshold
    are replaced by the `fallback` (`pergen.evaluation.abstention`, which also states the scoring
    rule of abstained questions). ``OUT/selective.json`` holds, per retriever, the metric
    at 50/80/100% coverage, the risk-coverage curve, AURC and ECE.

    Every setting is checked before any data is loaded or any file written. Returns the
    runs by retriever spec. Metrics need the split's outputs file; without one (a test
    split) only predictions are written.
    """
    specs = check_retrievers(retrievers)
    check_model(model)
    # Built (= checked) before the data loads, so that bad options fail fast; the task and
    # model names are filled in once those are known.
    draft = EvalSettings(
        task="", model="", k=k, max_length=max_length, view=view, position=position,
        with_date=with_date, label_mode=label_mode, max_new_tokens=max_new_tokens, level=level,
        persona_k=persona_k, personas=personas, persona_select=persona_select,
        min_profile=min_profile, profile_cap=profile_cap, memory=memory, summarizer=summarizer,
        summary_tokens=summary_tokens, prior_strength=prior_strength)
    trust = TrustOptions(confidence, abstain_below, coverage, fallback)
    check_split(data_dir, split)
    spec = resolve_task(data_dir, split, task)
    selectors = {s: get_selector(s) for s in specs if s.partition(":")[0] in SELECTORS}
    questions = load_split(data_dir, split, limit)
    golds = golds_for(data_dir, split, questions)
    generator = get_model(model) if isinstance(model, str) else model
    settings = replace(draft, task=spec.name, model=getattr(generator, "name", str(model)),
                       label_mode=label_mode_for(draft.label_mode, spec, generator))
    check_task_fit(spec, generator, settings)
    check_trust_fit(trust, spec, generator, list(selectors))
    everyone = questions
    questions = profiles_at_level(questions, spec, settings.levels(), embed)
    if reprofile is not None:
        questions = [reprofile(q) for q in questions]
    summaries = _summaries(everyone, questions, spec, generator, settings, summaries_dir, out_dir,
                           progress)
    label_prior = (global_distribution(spec, everyone) if settings.label_mode in PRIOR_MODES
                   else None)
    prepare = getattr(generator, "prepare", None)
    if prepare is not None:  # models that learn something from the split's profiles
        prepare(everyone, spec)
    pool = [s for s in specs if s not in selectors]
    pool += [p for sel in selectors.values() for p in sel.pool]
    built = build_retrievers(check_retrievers(pool, selectors=False))
    out = Path(out_dir)
    runs: dict[str, RetrieverRun] = {}
    for spec_r, retriever in built.items():
        before = dict(getattr(generator, "usage", {}))
        runs[spec_r] = run_retriever(questions, spec, spec_r, generator, settings,
                                     out / slug(spec_r), batch_size, progress, retriever,
                                     golds if gold_loglik else None, summaries, label_prior,
                                     trust.confidence)
        add_usage(out / slug(spec_r), before, dict(getattr(generator, "usage", {})))
    if selectors:
        requests = [rank_request(spec, q, with_date) for q in questions]
        ctx = SelectionContext(questions, requests, spec, built, runs, out)
        for spec_r, selector in selectors.items():
            runs[spec_r] = run_selector(ctx, spec_r, selector)
    reanswer = _reanswerer(everyone, spec, generator, settings, built, out, batch_size, progress,
                           label_prior, embed)
    settle(runs, trust, questions, everyone, spec, golds, out, reanswer)
    if golds is not None:
        _score(runs, spec, golds, out, baseline)
    for run in runs.values():
        gap = prior_gap(spec, everyone, everyone, run.predictions, golds,
                        hint=settings.label_mode != "expected") if golds else None
        run.warning = "; ".join(w for w in (degenerate(run.predictions), gap) if w) or None
    write_warnings(out, {r: run.warning for r, run in runs.items() if run.warning})
    return runs


def _score(runs: dict[str, RetrieverRun], task: TaskSpec, golds: dict[str, str], out: Path,
           baseline: str) -> None:
    with_likelihood = all(run.gold_loglik for run in runs.values())
    for spec_r, run in runs.items():
        missing = "worst" if run.abstained else "error"  # abstained: the worst answer
        run.metrics = score(task, golds, run.predictions, missing=missing)
        run.per_example = per_example(task, golds, run.predictions, missing=missing)
        run.units = units(task, golds, run.predictions)
        if with_likelihood:  # only where every method has it: a table compares like with like
            values = [run.gold_loglik[qid] for qid in golds]
            run.metrics[GOLD_LOGLIK] = sum(values) / len(values)
            run.per_example[GOLD_LOGLIK] = run.units[GOLD_LOGLIK] = values
        write_scores(out / slug(spec_r), run, list(golds))
    atomic_write_json(out / "metrics.json", {r: run.metrics for r, run in runs.items()})
    write_comparison(runs, out, baseline)


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

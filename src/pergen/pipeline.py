"""`evaluate`: retrieve, prompt, generate and score, per retriever, resumable.

Each retriever gets a folder with an append-only journal of finished questions, so an
interrupted run resumes where it stopped. A `run.json` records the settings: resuming
with different settings is refused instead of mixing stale answers with new ones.
Results (`predictions.json`, `scores.json`, `metrics.json`) are written atomically.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import data as lamp
from .errors import ConfigError, DataError
from .llm import get_model
from .llm.base import Generator, LabelScorer, Request
from .calibration import batch_calibrated
from .metrics import per_example, score
from .prompts import PromptOptions, build_prompt
from .records import Question
from .retrievers import RankRequest, Retriever, get_retriever, rank_many
from .retrievers.rrf import DEFAULT as DEFAULT_FUSION
from .rspg.context import SelectionContext
from .storage import Journal, atomic_write_json
from .tasks import TaskSpec, get_task

LABEL_MODES = ("auto", "generate", "choose", "calibrate")


@dataclass(frozen=True)
class EvalSettings:
    """Everything that decides an answer; a resumed run must match it exactly."""

    task: str
    model: str
    k: int = 4
    max_length: int = 512
    view: str = "full"
    position: str = "before"
    with_date: bool = False
    label_mode: str = "auto"
    max_new_tokens: int | None = None

    def prompt_options(self) -> PromptOptions:
        return PromptOptions(k=self.k, max_length=self.max_length, view=self.view,
                             position=self.position)


@dataclass
class RetrieverRun:
    """What one retriever produced: answers, per-example scores, metrics and timings."""

    retriever: str
    predictions: dict[str, str]
    per_example: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    llm_seconds: float = 0.0
    total_seconds: float = 0.0


def slug(spec: str) -> str:
    """A folder name for a retriever spec (`dense:/x/y` -> `dense_y`)."""
    name, _, arg = spec.partition(":")
    if arg:
        arg = Path(arg).name if ("/" in arg or "\\" in arg) else arg
        name = f"{name}_{arg}"
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)[:80] or "retriever"


def clean_output(text: str) -> str:
    """The first non-empty line, stripped: small models often run on after the answer."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _check_settings(folder: Path, settings: dict[str, Any], retriever: str) -> None:
    path = folder / "run.json"
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("settings") != settings or stored.get("retriever") != retriever:
            raise ConfigError(f"{folder} holds a run with other settings ({stored.get('settings')});"
                              " use another --out folder or delete it")
    else:
        atomic_write_json(path, {"retriever": retriever, "settings": settings})


def answer(model: Generator, requests: Sequence[Request], task: TaskSpec,
            settings: EvalSettings) -> tuple[list[str], list[list[float]] | None]:
    """Answers, and the label scores when labels are picked by likelihood."""
    use_scores = task.labels and isinstance(model, LabelScorer) and settings.label_mode != "generate"
    if settings.label_mode in ("choose", "calibrate") and not use_scores:
        raise ConfigError(f"--label-mode {settings.label_mode} needs a task with labels and a model"
                          f" that scores them; {model.name} on {task.name} cannot")
    if use_scores:
        labels = list(task.labels or ())
        scores = model.label_scores(requests, labels)
        return [labels[max(range(len(labels)), key=lambda j: (s[j], -j))] for s in scores], scores
    max_new = settings.max_new_tokens or task.max_new_tokens
    return [clean_output(o) for o in model.generate(requests, max_new)], None


def run_retriever(questions: Sequence[Question], task: TaskSpec, retriever_spec: str,
                  model: Generator, settings: EvalSettings, folder: Path, batch_size: int = 8,
                  progress: bool = True, retriever: Retriever | None = None) -> RetrieverRun:
    """Answer every question with one retriever; finished questions are never redone."""
    started = time.perf_counter()
    _check_settings(folder, asdict(settings), retriever_spec)
    journal = Journal(folder / "journal.jsonl")
    done = journal.read()
    todo = [q for q in questions if q.id not in done]
    retriever = retriever or get_retriever(retriever_spec)
    llm_seconds = 0.0
    bar = tqdm(total=len(questions), initial=len(questions) - len(todo), disable=not progress,
               desc=slug(retriever_spec), unit="q")
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        ranked = rank_many(retriever, [rank_request(task, q, settings.with_date) for q in batch])
        requests = [build_request(task, q, [s.item for s in r[: settings.k]], model, settings,
                                  retriever) for q, r in zip(batch, ranked)]
        t0 = time.perf_counter()
        answers, scores = answer(model, requests, task, settings)
        llm_seconds += time.perf_counter() - t0
        records = [{"id": q.id, "output": a, "retrieved": [i.id for i in req.retrieved],
                    "prompt": req.prompt} for q, req, a in zip(batch, requests, answers)]
        for record, s in zip(records, scores or ()):
            record["label_scores"] = s
        journal.append(records)
        bar.update(len(batch))
    bar.close()
    done = journal.read()
    predictions = {q.id: done[q.id]["output"] for q in questions}
    if settings.label_mode == "calibrate":
        calibrated = batch_calibrated([done[q.id]["label_scores"] for q in questions],
                                      list(task.labels or ()))
        predictions = dict(zip(predictions, calibrated))
    lamp.write_outputs(folder / "predictions.json", task.name, predictions)
    return RetrieverRun(retriever_spec, predictions, llm_seconds=llm_seconds,
                        total_seconds=time.perf_counter() - started)


def rank_request(task: TaskSpec, q: Question, with_date: bool = False) -> RankRequest:
    """What a retriever sees for a question: the task's query and its profile's documents."""
    docs = [task.document(item, with_date) for item in q.profile]
    return RankRequest(task.query(q.input), q.profile, docs)


def build_request(task: TaskSpec, q: Question, items: list, model: Generator,
                  settings: EvalSettings, retriever: Retriever | None = None) -> Request:
    prompt = build_prompt(task, q.input, items, model.tokenizer, settings.prompt_options())
    return Request(prompt=prompt, input=q.input, retrieved=tuple(items), task=task,
                   profile=q.profile, retriever=retriever)


def _score_run(run: RetrieverRun, task: TaskSpec, golds: dict[str, str], folder: Path) -> None:
    run.metrics = score(task, golds, run.predictions)
    run.per_example = per_example(task, golds, run.predictions)
    ids = list(golds)
    atomic_write_json(folder / "scores.json", {
        qid: {m: vals[i] for m, vals in run.per_example.items()} for i, qid in enumerate(ids)})


def evaluate(data_dir: str | Path, split: str, retrievers: Iterable[str], out_dir: str | Path,
             task: str | TaskSpec | None = None, model: str | Generator = "smollm2",
             k: int = 4, limit: int | None = None, max_length: int = 512, view: str = "full",
             position: str = "before", with_date: bool = False, label_mode: str = "auto",
             max_new_tokens: int | None = None, batch_size: int = 8, progress: bool = True,
             ) -> dict[str, RetrieverRun]:
    """Run every retriever on a split; write predictions, per-example scores and metrics.

    Returns the runs by retriever spec. Metrics need the split's outputs file; without
    one (a test split) only predictions are written.
    """
    if label_mode not in LABEL_MODES:
        raise ConfigError(f"unknown label mode {label_mode!r}; known: {LABEL_MODES}")
    spec = resolve_task(data_dir, split, task)
    questions = lamp.load_questions(lamp.questions_path(data_dir, split), limit)
    if not questions:
        raise DataError("no questions", file=str(lamp.questions_path(data_dir, split)))
    golds = golds_for(data_dir, split, questions)
    generator = get_model(model) if isinstance(model, str) else model
    settings = EvalSettings(task=spec.name, model=getattr(generator, "name", str(model)), k=k,
                            max_length=max_length, view=view, position=position,
                            with_date=with_date, label_mode=label_mode,
                            max_new_tokens=max_new_tokens)
    settings.prompt_options()  # validate before any work
    retrievers = list(retrievers)
    selectors = load_selectors(retrievers)  # before any work: fail fast on bad names
    pool = [s for s in retrievers if s not in selectors]
    pool += [p for sel in selectors.values() for p in sel.pool]
    built = build_retrievers(pool)
    out = Path(out_dir)
    runs: dict[str, RetrieverRun] = {}
    for spec_r, retriever in built.items():
        folder = out / slug(spec_r)
        runs[spec_r] = run_retriever(questions, spec, spec_r, generator, settings, folder,
                                     batch_size, progress, retriever)
    ctx = SelectionContext(questions, spec, built, runs, out, with_date)
    for spec_r, selector in selectors.items():
        runs[spec_r] = run_selector(ctx, spec_r, selector)
    for spec_r, run in runs.items():
        if golds is not None:
            _score_run(run, spec, golds, out / slug(spec_r))
    if golds is not None:
        atomic_write_json(out / "metrics.json", {r: run.metrics for r, run in runs.items()})
    return runs


def load_selectors(specs: Iterable[str]) -> dict[str, Any]:
    """Retriever selectors among the specs, loaded: RSPG (``rspg-pre:FOLDER``,
    ``rspg-post:FOLDER``) and QPP baselines (``qpp-wig[:a+b+...]``, nqc, sigma_max, sigma_x)."""
    selectors: dict[str, Any] = {}
    for spec in dict.fromkeys(specs):
        name, _, arg = spec.partition(":")
        if name in ("rspg-pre", "rspg-post"):
            from .rspg.selector import Selector
            if not arg:
                raise ConfigError(f"{name} needs the trained selector's folder: {name}:FOLDER")
            selectors[spec] = Selector.load(arg)
            if selectors[spec].mode != name.removeprefix("rspg-"):
                raise ConfigError(f"{arg} holds an RSPG-{selectors[spec].mode} selector, not {name}")
        elif name.startswith("qpp-"):
            from .feedback import DEFAULT_POOL
            from .rspg.baselines import qpp_selector
            selectors[spec] = qpp_selector(name, arg, DEFAULT_POOL)
    return selectors


def run_selector(ctx: SelectionContext, spec: str, selector: Any) -> RetrieverRun:
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
    return RetrieverRun(spec, predictions, total_seconds=time.perf_counter() - started)


def add_selection(run_dir: Path, name: str, choices: dict[str, str]) -> None:
    """Record a selector's per-question choices in ``RUN_DIR/selection.json`` (read by
    `pergen report` for success rates), keeping the other selectors' entries."""
    path = run_dir / "selection.json"
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    stored.setdefault("selectors", {})[name] = choices
    atomic_write_json(path, stored)


def build_retrievers(specs: Iterable[str]) -> dict[str, Retriever]:
    """Retrievers by spec; `rrf` reuses the ones also run on their own, so a dense
    encoder (and its embedding cache) is loaded once per run, not once more for fusion."""
    pool: dict[str, Retriever] = {}

    def get(spec: str) -> Retriever:
        if spec not in pool:
            name, _, arg = spec.partition(":")
            parts = (arg or DEFAULT_FUSION).split("+") if name == "rrf" else None
            pool[spec] = (get_retriever("rrf", retrievers=[get(p) for p in parts]) if parts
                          else get_retriever(spec))
        return pool[spec]

    return {spec: get(spec) for spec in dict.fromkeys(specs)}


def resolve_task(data_dir: str | Path, split: str, task: str | TaskSpec | None) -> TaskSpec:
    """The given task, or the one named by the split's outputs file."""
    if isinstance(task, TaskSpec):
        return task
    if task:
        return get_task(task)
    name = lamp.read_task_name(data_dir, split)
    if not name:
        raise ConfigError(f"no --task given and {lamp.outputs_path(data_dir, split)} has no "
                          "'task' field to take it from")
    return get_task(name)


def golds_for(data_dir: str | Path, split: str, questions: Sequence[Question]
               ) -> dict[str, str] | None:
    path = lamp.outputs_path(data_dir, split)
    if not path.exists():
        return None
    golds = lamp.load_outputs(path).by_id
    missing = [q.id for q in questions if q.id not in golds]
    if missing:
        raise DataError(f"no gold output for {len(missing)} question(s), e.g. {missing[:3]}",
                        file=str(path), record=missing[0])
    return {q.id: golds[q.id] for q in questions}

"""The research notes' claims as paired experiments on your data and model: `findings`.

Research notes 000-003 make claims about personalization that were measured elsewhere,
with other models and data. `findings` reruns each claim (`pergen.studies.claims`) as a paired
experiment (two conditions, the same questions, the same model and method) and writes a
page that says, per claim, whether this data and model reproduce it (`pergen.studies.verdicts`).

Every condition is an ordinary, resumable `evaluate` run folder ``OUT/<condition>/``
(the swap study's too, with one similarity bin: the full curve is `pergen swap-study`'s),
and conditions shared by claims run once. Rerunning the same command answers nothing
again. Everything is checked (options, data, task, model, folders already there) before
any file is written; a claim the task or model cannot test (a view on items without an
input part, confidence from a model that scores nothing) is listed as not applicable,
with the reason. ``OUT/findings.json`` holds every figure, ``findings.md`` and
``findings.html`` the page (`pergen.reports.findings`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, bad_choice
from ..evaluation.confidence import unavailable
from ..evaluation.metrics import GOLD_LOGLIK, units
from ..evaluation.selective import threshold_for_coverage
from ..evaluation.significance import BOOTSTRAP_ROUNDS
from ..llm.base import Generator
from ..memory.levels import Embed
from ..registry import Spec
from ..reports.findings import limits, write_page
from ..reports.tables import ALPHA
from ..run.config import RunConfig
from ..run.folder import SETTINGS, RetrieverRun, slug
from ..run.pipeline import evaluate
from ..run.prepare import prepare_run
from ..run.references import run_references
from ..run.settings import EvalSettings, check_retrievers, check_task_fit
from ..tasks import TaskSpec
from .claims import CLAIM_NAMES, CONFIDENT, SWAP, Claim, Comparison, claims, conditions
from .swap import MOST, OWN, PARTNERS, RANDOM, swap_study
from .verdicts import Measure, paired, selected

NOT_APPLICABLE = "not applicable"
VARIED = frozenset({o for variant in conditions().values() for o in variant}
                   | {"retrievers", "abstain_below", "fallback"}) - {"summarizer", "summary_tokens"}
"""Run options the conditions set (the method's retriever too, and the abstention claim's
threshold): a findings run cannot fix them. The summary condition's summarizer is the
run's own."""
SWAP_BINS = 1  # most, one bin, random, least: the near-miss contrast; the curve is swap-study's
REFERENCES = "references"  # OUT/references/: the no-LLM answers, run once


@dataclass(frozen=True)
class Row:
    """A comparison's figures: the task metric's (which decides the verdict) and
    gold-loglik's (shown beside it), or why it could not be run."""

    claim: str
    comparison: Comparison
    measure: Measure | None = None
    loglik: Measure | None = None
    reason: str | None = None  # not applicable: why
    detail: str | None = None  # e.g. the coverage a threshold really kept

    @property
    def verdict(self) -> str:
        return self.measure.verdict if self.measure else NOT_APPLICABLE


@dataclass
class Findings:
    """The rows, the runs by condition, and what ``findings.json`` holds."""

    rows: list[Row]
    runs: dict[str, RetrieverRun]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    """What runs: evaluate conditions (name -> options), whether the swap study does, and
    why some conditions or claims cannot run."""

    conditions: dict[str, dict[str, Any]]
    swap: bool
    settings: dict[str, EvalSettings]
    skipped: dict[str, str]  # condition or claim name -> reason


def _embedder(embed: Embed | None) -> Embed | None:
    """`embed`, or the dense encoder loaded on first use with a memo per text, shared by
    the persona level and the swap study so each user's items are embedded once."""
    if embed is not None:
        return embed
    import numpy as np

    memo: dict[str, Any] = {}
    model: list[Any] = []

    def run(texts: Sequence[str]) -> Any:
        new = [t for t in dict.fromkeys(texts) if t not in memo]
        if new:
            if not model:
                from ..retrievers.encoder import Encoder  # torch: only when users are placed
                model.append(Encoder.load())
            memo.update(zip(new, np.asarray(model[0].encode(new), dtype=np.float64)))
        return np.vstack([memo[t] for t in texts])
    return run


def _plan(chosen: Sequence[Claim], base: EvalSettings, task: TaskSpec, model: Generator,
          retriever: str, cold_cap: int, confidence: str, summarizer: str,
          summary_tokens: int) -> _Plan:
    """The conditions the chosen claims need, each checked against the task and model."""
    variants = conditions(cold_cap, summarizer, summary_tokens)
    settable = {f.name for f in fields(EvalSettings)}
    skipped: dict[str, str] = {}
    if not task.input_fields:
        skipped["view"] = (f"task {task.name}'s profile items have no input part: the "
                           "output-only view shows what the full one does, input-only nothing")
    why = unavailable(confidence, model) if confidence != "none" else \
        "confidence none measures no confidence"
    if why:
        skipped["abstention"] = why
    planned: dict[str, dict[str, Any]] = {}
    settings: dict[str, EvalSettings] = {}
    swap = False
    for claim in chosen:
        if claim.name in skipped:
            continue
        for comparison in claim.comparisons:
            for name in (comparison.a, comparison.b):
                if claim.name == SWAP and name != OWN:
                    swap = True
                    continue
                if name == CONFIDENT or name in planned or name in skipped:
                    continue
                options = variants[name]
                settings[name] = replace(base, **{k: v for k, v in options.items()
                                                  if k in settable})
                try:
                    check_task_fit(task, model, settings[name])
                except ConfigError as e:
                    skipped[name] = e.render()
                    continue
                planned[name] = {"retriever": retriever, **options}
    if OWN in planned:  # the reference of most rows runs first
        planned = {OWN: planned.pop(OWN), **planned}
    return _Plan(planned, swap, settings, skipped)


def _check_folders(out: Path, plan: _Plan, base: EvalSettings, retriever: str, seed: int,
                   data_dir: str | Path, split: str) -> None:
    """Refuse, before anything is written, a folder that holds runs with other settings
    (`evaluate` would refuse them only once earlier conditions had run)."""
    folders = {name: (opts["retriever"], plan.settings[name])
               for name, opts in plan.conditions.items()}
    if plan.swap:
        for name in (MOST, "bin-01", RANDOM, "least"):
            folders[name] = (retriever, base)
    for name, (spec, settings) in folders.items():
        path = out / name / slug(spec) / SETTINGS
        if not path.exists():
            continue
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("settings") != settings.key() or stored.get("retriever") != spec:
            raise ConfigError(f"{out / name} holds a run with other settings "
                              f"({stored.get('settings')}): use another {{option}} folder or "
                              "delete it", option="out_dir")
    partners = out / PARTNERS
    if plan.swap and partners.exists():
        key = json.loads(partners.read_text(encoding="utf-8")).get("key", {})
        if key.get("seed") != seed:
            raise ConfigError(f"{out} holds a swap study with seed {key.get('seed')!r}, not "
                              f"{seed!r}: use another output folder or delete it", option="seed")
        if key.get("data_dir") != str(Path(data_dir).resolve()) or key.get("split") != split:
            raise ConfigError(f"{out} holds findings on {key.get('data_dir')} "
                              f"({key.get('split')}): use another {{option}} folder",
                              option="out_dir")


def findings(data_dir: str | Path, split: str, out_dir: str | Path,
             config: RunConfig | None = None, *, retriever: str = "bm25",
             task: str | TaskSpec | None = None, limit: int | None = None,
             only: Iterable[str] | None = None, seed: int = 0, coverage: float = 0.8,
             cold_cap: int = 1, metric: str | None = None, progress: bool = True,
             on_progress: Callable[[str], None] | None = None, embed: Embed | None = None,
             **options: Any) -> Findings:
    """Run the chosen claims (`only`; default all, see the module docstring) and write
    ``OUT/findings.json``, ``findings.md`` and ``findings.html``.

    The method is `retriever` with the run configuration `config` (flat `options` change
    it: k, label mode, model...); each condition varies one part of it. `metric`
    (default: the task's first) decides the verdicts, gold-loglik is shown beside it.
    `seed` draws the swap study's partners and seeds the bootstrap; `on_progress` gets
    one line per experiment as it starts (the library prints nothing). `embed` replaces
    the dense encoder that places users (persona level, swap study).
    """
    chosen_names = list(dict.fromkeys(only or CLAIM_NAMES))
    for name in chosen_names:
        if name not in CLAIM_NAMES:
            raise bad_choice("only", name, CLAIM_NAMES)
    for name in options:
        if name in VARIED:
            raise ConfigError("{option} is what the claims vary: findings set it per "
                              "condition", option=name)
    spec_r = check_retrievers([retriever], option="retriever", selectors=False)[0]
    kind = Spec.parse(spec_r).name
    if kind == "none":
        raise ConfigError("{option} none reads no profile: the claims vary the profile, so "
                          "give a retriever (bm25, dense...)", option="retriever")
    if kind == "recency" and "retrieval" in chosen_names:
        raise ConfigError("{option} recency: the retrieval claim compares recency with a "
                          "similarity retriever; give one (bm25, dense...)", option="retriever")
    if not 0.0 < coverage < 1.0:
        raise ConfigError(f"{{option}} must be a share in (0, 1), got {coverage}",
                          option="coverage")
    if cold_cap < 0:
        raise ConfigError(f"{{option}} must be >= 0, got {cold_cap}", option="cold_cap")
    if limit is not None and limit < 1:
        raise ConfigError(f"{{option}} must be >= 1, got {limit}", option="limit")
    # Each condition is a paired contrast of the method with itself: the no-LLM references
    # run once, in OUT/references/, against the own condition (`_against_references`).
    config = (config or RunConfig()).replace(retrievers=(spec_r,), **options)
    with_references = config.retrieval.references
    config = config.replace(references=False)
    # Built only to be checked: the summary condition's options.
    config.replace(memory="summary")
    run = prepare_run(data_dir, split, config, task, limit, resolve_label_mode=False,
                      golds_needed="the findings compare conditions against the gold outputs")
    spec, questions, generator, base = run.task, run.questions, run.model, run.settings
    config = config.replace(model=generator)
    metric = metric or spec.metrics[0]
    if metric not in spec.metrics:
        raise bad_choice("metric", metric, spec.metrics, f" for task {spec.name}")
    k, summarizer = config.prompt.k, config.memory.summarizer
    summary_tokens, confidence = config.memory.summary_tokens, config.trust.confidence
    chosen = [c for c in claims(spec_r, k, cold_cap, coverage, summarizer)
              if c.name in chosen_names]
    plan = _plan(chosen, base, spec, generator, spec_r, cold_cap, confidence, summarizer,
                 summary_tokens)
    out = Path(out_dir)
    _check_folders(out, plan, base, spec_r, seed, data_dir, split)

    say = on_progress or (lambda line: None)
    embed = _embedder(embed)
    total = len(plan.conditions) + plan.swap
    runs: dict[str, RetrieverRun] = {}
    seconds: dict[str, float] = {}
    for i, (name, options) in enumerate(plan.conditions.items(), 1):
        say(f"[{i}/{total}] {name}: {_describe(options)} -> {out / name}")
        started = time.perf_counter()
        opts = dict(options)
        spec_c = opts.pop("retriever")
        if "level" in opts and opts["level"] != "user":
            opts["embed"] = embed
        runs[name] = evaluate(data_dir, split, [spec_c], out / name, config, task=spec,
                              limit=limit, progress=progress, **opts)[spec_c]
        seconds[name] = time.perf_counter() - started
    if plan.swap:
        say(f"[{total}/{total}] {SWAP}: own profile vs the most similar, a random and the "
            f"least similar other user's (seed {seed}) -> {out}")
        started = time.perf_counter()
        study = swap_study(data_dir, split, spec_r, out, task=spec, limit=limit, seed=seed,
                           bins=SWAP_BINS, progress=progress, embed=embed, config=config)
        for name in (MOST, RANDOM):
            runs[name] = study.runs[name]
        seconds[SWAP] = time.perf_counter() - started

    ids = [q.id for q in questions]
    n_labels = len(spec.labels or ())
    rows = [_row(claim, comparison, runs, plan.skipped, metric, ids, n_labels, seed, coverage)
            for claim in chosen for comparison in claim.comparisons]
    result = Findings(rows, runs)
    result.summary = _summary(result, chosen, plan, spec, base, spec_r, len(questions), metric,
                              seed, coverage, data_dir, split, seconds)
    if with_references and OWN in runs:
        say(f"the no-LLM references on the same questions -> {out / REFERENCES}")
        references = run_references(questions, questions, spec, base, out / REFERENCES,
                                    config.model.batch_size, progress)
        result.summary["references"] = _against_references(runs[OWN], references, spec,
                                                           run.golds or {}, metric, seed)
    write_page(out, result.summary)
    return result


def _against_references(own: RetrieverRun, references: Mapping[str, RetrieverRun],
                        task: TaskSpec, golds: Mapping[str, str], metric: str, seed: int
                        ) -> list[dict[str, Any]]:
    """The method (the own condition) against each no-LLM reference on the task metric:
    does personalizing the LLM beat what a user gets without one?"""
    out = []
    for name, ref in references.items():
        theirs = units(task, dict(golds), ref.predictions)[metric]
        measure = paired(metric, own.units[metric], theirs, 1, len(task.labels or ()), seed)
        out.append({"name": name, "measure": _measure_json(measure)})
    return out


def _describe(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items())


def _row(claim: Claim, c: Comparison, runs: Mapping[str, RetrieverRun],
         skipped: Mapping[str, str], metric: str, ids: Sequence[str], n_labels: int,
         seed: int, coverage: float) -> Row:
    """The figures of one comparison, or why it is not applicable."""
    for name in (claim.name, c.a, c.b):
        if name in skipped:
            return Row(claim.name, c, reason=skipped[name])
    if c.a == CONFIDENT:
        return _abstention_row(claim, c, runs[c.b], metric, ids, n_labels, seed, coverage)
    a, b = runs[c.a], runs[c.b]
    measure = paired(metric, a.units[metric], b.units[metric], c.expects, n_labels, seed)
    loglik = None
    if GOLD_LOGLIK in a.units and GOLD_LOGLIK in b.units:
        loglik = paired(GOLD_LOGLIK, a.units[GOLD_LOGLIK], b.units[GOLD_LOGLIK], c.expects,
                        seed=seed)
    return Row(claim.name, c, measure, loglik)


def _abstention_row(claim: Claim, c: Comparison, run: RetrieverRun, metric: str,
                    ids: Sequence[str], n_labels: int, seed: int, coverage: float) -> Row:
    """The confident share of a run against all of it, kept as the selective figures keep
    it: confidence at or above the threshold that covers `coverage` (ties kept, so the
    share can be larger; an answer without a confidence ranks last)."""
    if not run.confidence:
        return Row(claim.name, c, reason=run.confidence_note or "the run has no confidence")
    conf = [run.confidence.get(q, 0.0) for q in ids]
    t = threshold_for_coverage(conf, coverage)
    kept = [v >= t for v in conf]
    measure = selected(metric, run.units[metric], kept, c.expects, n_labels, seed)
    loglik = (selected(GOLD_LOGLIK, run.units[GOLD_LOGLIK], kept, c.expects, seed=seed)
              if GOLD_LOGLIK in run.units else None)
    detail = (f"kept {sum(kept)} of {len(kept)} answers (coverage {sum(kept) / len(kept):.2f}, "
              f"confidence >= {t:.3g})")
    return Row(claim.name, c, measure, loglik, detail=detail)


def _measure_json(m: Measure | None) -> dict[str, Any] | None:
    if m is None:
        return None
    out = asdict(m)
    out["ci"] = list(m.ci)
    return out


def _summary(result: Findings, chosen: Sequence[Claim], plan: _Plan, task: TaskSpec,
             base: EvalSettings, retriever: str, n: int, metric: str, seed: int,
             coverage: float, data_dir: str | Path, split: str, seconds: Mapping[str, float]
             ) -> dict[str, Any]:
    """What ``findings.json`` holds and the page is rendered from."""
    warnings = {name: run.warning for name, run in result.runs.items() if run.warning}
    by_claim = {c.name: [r for r in result.rows if r.claim == c.name] for c in chosen}
    summary = {
        "data": str(data_dir), "split": split, "task": task.name, "model": base.model,
        "retriever": retriever, "settings": base.key(), "n": n, "metric": metric,
        "alpha": ALPHA, "seed": seed, "coverage": coverage, "bootstrap_rounds": BOOTSTRAP_ROUNDS,
        "not_run": [name for name in CLAIM_NAMES if name not in by_claim],
        "claims": [{"name": c.name, "note": c.note, "title": c.title,
                    "statement": c.statement, "rows": [_row_json(r) for r in by_claim[c.name]]}
                   for c in chosen],
        "conditions": {name: {"folder": name, "metrics": run.metrics}
                       for name, run in result.runs.items()},
        "swap_study": "swap.md" if plan.swap else None,
        "warnings": warnings, "seconds": dict(seconds), "references": [],
    }
    summary["limits"] = limits(summary)
    return summary


def _row_json(r: Row) -> dict[str, Any]:
    c = r.comparison
    return {"a": c.a_label, "b": c.b_label, "a_condition": c.a, "b_condition": c.b,
            "expects": "a better" if c.expects > 0 else "a worse", "verdict": r.verdict,
            "measure": _measure_json(r.measure), "gold_loglik": _measure_json(r.loglik),
            "reason": r.reason, "detail": r.detail}


def study(data_dir: str | Path, split: str, out_dir: str | Path, config: RunConfig,
          **options: Any) -> Findings:
    """The registered ``findings`` study: the configuration's first retriever is the method."""
    return findings(data_dir, split, out_dir, config,
                    retriever=config.retrieval.retrievers[0], **options)

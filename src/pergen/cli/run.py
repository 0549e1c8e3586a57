"""`pergen rank`, `evaluate`, `demo`, `summarize` and `score`: running configurations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape as rich_escape

from ..llm import DEFAULT_MODEL, DEVICES, MODELS, Generator, get_model
from ..registry import Spec
from ..run.config import RunConfig
from . import options as o
from .app import app, err, friendly, out, say

OutDir = typer.Option(..., "--out", help="Run folder (resumable)")


@app.command("rank")
@friendly
def rank_cmd(data: o.Data, retriever: o.Retriever,
             out_file: Path = typer.Option(..., "--out", help="Ranking JSON to write"),
             split: o.Split = "dev", task: o.Task = None, limit: o.Limit = None,
             with_date: o.WithDate = False) -> None:
    """Write the LaMP ranking file: each question id -> all its profile item ids, best first."""
    from ..run.ranking import rank
    ranking = rank(data, split, retriever, out_file, task=task, limit=limit, with_date=with_date)
    say(f"ranked {len(ranking)} questions -> {out_file}")


@app.command("evaluate")
@friendly
def evaluate_cmd(data: o.Data, out_dir: Path = OutDir, split: o.Split = "dev",
                 retriever: o.Retrievers = ["none", "bm25"],  # noqa: B006 (typer reads it)
                 task: o.Task = None, limit: o.Limit = None, k: o.K = 4,
                 model: o.Model = DEFAULT_MODEL, device: o.Device = "auto",
                 max_length: o.MaxLength = 512, view: o.View = "full",
                 position: o.Position = "before", prompt_style: o.PromptStyle = "auto",
                 with_date: o.WithDate = False,
                 label_mode: o.LabelMode = "auto", fuse_train: o.FuseTrain = 200,
                 max_new_tokens: o.MaxNewTokens = None,
                 batch_size: o.BatchSize = 8, baseline: o.Baseline = "none",
                 references: o.References = True,
                 vote_k: o.VoteK = None, gold_loglik: o.GoldLoglik = True,
                 level: o.Levels = ["user"], profile_cap: o.ProfileCaps = ["all"],  # noqa: B006
                 persona_k: o.PersonaK = 10, personas: o.Personas = None,
                 persona_select: o.PersonaSelect = "user", min_profile: o.MinProfile = 4,
                 memory: o.Memory = "items", summarizer: o.Summarizer = "stats",
                 summary_tokens: o.SummaryTokens = 96, prior_strength: o.PriorStrength = 1.0,
                 summaries: o.Summaries = None, confidence: o.Confidence = "prob",
                 abstain_below: o.AbstainBelow = None, coverage: o.Coverage = None,
                 fallback: o.Fallback = "abstain") -> None:
    """Retrieve, prompt, generate and score; print a Table-3 style comparison.

    Several --level or --profile-cap values run a cold-start sweep: one run folder each
    under OUT, and OUT/cold_start.md and .png (metric against N, one line per level)."""
    caps = [_cap(c) for c in profile_cap]
    config = RunConfig.build(
        retrievers=tuple(retriever), with_date=with_date, baseline=baseline,
        references=references,
        k=k, max_length=max_length, view=view, position=position, prompt_style=prompt_style,
        model=on_device(_with_vote_k(model, vote_k), device), label_mode=label_mode,
        fuse_train=fuse_train,
        max_new_tokens=max_new_tokens, prior_strength=prior_strength, batch_size=batch_size,
        gold_loglik=gold_loglik, memory=memory, summarizer=summarizer,
        summary_tokens=summary_tokens, summaries_dir=summaries, level=level[0],
        profile_cap=caps[0], persona_k=persona_k, personas=personas,
        persona_select=persona_select, min_profile=min_profile, confidence=confidence,
        abstain_below=abstain_below, coverage=coverage, fallback=fallback)
    run_and_print(data, split, out_dir, config, task, limit, level, caps)


def run_and_print(data: Path, split: str, out_dir: Path, config: RunConfig,
                  task: str | None, limit: int | None, levels: list[str],
                  caps: list[int | None]) -> None:
    """Evaluate (or sweep levels and caps) and print the tables, notes and warnings."""
    if len(levels) > 1 or len(caps) > 1:
        from ..studies.coldstart import sweep
        sweep(data, split, None, out_dir, levels, caps, config=config, task=task, limit=limit)
        say(f"cold-start study: {Path(out_dir) / 'cold_start.md'} and cold_start.png")
        return
    from ..evaluation.metrics import GOLD_LOGLIK
    from ..reports.comparison import comparison_of, print_table
    from ..reports.wins import first_metric, wins_of_runs
    from ..run.pipeline import evaluate
    runs = evaluate(data, split, None, out_dir, config, task=task, limit=limit)
    _print_summary_counts(Path(out_dir))
    baseline = config.retrieval.baseline
    if any(r.metrics for r in runs.values()):
        table = comparison_of(runs, baseline)
        print_table(out, table, title=f"{Path(data).name} / {split}", baseline=baseline)
        metric = first_metric(runs)
        for line in wins_of_runs(runs, metric) if metric else []:
            out.print(rich_escape(line), highlight=False, soft_wrap=True)
    _print_selective(Path(out_dir))
    for name, run in runs.items():
        if run.warning:
            err.print(f"[bold yellow]warning:[/] {rich_escape(name)}: {rich_escape(run.warning)}")
    if config.model.gold_loglik and not any(GOLD_LOGLIK in r.metrics for r in runs.values()):
        say(f"note: {GOLD_LOGLIK} not measured: {_why_no_loglik(runs, config)}")
    say(f"results in {out_dir}")


def _why_no_loglik(runs: dict[str, Any], config: RunConfig) -> str:
    """Which of the two reasons holds: no gold outputs, or a model that scores no text."""
    if not any(r.metrics for r in runs.values()):
        return "the split has no gold outputs"
    model = config.model.model
    return f"{model if isinstance(model, str) else model.name} cannot score text"


def _print_selective(out_dir: Path) -> None:
    """The selective-prediction figures, one line per retriever (a table of twelve columns
    does not fit a terminal), and the notes: thresholds chosen, runs without confidence."""
    from ..reports.selective import lines, load, notes
    summary = load(out_dir)
    if not summary:
        return
    for line in lines(summary):
        out.print(rich_escape(line), highlight=False, soft_wrap=True)
    for line in notes(summary):
        say(f"note: {line}")


def _print_summary_counts(out_dir: Path) -> None:
    path = out_dir / "summaries.json"
    if path.exists():
        counts = json.loads(path.read_text(encoding="utf-8"))
        say(f"summaries ({counts['summarizer']}): {counts['computed']} computed, "
            f"{counts['reused']} reused from {counts['folder']}")


@app.command("score")
@friendly
def score_cmd(golds: Path = typer.Option(..., "--golds", help="Gold outputs JSON"),
              preds: Path = typer.Option(..., "--preds", help="Predictions JSON (same shape)"),
              task: str | None = typer.Option(None, "--task",
                                                 help="Default: the golds file's 'task'"),
              missing: str = typer.Option("error", "--missing", help="A question without a "
                                          "prediction: error, worst (scored as wrong) or "
                                          "abstain (worst, plus the metrics over the answered)"),
              confidence: Path | None = typer.Option(None, "--confidence", help="confidence.json "
                                                     "of the predictions: adds coverage 50/80/"
                                                     "100%, AURC and ECE"),
              charts: Path | None = typer.Option(None, "--charts", help="Folder for the "
                                                 "risk-coverage and reliability PNGs (needs "
                                                 "--confidence)")) -> None:
    """Print the task's metrics as JSON, as the official LaMP evaluator computes them.

    With --missing abstain or --confidence: {"metrics": ..., "answered": ..., "selective":
    ...} (see `pergen.evaluation.abstention`)."""
    from ..data.lamp import load_outputs
    from ..evaluation.metrics import score
    from ..tasks import get_task
    if charts is not None and confidence is None:
        raise typer.BadParameter("needs --confidence", param_hint="--charts")
    g = load_outputs(golds)
    p = load_outputs(preds)
    spec = get_task(task or g.task)
    if confidence is None and missing != "abstain":
        json.dump(score(spec, g.by_id, p.by_id, missing=missing), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from ..evaluation.abstention import load_confidence, score_predictions
    found = score_predictions(spec, g.by_id, p.by_id,
                              load_confidence(confidence) if confidence else None, missing)
    if charts is not None:
        from ..reports.selective import charts as selective_charts
        from ..run.storage import atomic_write_bytes
        for file, _, png in selective_charts({preds.stem: found["selective"]}):
            atomic_write_bytes(charts / file, png)
    json.dump(found, sys.stdout, indent=2)
    sys.stdout.write("\n")


DEMO_USERS = 12  # four retrievers x 12 answers: a few minutes of the 1.5B model on 2 cores


@app.command("demo")
@friendly
def demo_cmd(out_dir: Path = typer.Option(Path("runs/demo"), "--out"),
             limit: int | None = typer.Option(DEMO_USERS, "--limit", min=1, help="Users "
                                              "(one question each) of the 30 in the demo set"),
             model: o.Model = DEFAULT_MODEL) -> None:
    """Compare no personalization, BM25, recency and dense on real chat data (few minutes)."""
    from ..data.demo import DEMO_RETRIEVERS, demo_data_dir
    data = demo_data_dir()
    say(f"demo data: {data} (chitchat-dataset: reply to a message as the user would)")
    config = RunConfig.build(retrievers=tuple(DEMO_RETRIEVERS), model=model)
    run_and_print(data, "dev", out_dir, config, None, limit, ["user"], [None])


@app.command("summarize")
@friendly
def summarize_cmd(data: o.Data, split: o.Split = "dev", task: o.Task = None,
                  limit: o.Limit = None,
                  out_dir: Path | None = typer.Option(None, "--out", help="Summary cache folder "
                                                      "(default: pergen's cache)"),
                  summarizer: o.Summarizer = "llm", model: o.Model = DEFAULT_MODEL,
                  summary_tokens: o.SummaryTokens = 96) -> None:
    """Summarize every user's profile ahead of `evaluate --memory summary` (resumable)."""
    from ..memory.summaries import summarize
    cache = summarize(data, split, out_dir, summarizer=summarizer, model=model, task=task,
                      limit=limit, summary_tokens=summary_tokens)
    say(f"summaries: {cache.computed} computed, {cache.reused} reused, in {cache.folder}")


def _cap(text: str) -> int | None:
    if text == "all":
        return None
    if not text.isdigit():
        raise typer.BadParameter(f"a number of items or 'all', not {text!r}",
                                 param_hint="--profile-cap")
    return int(text)


def checked_device(device: str) -> str | None:
    """``--device`` checked; None for auto (each backend's own choice: a GPU where it sees one)."""
    if device not in DEVICES:
        raise typer.BadParameter(f"{device!r}: accepted {', '.join(DEVICES)}",
                                 param_hint="--device")
    return None if device == "auto" else device


def on_device(model: str, device: str) -> str | Generator:
    """The model built on ``--device``; the spec itself where the device is auto (each
    local backend's own default), so that remote and baseline models accept auto."""
    if checked_device(device) is None:
        return model
    local = [n for n in MODELS.names() if MODELS.facts(n).local]
    if Spec.parse(model).name not in local:
        raise typer.BadParameter(f"applies to local models ({', '.join(local)}), "
                                 f"not {model!r}", param_hint="--device")
    return get_model(model, device=device)



def _with_vote_k(model: str, vote_k: int | None) -> str:
    """``--vote-k K`` is the vote models' ``:K`` argument; any other model refuses it."""
    if vote_k is None:
        return model
    spec = Spec.parse(model)
    votes = [n for n in MODELS.names() if MODELS.facts(n).vote]
    if spec.name not in votes or spec.arg:
        raise typer.BadParameter(f"applies to --model {' or '.join(votes)} "
                                 f"(without :K), not {model!r}", param_hint="--vote-k")
    return f"{model}:{vote_k}"

"""The `pergen` command line: thin wrappers over the Python API.

Heavy modules are imported inside commands so that `pergen --help` starts at once; the
names in the help texts come from the same registries the library resolves specs with, so
they cannot drift. Library errors (`PergenError`) become a one-line message that names the
CLI option (not the Python parameter) and exit code 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as rich_escape

from ..errors import PergenError
from ..llm import DEFAULT_MODEL, DEVICES, LOCAL_MODELS, MODELS, Generator, get_model
from ..retrievers import RETRIEVERS
from ..rspg.selectors import SELECTORS

app = typer.Typer(help="Personalize LLMs with retrieval from a user's own history (LaMP).",
                  no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
out = Console()
F = TypeVar("F", bound=Callable[..., object])

FLAGS = {"data_dir": "--data", "split": "--split", "task": "--task", "limit": "--limit",
         "retrievers": "--retriever", "retriever": "--retriever", "model": "--model",
         "k": "--k", "max_length": "--max-length", "view": "--profile-view",
         "position": "--profile-position", "label_mode": "--label-mode",
         "max_new_tokens": "--max-new-tokens", "out_dir": "--out", "missing": "--missing",
         "signal": "--signal", "depth": "--depth", "baseline": "--baseline",
         "vote_k": "--vote-k", "level": "--level",
         "profile_cap": "--profile-cap", "persona_k": "--persona-k", "personas": "--personas",
         "persona_select": "--persona-select", "min_profile": "--min-profile",
         "memory": "--memory", "summarizer": "--summarizer", "summary_tokens": "--summary-tokens",
         "prior_strength": "--prior-strength", "confidence": "--confidence",
         "abstain_below": "--abstain-below", "coverage": "--coverage", "fallback": "--fallback"}
"""Python parameter -> CLI flag, so that errors speak the options the user typed."""


def names(registry: Any) -> str:
    return ", ".join(registry.names())


RETRIEVER_HELP = (f"Retrievers: {names(RETRIEVERS)} (dense, dense-cos, ropg-* take :FOLDER, "
                  "rrf takes :a+b+c, random takes :SEED)")
SELECTOR_HELP = f"; selectors: {names(SELECTORS)} (rspg-* take :FOLDER, qpp-* take :a+b+c)"
MODEL_HELP = (f"Models: {names(MODELS)} (hf:PATH, gguf:PATH, openai:MODEL@URL[,URL2]); an "
              "embedded model on another engine: NAME:llama.cpp or NAME:transformers")

DeviceOpt = typer.Option("auto", "--device", help="Where a local model runs: auto (a GPU "
                         "when there is one), cpu or cuda (transformers: bf16; llama.cpp: "
                         "all layers offloaded, where it was built with CUDA)")


DataOpt = typer.Option(..., "--data", help="Folder with {split}_questions.json / _outputs.json")
SplitOpt = typer.Option("dev", "--split", help="Split name: train, dev or test")
TaskOpt = typer.Option(None, "--task", help="Built-in task name or task .toml file "
                       "(default: the outputs file's 'task')")
LimitOpt = typer.Option(None, "--limit", min=1, help="Only the first N questions")


def friendly(fn: F) -> F:
    """Turn library errors into a clear message and exit code 2, without a traceback."""
    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return fn(*args, **kwargs)
        except PergenError as e:
            message = e.render(FLAGS.get(e.option or "", f"--{(e.option or '').replace('_', '-')}"))
            err.print("[bold red]error:[/]", rich_escape(message), highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted: finished work is saved; run the same command to resume")
            raise typer.Exit(130) from None
    return wrapper  # type: ignore[return-value]


@app.command("rank")
@friendly
def rank_cmd(data: Path = DataOpt, split: str = SplitOpt,
             retriever: str = typer.Option(..., "--retriever", help=RETRIEVER_HELP),
             out_file: Path = typer.Option(..., "--out", help="Ranking JSON to write"),
             task: str | None = TaskOpt, limit: int | None = LimitOpt,
             with_date: bool = typer.Option(False, "--with-date", help="Append 'date: ...' to "
                                            "documents, as in the paper")) -> None:
    """Write the LaMP ranking file: each question id -> all its profile item ids, best first."""
    from ..run.ranking import rank
    ranking = rank(data, split, retriever, out_file, task=task, limit=limit, with_date=with_date)
    err.print(f"ranked {len(ranking)} questions -> {out_file}")


@app.command("evaluate")
@friendly
def evaluate_cmd(data: Path = DataOpt, split: str = SplitOpt,
                 retriever: list[str] = typer.Option(["none", "bm25"], "--retriever",
                                                     help="Repeat for several. " + RETRIEVER_HELP
                                                     + SELECTOR_HELP),
                 out_dir: Path = typer.Option(..., "--out", help="Run folder (resumable)"),
                 task: str | None = TaskOpt, limit: int | None = LimitOpt,
                 k: int = typer.Option(4, "--k", min=0, help="Profile items in the prompt"),
                 model: str = typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP),
                 device: str = DeviceOpt,
                 max_length: int = typer.Option(512, "--max-length", help="Prompt token budget"),
                 view: str = typer.Option("full", "--profile-view",
                                          help="full, output-only or input-only"),
                 position: str = typer.Option("before", "--profile-position",
                                              help="Profile before or after the input"),
                 with_date: bool = typer.Option(False, "--with-date"),
                 label_mode: str = typer.Option("auto", "--label-mode", help="auto, generate, choose "
                                                "(most likely label), calibrate (choose, "
                                                "label bias removed over the run), prior "
                                                "(calibrate, plus the user's own label prior) "
                                                "or expected (rating tasks: the expected "
                                                "rating under prior's scores; auto there)"),
                 batch_size: int = typer.Option(8, "--batch-size", min=1),
                 baseline: str = typer.Option("none", "--baseline", help="Retriever the "
                                              "significance marks compare against"),
                 vote_k: int | None = typer.Option(None, "--vote-k", min=1, help="Items per "
                                                   "candidate or label vote (similarity-vote, "
                                                   "knn-vote; default 4)"),
                 gold_loglik: bool = typer.Option(True, "--gold-loglik/--no-gold-loglik",
                                                  help="Also measure the gold output's mean "
                                                  "log-probability per token (models that "
                                                  "score text)"),
                 level: list[str] = typer.Option(["user"], "--level", help="Whose items: "
                                                 "user, persona, global or auto (cold-start "
                                                 "fallback); repeat for a sweep"),
                 profile_cap: list[str] = typer.Option(["all"], "--profile-cap", help="Keep "
                                                       "the N most recent items (0: cold "
                                                       "start; all); repeat for a sweep"),
                 persona_k: int = typer.Option(10, "--persona-k", help="Users in a persona"),
                 personas: int | None = typer.Option(None, "--personas", help="Group users "
                                                     "by k-means into N personas instead"),
                 persona_select: str = typer.Option("user", "--persona-select", help="Place "
                                                    "the persona by the user or the input"),
                 min_profile: int = typer.Option(4, "--min-profile", help="auto: fewest own "
                                                 "items for the user level"),
                 memory: str = typer.Option("items", "--memory", help="items, summary or "
                                            "summary+items (a summary of the user before them)"),
                 summarizer: str = typer.Option("stats", "--summarizer", help="llm (the run's "
                                                "model writes it) or stats (no LLM)"),
                 summary_tokens: int = typer.Option(96, "--summary-tokens", help="Longest "
                                                    "summary the llm summarizer writes"),
                 prior_strength: float = typer.Option(1.0, "--prior-strength", help="Label mode "
                                                      "prior: weight of log p(label | user)"),
                 summaries: Path | None = typer.Option(None, "--summaries", help="Summary cache "
                                                       "folder (default: pergen's cache; "
                                                       "`pergen summarize` fills one)"),
                 confidence: str = typer.Option("prob", "--confidence", help="Confidence per "
                                                "answer: prob (the model's probability), "
                                                "verbal (the model says 0-100) or none"),
                 abstain_below: float | None = typer.Option(None, "--abstain-below", help="Answers "
                                                            "below this confidence get the "
                                                            "--fallback"),
                 coverage: float | None = typer.Option(None, "--coverage", help="Answer this "
                                                       "share, the most confident (picks the "
                                                       "threshold on the run)"),
                 fallback: str = typer.Option("abstain", "--fallback", help="Below the "
                                              "threshold: abstain (no prediction), none (keep "
                                              "it), persona, global or profile-prior")) -> None:
    """Retrieve, prompt, generate and score; print a Table-3 style comparison.

    Several --level or --profile-cap values run a cold-start sweep: one run folder each
    under OUT, and OUT/cold_start.md and .png (metric against N, one line per level)."""
    from ..evaluation.metrics import GOLD_LOGLIK
    from ..reports.comparison import comparison_of, print_table
    caps = [_cap(c) for c in profile_cap]
    options: dict[str, Any] = dict(
        task=task, model=_on_device(_with_vote_k(model, vote_k), device), k=k, limit=limit,
        max_length=max_length, view=view, position=position, with_date=with_date,
        label_mode=label_mode,
        batch_size=batch_size, baseline=baseline, gold_loglik=gold_loglik, persona_k=persona_k,
        personas=personas, persona_select=persona_select, min_profile=min_profile,
        memory=memory, summarizer=summarizer, summary_tokens=summary_tokens,
        summaries_dir=summaries, prior_strength=prior_strength, confidence=confidence,
        abstain_below=abstain_below, coverage=coverage, fallback=fallback)
    if len(level) > 1 or len(caps) > 1:
        from ..studies.coldstart import sweep
        sweep(data, split, retriever, out_dir, level, caps, **options)
        err.print(f"cold-start study: {Path(out_dir) / 'cold_start.md'} and cold_start.png")
        return
    from ..run.pipeline import evaluate
    runs = evaluate(data, split, retriever, out_dir, level=level[0], profile_cap=caps[0],
                    **options)
    _print_summary_counts(Path(out_dir))
    if any(r.metrics for r in runs.values()):
        table = comparison_of(runs, baseline)
        print_table(out, table, title=f"{Path(data).name} / {split}", baseline=baseline)
    _print_selective(Path(out_dir))
    for name, run in runs.items():
        if run.warning:
            err.print(f"[bold yellow]warning:[/] {rich_escape(name)}: {rich_escape(run.warning)}")
    if gold_loglik and not any(GOLD_LOGLIK in r.metrics for r in runs.values()):
        err.print(f"note: {GOLD_LOGLIK} not measured: the split has no gold outputs or "
                  f"{model} cannot score text")
    err.print(f"results in {out_dir}")


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
        err.print(f"note: {rich_escape(line)}", highlight=False, soft_wrap=True)


def _print_summary_counts(out_dir: Path) -> None:
    path = out_dir / "summaries.json"
    if path.exists():
        counts = json.loads(path.read_text(encoding="utf-8"))
        err.print(f"summaries ({counts['summarizer']}): {counts['computed']} computed, "
                  f"{counts['reused']} reused from {counts['folder']}")


@app.command("summarize")
@friendly
def summarize_cmd(data: Path = DataOpt, split: str = SplitOpt, task: str | None = TaskOpt,
                  limit: int | None = LimitOpt,
                  out_dir: Path | None = typer.Option(None, "--out", help="Summary cache folder "
                                                      "(default: pergen's cache)"),
                  summarizer: str = typer.Option("llm", "--summarizer", help="llm or stats"),
                  model: str = typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP),
                  summary_tokens: int = typer.Option(96, "--summary-tokens")) -> None:
    """Summarize every user's profile ahead of `evaluate --memory summary` (resumable)."""
    from ..memory.summaries import summarize
    cache = summarize(data, split, out_dir, summarizer=summarizer, model=model, task=task,
                      limit=limit, summary_tokens=summary_tokens)
    err.print(f"summaries: {cache.computed} computed, {cache.reused} reused, in {cache.folder}")


def _cap(text: str) -> int | None:
    if text == "all":
        return None
    if not text.isdigit():
        raise typer.BadParameter(f"a number of items or 'all', not {text!r}",
                                 param_hint="--profile-cap")
    return int(text)


VOTE_MODELS = ("similarity-vote", "knn-vote")


def _checked_device(device: str) -> str | None:
    """``--device`` checked; None for auto (each backend's own choice: a GPU where it sees one)."""
    if device not in DEVICES:
        raise typer.BadParameter(f"{device!r}: accepted {', '.join(DEVICES)}",
                                 param_hint="--device")
    return None if device == "auto" else device


def _on_device(model: str, device: str) -> str | Generator:
    """The model built on ``--device``; the spec itself where the device is auto (each
    local backend's own default), so that remote and baseline models accept auto."""
    if _checked_device(device) is None:
        return model
    name = model.partition(":")[0]
    if name not in LOCAL_MODELS:
        raise typer.BadParameter(f"applies to local models ({', '.join(LOCAL_MODELS)}), "
                                 f"not {model!r}", param_hint="--device")
    return get_model(model, device=device)


def _with_vote_k(model: str, vote_k: int | None) -> str:
    """``--vote-k K`` is the vote models' ``:K`` argument; any other model refuses it."""
    if vote_k is None:
        return model
    if model.partition(":")[0] not in VOTE_MODELS or ":" in model:
        raise typer.BadParameter(f"applies to --model {' or '.join(VOTE_MODELS)} "
                                 f"(without :K), not {model!r}", param_hint="--vote-k")
    return f"{model}:{vote_k}"


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


@app.command("feedback")
@friendly
def feedback_cmd(data: Path = DataOpt, split: str = typer.Option("train", "--split"),
                 out_dir: Path = typer.Option(..., "--out", help="Feedback store folder (resumable)"),
                 task: str | None = TaskOpt, limit: int | None = LimitOpt,
                 model: str = typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP),
                 device: str = DeviceOpt,
                 retriever: list[str] | None = typer.Option(
                     None, "--retriever", help="Initial retriever (default dense; repeat for the "
                     "union of several) or, with --per-retriever, the pool (default none, recency,"
                     " bm25, dense)"),
                 per_retriever: bool = typer.Option(False, "--per-retriever", help="RSPG: score "
                                                    "each retriever's top-k prompt, not each item"),
                 signal: str = typer.Option("metric", "--signal", help="metric (score the "
                                            "answer) or loglik (log-probability of the gold)"),
                 depth: int = typer.Option(16, "--depth", min=1, help="Items per question (l)"),
                 k: int = typer.Option(4, "--k", min=0, help="Items per prompt (--per-retriever)"),
                 max_length: int = typer.Option(512, "--max-length"),
                 with_date: bool = typer.Option(False, "--with-date"),
                 label_mode: str = typer.Option("auto", "--label-mode")) -> None:
    """Collect LLM feedback: each top item alone in the prompt (ROPG), or each retriever's
    prompt (RSPG, --per-retriever)."""
    from ..rspg import DEFAULT_POOL
    from ..training.feedback import collect_feedback, collect_retriever_feedback
    options: dict[str, Any] = {"task": task, "limit": limit, "max_length": max_length,
                               "with_date": with_date, "label_mode": label_mode}
    model_or_llm = _on_device(model, device)
    if per_retriever:
        store = collect_retriever_feedback(data, split, out_dir, retriever or DEFAULT_POOL,
                                           model=model_or_llm, k=k, signal=signal, **options)
    else:
        store = collect_feedback(data, split, out_dir, model=model_or_llm, retriever=retriever or "dense",
                                 signal=signal, depth=depth, **options)
    err.print(f"{len(store.done())} feedback records in {out_dir}")


@app.command("train-retriever")
@friendly
def train_retriever_cmd(
        feedback: list[Path] = typer.Option(..., "--feedback", help="Feedback store folder "
                                            "(repeat to pool several)"),
        out_dir: Path = typer.Option(..., "--out", help="Model folder to write (resumable)"),
        method: str = typer.Option("kd", "--method", help="kd (distillation) or rl (REINFORCE)"),
        epochs: int = typer.Option(10, "--epochs", min=1),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="Questions per step"),
        accumulation: int = typer.Option(1, "--accumulation", min=1,
                                         help="Steps per update (paper: 8 x batch 8)"),
        lr: float = typer.Option(1e-5, "--lr"),
        temperature: float = typer.Option(1.0, "--temperature", help="KD softmax temperature"),
        dev_fraction: float = typer.Option(0.1, "--dev-fraction",
                                           help="Questions held out for model selection"),
        patience: int = typer.Option(3, "--patience", min=1),
        seed: int = typer.Option(0, "--seed"),
        init: Path | None = typer.Option(None, "--init", help="Encoder folder to start from "
                                         "(default: the dense retriever's model)"),
        device: str = DeviceOpt) -> None:
    """Fine-tune the dense retriever from feedback (ROPG); use it as ropg-kd:OUT / ropg-rl:OUT."""
    from ..ropg import TrainConfig, train_retriever
    config = TrainConfig(method=method, epochs=epochs, batch_size=batch_size,
                         accumulation=accumulation, lr=lr, temperature=temperature,
                         dev_fraction=dev_fraction, patience=patience, seed=seed,
                         init=str(init) if init else None)
    history = train_retriever(feedback, out_dir, config, on_epoch=_print_epoch,
                              device=_checked_device(device))
    _print_best(history, out_dir, f"ropg-{method}")


@app.command("train-selector")
@friendly
def train_selector_cmd(
        feedback: Path = typer.Option(..., "--feedback", help="Per-retriever feedback store"),
        out_dir: Path = typer.Option(..., "--out", help="Selector folder to write (resumable)"),
        mode: str = typer.Option("pre", "--mode", help="pre (prompt) or post (prompt + answer)"),
        epochs: int = typer.Option(20, "--epochs", min=1),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="Questions per step"),
        lr: float = typer.Option(1e-5, "--lr"),
        dev_fraction: float = typer.Option(0.1, "--dev-fraction"),
        patience: int = typer.Option(3, "--patience", min=1),
        seed: int = typer.Option(0, "--seed"),
        init: Path | None = typer.Option(None, "--init", help="Encoder folder (default MiniLM)"),
        device: str = DeviceOpt) -> None:
    """Train an RSPG selector; use it as --retriever rspg-pre:OUT / rspg-post:OUT."""
    from ..rspg.selector import train_selector
    from ..training.loop import TrainConfig
    config = TrainConfig(method="kd", epochs=epochs, batch_size=batch_size, lr=lr,
                         dev_fraction=dev_fraction, patience=patience, seed=seed,
                         init=str(init) if init else None)
    history = train_selector(feedback, out_dir, mode, config, on_epoch=_print_epoch,
                             device=_checked_device(device))
    _print_best(history, out_dir, f"rspg-{mode}")


@app.command("swap-study")
@friendly
def swap_study_cmd(data: Path = DataOpt, split: str = SplitOpt,
                   retriever: str = typer.Option("bm25", "--retriever", help="The method's "
                                                 "retriever. " + RETRIEVER_HELP),
                   out_dir: Path = typer.Option(..., "--out", help="Study folder: one run "
                                                "folder per condition (resumable)"),
                   task: str | None = TaskOpt, limit: int | None = LimitOpt,
                   model: str = typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP),
                   k: int = typer.Option(4, "--k", min=0, help="Profile items in the prompt"),
                   max_length: int = typer.Option(512, "--max-length"),
                   view: str = typer.Option("full", "--profile-view"),
                   position: str = typer.Option("before", "--profile-position"),
                   with_date: bool = typer.Option(False, "--with-date"),
                   label_mode: str = typer.Option("auto", "--label-mode"),
                   prior_strength: float = typer.Option(1.0, "--prior-strength"),
                   batch_size: int = typer.Option(8, "--batch-size", min=1),
                   gold_loglik: bool = typer.Option(True, "--gold-loglik/--no-gold-loglik"),
                   confidence: str = typer.Option("prob", "--confidence", help="prob, verbal "
                                                  "or none"),
                   seed: int = typer.Option(0, "--seed", help="Which partner each bin and "
                                            "random draw (same seed, same partners)"),
                   bins: int = typer.Option(10, "--bins", help="Similarity bins (10: deciles)")
                   ) -> None:
    """Near-miss study (note 001): answer each question with another user's profile, the
    most similar, one per similarity bin, a random and the least similar, and measure the
    drop against the user's own: OUT/swap.json, swap.md and swap.png."""
    from ..studies.swap import swap_study
    swap_study(data, split, retriever, out_dir, task=task, model=model, limit=limit, seed=seed,
               bins=bins, k=k, max_length=max_length, view=view, position=position,
               with_date=with_date, label_mode=label_mode, prior_strength=prior_strength,
               batch_size=batch_size, gold_loglik=gold_loglik, confidence=confidence)
    err.print(f"swap study: {out_dir / 'swap.md'} and swap.png")


@app.command("findings")
@friendly
def findings_cmd(data: Path = DataOpt, split: str = SplitOpt,
                 out_dir: Path = typer.Option(..., "--out", help="Findings folder: one run "
                                              "folder per condition (resumable)"),
                 task: str | None = TaskOpt, limit: int | None = LimitOpt,
                 model: str = typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP),
                 retriever: str = typer.Option("bm25", "--retriever", help="The method's "
                                               "retriever. " + RETRIEVER_HELP),
                 only: list[str] | None = typer.Option(None, "--only", help="Run this claim "
                                                       "only (repeat): view, position, "
                                                       "retrieval, memory, levels, swap, "
                                                       "abstention"),
                 metric: str | None = typer.Option(None, "--metric", help="The metric that "
                                                   "decides (default: the task's first)"),
                 k: int = typer.Option(4, "--k", help="Profile items in the prompt"),
                 max_length: int = typer.Option(512, "--max-length"),
                 with_date: bool = typer.Option(False, "--with-date"),
                 label_mode: str = typer.Option("auto", "--label-mode"),
                 prior_strength: float = typer.Option(1.0, "--prior-strength"),
                 batch_size: int = typer.Option(8, "--batch-size", min=1),
                 confidence: str = typer.Option("prob", "--confidence", help="prob, verbal "
                                                "or none (the abstention claim needs one)"),
                 coverage: float = typer.Option(0.8, "--coverage", help="Abstention: the "
                                                "share of most confident answers kept"),
                 cold_cap: int = typer.Option(1, "--cold-cap", help="Levels: the user's "
                                              "newest items kept (cold start)"),
                 summarizer: str = typer.Option("stats", "--summarizer", help="Memory: llm "
                                                "or stats"),
                 summary_tokens: int = typer.Option(96, "--summary-tokens"),
                 summaries: Path | None = typer.Option(None, "--summaries", help="Summary "
                                                       "cache folder"),
                 seed: int = typer.Option(0, "--seed", help="Swap partners and bootstrap")
                 ) -> None:
    """The research notes' claims as paired experiments on this data and model: a verdict
    per claim (reproduced, contradicted, inconclusive at this n) with effect, 95% CI and
    p, in OUT/findings.md, findings.html and findings.json."""
    from ..reports.findings import lines
    from ..studies.findings import findings
    result = findings(data, split, out_dir, task=task, model=model, retriever=retriever,
                      only=only, limit=limit, seed=seed, coverage=coverage, cold_cap=cold_cap,
                      metric=metric, k=k, max_length=max_length, with_date=with_date,
                      label_mode=label_mode, prior_strength=prior_strength,
                      summarizer=summarizer, summary_tokens=summary_tokens,
                      summaries_dir=summaries, batch_size=batch_size, confidence=confidence,
                      on_progress=lambda line: err.print(rich_escape(line), highlight=False))
    for line in lines(result.summary):  # one line per comparison: the table is too wide
        out.print(rich_escape(line), highlight=False, soft_wrap=True)
    err.print(rich_escape(result.summary["limits"]), highlight=False, soft_wrap=True)
    err.print(f"findings: {out_dir / 'findings.md'} and findings.html")


@app.command("report")
@friendly
def report_cmd(run_dir: Path = typer.Argument(..., help="A folder written by `pergen evaluate`"),
               metric: str | None = typer.Option(None, "--metric")) -> None:
    """Write RUN_DIR/report.html (self-contained) and report.md: results, winning rates,
    oracle bounds and selector success rates; for a cold-start sweep folder, its curves."""
    if (run_dir / "cold_start.json").exists() and not (run_dir / "metrics.json").exists():
        from ..studies.coldstart import write_report as write_cold_report
        html_path, md_path = write_cold_report(run_dir)
        err.print(f"report: {html_path} and {md_path}")
        return
    from ..reports.run import write_report
    html_path, md_path = write_report(run_dir, metric)
    err.print(f"report: {html_path} and {md_path}")


def _print_epoch(epoch: int, figures: dict[str, float]) -> None:
    err.print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()
                                              if k != "epoch"))


def _print_best(history: Any, out_dir: Path, name: str) -> None:
    first, best = history.epochs[0], history.epochs[history.best_epoch]
    err.print(f"best epoch {history.best_epoch}: dev loss {first['dev_loss']:.4f} -> "
              f"{best['dev_loss']:.4f}, dev top-1 feedback {first['dev_top1_feedback']:.4f} -> "
              f"{best['dev_top1_feedback']:.4f}; model in {out_dir} (--retriever {name}:{out_dir})")


DEMO_USERS = 12  # four retrievers x 12 answers: a few minutes of the 1.5B model on 2 cores


@app.command("demo")
@friendly
def demo_cmd(out_dir: Path = typer.Option(Path("runs/demo"), "--out"),
             limit: int | None = typer.Option(DEMO_USERS, "--limit", min=1, help="Users "
                                              "(one question each) of the 30 in the demo set"),
             model: str = typer.Option(DEFAULT_MODEL, "--model", help=MODEL_HELP)) -> None:
    """Compare no personalization, BM25, recency and dense on real chat data (few minutes)."""
    from ..data.demo import DEMO_RETRIEVERS, demo_data_dir
    data = demo_data_dir()
    err.print(f"demo data: {data} (chitchat-dataset: reply to a message as the user would)")
    evaluate_cmd(data=data, split="dev", retriever=list(DEMO_RETRIEVERS), out_dir=out_dir,
                 task=None, limit=limit, k=4, model=model, device="auto", max_length=512,
                 view="full", position="before", with_date=False, label_mode="auto", batch_size=8,
                 baseline="none", vote_k=None, gold_loglik=True, level=["user"],
                 profile_cap=["all"], persona_k=10, personas=None, persona_select="user",
                 min_profile=4, memory="items", summarizer="stats", summary_tokens=96,
                 summaries=None, prior_strength=1.0, confidence="prob", abstain_below=None,
                 coverage=None, fallback="abstain")


def main() -> None:  # pragma: no cover
    app()


from ..serve.cli import register as _register_serve  # noqa: E402

_register_serve(app)

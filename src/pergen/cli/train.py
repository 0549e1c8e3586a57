"""`pergen feedback`, `train-retriever` and `train-selector`: ROPG and RSPG training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..llm import DEFAULT_MODEL
from . import options as o
from .app import app, err, friendly
from .run import checked_device, on_device


@app.command("feedback")
@friendly
def feedback_cmd(data: o.Data, split: o.Split = "train",
                 out_dir: Path = typer.Option(..., "--out", help="Feedback store folder (resumable)"),
                 task: o.Task = None, limit: o.Limit = None,
                 model: o.Model = DEFAULT_MODEL,
                 device: o.Device = "auto",
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
                 max_length: o.MaxLength = 512,
                 with_date: o.WithDate = False,
                 label_mode: o.LabelMode = "auto",
                 prompt_style: o.PromptStyle = "auto",
                 position: o.Position = "before") -> None:
    """Collect LLM feedback: each top item alone in the prompt (ROPG), or each retriever's
    prompt (RSPG, --per-retriever)."""
    from ..rspg import DEFAULT_POOL
    from ..training.feedback import collect_feedback, collect_retriever_feedback
    options: dict[str, Any] = {"task": task, "limit": limit, "max_length": max_length,
                               "with_date": with_date, "label_mode": label_mode,
                               "prompt_style": prompt_style}
    model_or_llm = on_device(model, device)
    if per_retriever:
        store = collect_retriever_feedback(data, split, out_dir, retriever or DEFAULT_POOL,
                                           model=model_or_llm, k=k, signal=signal, **options)
    else:
        store = collect_feedback(data, split, out_dir, model=model_or_llm, retriever=retriever or "dense",
                                 signal=signal, depth=depth, position=position, **options)
    err.print(f"{len(store.done())} feedback records in {out_dir}")


@app.command("feedback-save")
@friendly
def feedback_save_cmd(
        store: Path = typer.Option(..., "--store", help="Feedback store folder"),
        out: Path = typer.Option(..., "--out", help="Values file to write (ids and numbers only)")
        ) -> None:
    """Save a store's values without the data's text: to commit, share or move them."""
    from ..training.feedback_values import save_values
    err.print(f"saved {save_values(store, out)} pairs to {out}")


@app.command("feedback-load")
@friendly
def feedback_load_cmd(
        data: o.Data,
        values: Path = typer.Option(..., "--values", help="Values file from feedback-save"),
        split: o.Split = "train", task: o.Task = None,
        with_date: o.WithDate = False,
        store: Path = typer.Option(..., "--out", help="Feedback store folder to rebuild"),
        max_length: o.MaxLength = 512, label_mode: o.LabelMode = "auto",
        prompt_style: o.PromptStyle = "auto") -> None:
    """Rebuild a feedback store from saved values and the data set; `pergen feedback --out`
    on that folder resumes after the last saved pair. A per-retriever store's prompts are
    rebuilt with its model and the prompt options it was collected with."""
    from ..training.feedback_values import load_values
    n = load_values(values, store, data, split, task, with_date, max_length=max_length,
                    label_mode=label_mode, prompt_style=prompt_style)
    err.print(f"loaded {n} pairs into {store}")


@app.command("train-retriever")
@friendly
def train_retriever_cmd(
        feedback: list[Path] = typer.Option(..., "--feedback", help="Feedback store folder "
                                            "(repeat to pool several)"),
        out_dir: Path = typer.Option(..., "--out", help="Model folder to write (resumable)"),
        method: str = typer.Option("kd", "--method", help="kd (distillation) or rl (REINFORCE)"),
        epochs: int = typer.Option(10, "--epochs", min=1),
        batch_size: o.BatchSize = 8,
        accumulation: int = typer.Option(1, "--accumulation", min=1,
                                         help="Steps per update (paper: 8 x batch 8)"),
        lr: float = typer.Option(1e-5, "--lr"),
        temperature: float = typer.Option(1.0, "--temperature", help="KD softmax temperature"),
        dev_fraction: float = typer.Option(0.1, "--dev-fraction",
                                           help="Questions held out for model selection"),
        patience: int = typer.Option(3, "--patience", min=1),
        select_by: o.SelectBy = "loss",
        seed: o.Seed = 0,
        init: Path | None = typer.Option(None, "--init", help="Encoder folder to start from "
                                         "(default: the dense retriever's model)"),
        device: o.Device = "auto") -> None:
    """Fine-tune the dense retriever from feedback (ROPG); use it as ropg-kd:OUT / ropg-rl:OUT."""
    from ..ropg import TrainConfig, train_retriever
    config = TrainConfig(method=method, epochs=epochs, batch_size=batch_size,
                         accumulation=accumulation, lr=lr, temperature=temperature,
                         dev_fraction=dev_fraction, patience=patience, seed=seed,
                         init=str(init) if init else None, select_by=select_by)
    history = train_retriever(feedback, out_dir, config, on_epoch=_print_epoch,
                              device=checked_device(device))
    _print_best(history, out_dir, f"ropg-{method}")


@app.command("train-selector")
@friendly
def train_selector_cmd(
        feedback: Path = typer.Option(..., "--feedback", help="Per-retriever feedback store"),
        out_dir: Path = typer.Option(..., "--out", help="Selector folder to write (resumable)"),
        mode: str = typer.Option("pre", "--mode", help="pre (prompt) or post (prompt + answer)"),
        epochs: int = typer.Option(20, "--epochs", min=1),
        batch_size: o.BatchSize = 8,
        lr: float = typer.Option(1e-5, "--lr"),
        dev_fraction: float = typer.Option(0.1, "--dev-fraction"),
        patience: int = typer.Option(3, "--patience", min=1),
        select_by: o.SelectBy = "loss",
        seed: o.Seed = 0,
        init: Path | None = typer.Option(None, "--init", help="Encoder folder (default MiniLM)"),
        device: o.Device = "auto") -> None:
    """Train an RSPG selector; use it as --retriever rspg-pre:OUT / rspg-post:OUT."""
    from ..rspg.selector import train_selector
    from ..training.config import TrainConfig
    config = TrainConfig(method="kd", epochs=epochs, batch_size=batch_size, lr=lr,
                         dev_fraction=dev_fraction, patience=patience, seed=seed,
                         init=str(init) if init else None, select_by=select_by)
    history = train_selector(feedback, out_dir, mode, config, on_epoch=_print_epoch,
                             device=checked_device(device))
    _print_best(history, out_dir, f"rspg-{mode}")


def _print_epoch(epoch: int, figures: dict[str, float]) -> None:
    err.print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures.items()
                                              if k != "epoch"))


def _print_best(history: Any, out_dir: Path, name: str) -> None:
    first, best = history.epochs[0], history.epochs[history.best_epoch]
    err.print(f"best epoch {history.best_epoch}: dev loss {first['dev_loss']:.4f} -> "
              f"{best['dev_loss']:.4f}, dev top-1 feedback {first['dev_top1_feedback']:.4f} -> "
              f"{best['dev_top1_feedback']:.4f}; model in {out_dir} (--retriever {name}:{out_dir})")

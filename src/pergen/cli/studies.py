"""`pergen swap-study`, `findings`, `study` and `report`: studies and their reports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape as rich_escape

from ..llm import DEFAULT_MODEL
from ..studies.base import STUDIES
from ..studies.claims import CLAIM_NAMES
from . import options as o
from .app import app, err, friendly, out


@app.command("swap-study")
@friendly
def swap_study_cmd(data: o.Data, split: o.Split = "dev",
                   retriever: o.Retriever = "bm25",
                   out_dir: Path = typer.Option(..., "--out", help="Study folder: one run "
                                                "folder per condition (resumable)"),
                   task: o.Task = None, limit: o.Limit = None,
                   model: o.Model = DEFAULT_MODEL,
                   k: o.K = 4,
                   max_length: o.MaxLength = 512,
                   view: o.View = "full",
                   position: o.Position = "before",
                   prompt_style: o.PromptStyle = "auto",
                   with_date: o.WithDate = False,
                   label_mode: o.LabelMode = "auto",
                   prior_strength: o.PriorStrength = 1.0,
                   batch_size: o.BatchSize = 8,
                   gold_loglik: o.GoldLoglik = True,
                   confidence: o.Confidence = "prob",
                   seed: o.Seed = 0,
                   bins: int = typer.Option(10, "--bins", help="Similarity bins (10: deciles)")
                   ) -> None:
    """Near-miss study (note 001): answer each question with another user's profile, the
    most similar, one per similarity bin, a random and the least similar, and measure the
    drop against the user's own: OUT/swap.json, swap.md and swap.png."""
    from ..studies.swap import swap_study
    swap_study(data, split, retriever, out_dir, task=task, model=model, limit=limit, seed=seed,
               bins=bins, k=k, max_length=max_length, view=view, position=position,
               prompt_style=prompt_style,
               with_date=with_date, label_mode=label_mode, prior_strength=prior_strength,
               batch_size=batch_size, gold_loglik=gold_loglik, confidence=confidence)
    err.print(f"swap study: {out_dir / 'swap.md'} and swap.png")


@app.command("findings")
@friendly
def findings_cmd(data: o.Data, split: o.Split = "dev",
                 out_dir: Path = typer.Option(..., "--out", help="Findings folder: one run "
                                              "folder per condition (resumable)"),
                 task: o.Task = None, limit: o.Limit = None,
                 model: o.Model = DEFAULT_MODEL,
                 retriever: o.Retriever = "bm25",
                 only: list[str] | None = typer.Option(None, "--only", help="Run this claim "
                                                       "only (repeat): "
                                                       + o.listed(CLAIM_NAMES)),
                 metric: str | None = typer.Option(None, "--metric", help="The metric that "
                                                   "decides (default: the task's first)"),
                 k: o.K = 4,
                 max_length: o.MaxLength = 512,
                 prompt_style: o.PromptStyle = "auto",
                 with_date: o.WithDate = False,
                 label_mode: o.LabelMode = "auto",
                 prior_strength: o.PriorStrength = 1.0,
                 batch_size: o.BatchSize = 8,
                 confidence: o.Confidence = "prob",
                 coverage: float = typer.Option(0.8, "--coverage", help="Abstention: the "
                                                "share of most confident answers kept"),
                 cold_cap: int = typer.Option(1, "--cold-cap", help="Levels: the user's "
                                              "newest items kept (cold start)"),
                 summarizer: o.Summarizer = "stats",
                 summary_tokens: o.SummaryTokens = 96,
                 summaries: o.Summaries = None,
                 seed: o.Seed = 0,
                 references: o.References = True
                 ) -> None:
    """The research notes' claims as paired experiments on this data and model: a verdict
    per claim (reproduced, contradicted, inconclusive at this n) with effect, 95% CI and
    p, in OUT/findings.md, findings.html and findings.json."""
    from ..reports.findings import lines
    from ..studies.findings import findings
    result = findings(data, split, out_dir, task=task, model=model, retriever=retriever,
                      only=only, limit=limit, seed=seed, coverage=coverage, cold_cap=cold_cap,
                      metric=metric, k=k, max_length=max_length, with_date=with_date,
                      prompt_style=prompt_style,
                      label_mode=label_mode, prior_strength=prior_strength,
                      summarizer=summarizer, summary_tokens=summary_tokens,
                      summaries_dir=summaries, batch_size=batch_size, confidence=confidence,
                      references=references,
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
        from ..reports.coldstart import write_report as write_cold_report
        html_path, md_path = write_cold_report(run_dir)
        err.print(f"report: {html_path} and {md_path}")
        return
    from ..reports.run import write_report
    html_path, md_path = write_report(run_dir, metric)
    err.print(f"report: {html_path} and {md_path}")


@app.command("study")
@friendly
def study_cmd(name: str = typer.Argument(..., help="A registered study: "
                                         + o.listed(STUDIES.names())),
              data: o.Data = Path("."), out_dir: Path = typer.Option(..., "--out",
                                                                     help="Study folder"),
              split: o.Split = "dev", task: o.Task = None, limit: o.Limit = None,
              retriever: o.Retrievers = ["bm25"],  # noqa: B006 (typer reads it)
              model: o.Model = DEFAULT_MODEL, k: o.K = 4,
              references: o.References = True) -> None:
    """Run any registered study with the run options given (its own options at defaults)."""
    from ..run.config import RunConfig
    from ..studies import run_study
    config = RunConfig.build(retrievers=tuple(retriever), model=model, k=k,
                             references=references)
    run_study(name, data, split, out_dir, config, task=task, limit=limit)
    err.print(f"{name}: results in {out_dir}")

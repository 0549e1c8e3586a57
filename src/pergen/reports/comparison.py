"""The results table of a run as it is written and shown: ``significance.json`` and
``table.md`` in the run folder (what `pergen evaluate` writes), and the terminal table
(rich) the CLI prints. The cells themselves (values, p-values, +/- marks) are computed
in `pergen.reports.tables`; this module only lays them out, so the run report's
results table (`pergen.reports.render`) reuses `markdown_table` and says the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..evaluation.metrics import LOWER_IS_BETTER
from ..run.folder import RetrieverRun
from ..run.references import PREFIX, is_reference
from ..run.storage import atomic_write_json, atomic_write_text
from .tables import ALPHA, Cell, comparison, significance_json
from .wins import first_metric, wins_of_runs

BASELINE = "none"


def comparison_of(runs: Mapping[str, RetrieverRun], baseline: str = BASELINE
                  ) -> dict[str, dict[str, Cell]]:
    """Significance of every retriever against `baseline` (default: no personalization),
    when the baseline was run."""
    base = baseline if baseline in runs else None
    return comparison({r: run.metrics for r, run in runs.items()},
                      {r: run.units or run.per_example for r, run in runs.items()}, base)


def write_comparison(runs: Mapping[str, RetrieverRun], out_dir: str | Path,
                     baseline: str = BASELINE) -> dict[str, dict[str, Cell]]:
    """`comparison_of`, written as ``significance.json`` and ``table.md``."""
    base = baseline if baseline in runs else None
    table = comparison_of(runs, baseline)
    metric = first_metric(runs)
    wins = wins_of_runs(runs, metric) if metric else []
    atomic_write_json(Path(out_dir) / "significance.json",
                      {"baseline": base, "alpha": ALPHA, "p_values": significance_json(table),
                       "what_wins": wins})
    atomic_write_text(Path(out_dir) / "table.md", markdown_table(table, baseline, wins))
    return table


def cell_text(row: Mapping[str, Cell], metric: str) -> str:
    """A cell, or a dash where the run has no such metric (a reference's gold-loglik)."""
    return row[metric].text() if metric in row else "-"


def metric_header(metric: str) -> str:
    return f"{metric} (lower is better)" if metric in LOWER_IS_BETTER else metric


def markdown_table(table: Mapping[str, Mapping[str, Cell]], baseline: str = BASELINE,
                   wins: Sequence[str] = ()) -> str:
    metrics = list(next(iter(table.values())).keys()) if table else []
    lines = ["| retriever | " + " | ".join(metric_header(m) for m in metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for name, row in table.items():
        lines.append(f"| {name} | " + " | ".join(cell_text(row, m) for m in metrics) + " |")
    lines.append("")
    lines.append(legend(baseline))
    if any(is_reference(name) for name in table):
        lines.append(f"{PREFIX}*: no-LLM references on the same questions (no model call).")
    if wins:
        lines += ["", *(f"- {w}" for w in wins)]
    return "\n".join(lines) + "\n"


def legend(baseline: str = BASELINE) -> str:
    """What the marks of a results table mean."""
    return (f"+ / -: significantly better / worse than `{baseline}` (p < {ALPHA}; paired "
            "t-test for ROUGE/MAE/gold-loglik, McNemar for accuracy, paired randomization "
            "for F1/RMSE).")


def print_table(console: Console, table: Mapping[str, Mapping[str, Cell]], title: str,
                baseline: str = BASELINE) -> None:
    metrics = list(next(iter(table.values())).keys()) if table else []
    t = Table(title=title, caption=f"+/-: significantly better/worse than '{baseline}' "
              f"(p < {ALPHA})")
    t.add_column("retriever")
    for m in metrics:
        t.add_column(metric_header(m), justify="right")
    for name, row in table.items():
        t.add_row(name, *(cell_text(row, m) for m in metrics))
    console.print(t)

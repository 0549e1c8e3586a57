"""The cold-start study's files: ``cold_start.json``, ``cold_start.md`` and ``cold_start.png``
(`write_study`), and its page for `pergen report` (`write_report`).

The table is level -> profile cap -> retriever -> metrics, as ``cold_start.json`` holds
it; the study (`pergen.studies.coldstart`) runs the sweep and hands the table over, so a
page can be rebuilt from the JSON alone. The chart draws the task metric and
``gold-loglik`` against the cap, one line per (level, retriever): where the lines cross
is how much history a user needs before their own beats the fallback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..evaluation.metrics import GOLD_LOGLIK
from ..run.storage import atomic_write_bytes, atomic_write_json, atomic_write_text
from .charts import figure, png_of
from .markup import h, img

Table = dict[str, dict[str, dict[str, dict[str, float]]]]
"""level -> profile cap (its name: a number or ``all``) -> retriever -> metric -> value."""

JSON_NAME, MD_NAME, PNG_NAME = "cold_start.json", "cold_start.md", "cold_start.png"
CHART_TITLE = "cold-start curves"


def _metrics(table: dict[str, Any]) -> list[str]:
    for by_cap in table.values():
        for by_retriever in by_cap.values():
            for metrics in by_retriever.values():
                return list(metrics)
    return []


def _caps(table: Table) -> list[str]:
    return list(dict.fromkeys(c for by_cap in table.values() for c in by_cap))


def markdown(table: Table) -> str:
    """One row per (level, retriever), one column per cap, for each metric."""
    caps = _caps(table)
    lines = ["# Cold-start study", ""]
    for metric in _metrics(table):
        lines += [f"## {metric}", "", "| level | retriever | " + " | ".join(f"N={c}" for c in caps)
                  + " |", "|---|---|" + "---|" * len(caps)]
        for level, by_cap in table.items():
            retrievers = list(dict.fromkeys(r for runs in by_cap.values() for r in runs))
            for r in retrievers:
                cells = [f"{by_cap[c][r][metric]:.4f}" if c in by_cap and r in by_cap[c]
                         and metric in by_cap[c][r] else "" for c in caps]
                lines.append(f"| {level} | {r} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("N: the user's most recent profile items kept (all: the whole profile).")
    return "\n".join(lines) + "\n"


def chart(table: Table) -> bytes:
    """PNG: one panel per metric (the task's first, and gold-loglik when measured), x the
    cap (evenly spaced, labelled), one line per (level, retriever)."""
    metrics = _metrics(table)
    shown = [metrics[0]] + ([GOLD_LOGLIK] if GOLD_LOGLIK in metrics[1:] else [])
    caps = _caps(table)
    with figure(5.5 * len(shown), 4) as fig:
        for i, metric in enumerate(shown):
            ax = fig.add_subplot(1, len(shown), i + 1)
            for level, by_cap in table.items():
                for r in dict.fromkeys(x for runs in by_cap.values() for x in runs):
                    points = [(j, by_cap[c][r][metric]) for j, c in enumerate(caps)
                              if c in by_cap and r in by_cap[c] and metric in by_cap[c][r]]
                    if points:
                        ax.plot(*zip(*points), marker="o", label=f"{level} / {r}")
            ax.set_xticks(range(len(caps)), [str(c) for c in caps])
            ax.set_xlabel("profile items kept (N most recent)")
            ax.set_ylabel(metric)
            ax.set_title(metric)
            ax.legend(fontsize=7)
        return png_of(fig)


def write_study(out: Path, table: Table) -> None:
    """The sweep's table as JSON and Markdown, and its chart when any run measured a
    metric (an empty split measures none: there is nothing to draw)."""
    atomic_write_json(out / JSON_NAME, table)
    atomic_write_text(out / MD_NAME, markdown(table))
    if any(metrics for by_cap in table.values() for runs in by_cap.values()
           for metrics in runs.values()):
        atomic_write_bytes(out / PNG_NAME, chart(table))


def write_report(sweep_dir: str | Path) -> tuple[Path, Path]:
    """`report.html` (chart inlined) and `report.md` of a sweep folder, from its
    ``cold_start.json``: what `pergen report` writes for a cold-start study."""
    folder = Path(sweep_dir)
    path = folder / JSON_NAME
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a cold-start study ({e})") from None
    text = markdown(table)
    png = chart(table)
    atomic_write_bytes(folder / PNG_NAME, png)
    md_path, html_path = folder / "report.md", folder / "report.html"
    atomic_write_text(md_path, text + f"\n![{CHART_TITLE}]({PNG_NAME})\n")
    body = "<pre>" + h(text) + "</pre>"
    atomic_write_text(html_path, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
                      f"<title>pergen cold-start study: {h(folder.name)}</title></head>"
                      f"<body><h1>Cold-start study</h1>{body}{img(CHART_TITLE, png)}"
                      "</body></html>\n")
    return html_path, md_path

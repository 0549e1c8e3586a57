"""The cold-start study: each level's metric as the user's history grows.

`sweep` runs `evaluate` once per (level, profile cap) into ``OUT/<level>-cap<N>/`` (each a
normal, resumable run folder), then writes ``OUT/cold_start.json``, a Markdown table
``OUT/cold_start.md`` and a chart ``OUT/cold_start.png``: the task metric and
``gold-loglik`` against N, one line per level. Where the lines cross is the finding a
product needs: how much history a user must have before their own beats the fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingExtraError
from ..evaluation.metrics import GOLD_LOGLIK
from ..reports.run import png_of
from ..run.config import RunConfig
from ..run.folder import RetrieverRun
from ..run.pipeline import evaluate
from ..run.storage import atomic_write_bytes, atomic_write_json, atomic_write_text


def cap_name(cap: int | None) -> str:
    return "all" if cap is None else str(cap)


def sweep(data_dir: str | Path, split: str, retrievers: Iterable[str] | None,
          out_dir: str | Path, levels: Sequence[str], caps: Sequence[int | None],
          config: RunConfig | None = None, **options: Any
          ) -> dict[tuple[str, str], dict[str, RetrieverRun]]:
    """Run every (level, cap) and write the study's table and chart; returns the runs.
    `retrievers` None: the configuration's; `options` go to `evaluate`."""
    if not levels or not caps:
        raise ConfigError("a cold-start sweep needs at least one {option} and one profile cap",
                          option="level")
    out = Path(out_dir)
    specs = list(retrievers) if retrievers is not None else None
    results: dict[tuple[str, str], dict[str, RetrieverRun]] = {}
    for level in dict.fromkeys(levels):
        for cap in dict.fromkeys(caps):
            folder = out / f"{level}-cap{cap_name(cap)}"
            results[level, cap_name(cap)] = evaluate(data_dir, split, specs, folder, config,
                                                     level=level, profile_cap=cap, **options)
    table = {level: {cap: {r: run.metrics for r, run in runs.items()}
                     for (lv, cap), runs in results.items() if lv == level}
             for level in dict.fromkeys(levels)}
    atomic_write_json(out / "cold_start.json", table)
    atomic_write_text(out / "cold_start.md", markdown(table))
    if any(run.metrics for runs in results.values() for run in runs.values()):
        atomic_write_bytes(out / "cold_start.png", chart(table))
    return results


def _metrics(table: dict[str, Any]) -> list[str]:
    for by_cap in table.values():
        for by_retriever in by_cap.values():
            for metrics in by_retriever.values():
                return list(metrics)
    return []


def markdown(table: dict[str, dict[str, dict[str, dict[str, float]]]]) -> str:
    """One row per (level, retriever), one column per cap, for each metric."""
    caps = list(dict.fromkeys(c for by_cap in table.values() for c in by_cap))
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


def chart(table: dict[str, dict[str, dict[str, dict[str, float]]]]) -> bytes:
    """PNG: one panel per metric (the task's first, and gold-loglik when measured), x the
    cap (evenly spaced, labelled), one line per (level, retriever)."""
    try:
        from matplotlib import rc_context
    except ImportError:
        raise MissingExtraError("matplotlib", "report") from None
    with rc_context({"text.parse_math": False}):  # a "$x$" retriever name is text, not TeX
        return _draw(table)


def _draw(table: dict[str, dict[str, dict[str, dict[str, float]]]]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = _metrics(table)
    shown = [metrics[0]] + ([GOLD_LOGLIK] if GOLD_LOGLIK in metrics[1:] else [])
    caps = list(dict.fromkeys(c for by_cap in table.values() for c in by_cap))
    fig = Figure(figsize=(5.5 * len(shown), 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
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


def write_report(sweep_dir: str | Path) -> tuple[Path, Path]:
    """`report.html` (chart inlined) and `report.md` of a sweep folder, from its
    ``cold_start.json``: what `pergen report` writes for a cold-start study."""
    import base64
    import html
    import json

    folder = Path(sweep_dir)
    path = folder / "cold_start.json"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not a cold-start study ({e})") from None
    text = markdown(table)
    png = chart(table)
    atomic_write_bytes(folder / "cold_start.png", png)
    md_path, html_path = folder / "report.md", folder / "report.html"
    atomic_write_text(md_path, text + "\n![cold-start curves](cold_start.png)\n")
    body = "<pre>" + html.escape(text) + "</pre>"
    data = base64.b64encode(png).decode("ascii")
    atomic_write_text(html_path, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
                      f"<title>pergen cold-start study: {html.escape(folder.name)}</title></head>"
                      f"<body><h1>Cold-start study</h1>{body}"
                      f'<img alt="cold-start curves" src="data:image/png;base64,{data}">'
                      "</body></html>\n")
    return html_path, md_path


def study(data_dir: str | Path, split: str, out_dir: str | Path, config: RunConfig,
          levels: Sequence[str] = ("user", "persona", "global", "auto"),
          caps: Sequence[int | None] = (0, 1, 2, 4, 8, 16, None), **options: Any
          ) -> dict[tuple[str, str], dict[str, RetrieverRun]]:
    """The registered ``cold-start`` study: every level against the profile caps."""
    return sweep(data_dir, split, None, out_dir, levels, caps, config, **options)

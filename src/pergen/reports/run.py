"""A readable report of one `pergen evaluate` run folder: `report.html` and `report.md`.

Why two files: the HTML is one self-contained file (charts inlined as base64 PNG, inline
CSS, no scripts, no external URLs) that can be mailed or opened from disk; the Markdown
sits next to its PNG charts for repositories and notebooks. Both show the results table
with significance marks (`pergen.reports.tables`/`pergen.reports.comparison`), the paper's retriever-selection
analyses (`pergen.rspg.oracle`: winning rate, oracle bounds, selection success) and,
when the run folder has a `selection.json`, how well each selector chose.

Every string read from the run folder (retriever specs, selector names...) is escaped:
a run folder is data, and a hostile retriever name must not become markup.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, MissingExtraError
from ..evaluation.metrics import LOWER_IS_BETTER
from ..evaluation.significance import SignificanceResult
from ..rspg.oracle import oracle_bounds, selected_scores, success_rate, winning_rate
from ..run.folder import WARNINGS, slug
from ..run.storage import atomic_write_bytes, atomic_write_text
from . import selective as selective_report
from .charts import png_of
from .comparison import BASELINE, markdown_table, metric_header
from .tables import ALPHA, Cell, all_pairs, comparison

HTML_NAME, MD_NAME = "report.html", "report.md"
SELECTION_NAME = "selection.json"
# Per-example values whose mean is not the corpus metric (see `pergen.evaluation.metrics.METRICS`).
MEAN_MEANS = {"rmse": "the mean squared error", "f1": "the accuracy"}


@dataclass(frozen=True)
class RunFolder:
    """What a run folder holds: metrics, per-question scores, baseline and selections."""

    path: Path
    metrics: dict[str, dict[str, float]]
    scores: dict[str, dict[str, dict[str, float]]]  # retriever -> question -> metric -> value
    files: dict[str, Path]  # retriever -> its scores.json, to name it in errors
    baseline: str | None
    settings: dict[str, Any]
    selectors: dict[str, dict[str, str]]
    pool: list[str]  # the retrievers selectors choose among: winning rates and bounds
    warnings: dict[str, str] = field(default_factory=dict)  # retriever -> warning


@dataclass(frozen=True)
class Chart:
    file: str
    title: str
    png: bytes


@dataclass(frozen=True)
class Analysis:
    """The numbers of the report for one metric; `mean` are means of per-example values."""

    metric: str
    lower_is_better: bool
    table: dict[str, dict[str, Cell]]
    rates: dict[str, float]
    mean: dict[str, float]
    bounds: tuple[float, float]
    best_single: str
    selectors: dict[str, tuple[float, float]]  # name -> (success rate, mean value)
    pairs: dict[tuple[str, str], SignificanceResult]  # every pair of retrievers, on `metric`


# --- reading ------------------------------------------------------------------------------

def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise DataError(f"{what} not found: is this a `pergen evaluate --out` folder?", file=str(path))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"not valid JSON ({e})", file=str(path)) from None


def _folders(run_dir: Path) -> dict[str, Path]:
    """Retriever spec -> its folder, from each folder's run.json (slugs are lossy)."""
    found: dict[str, Path] = {}
    for run_json in sorted(run_dir.glob("*/run.json")):
        spec = _read_json(run_json, "run.json").get("retriever")
        if isinstance(spec, str):
            found[spec] = run_json.parent
    return found


def _dict_of_dicts(obj: Any, path: Path, what: str) -> dict[str, dict[str, Any]]:
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, dict) for v in obj.values()):
        raise DataError(f"expected a non-empty object of {what}", file=str(path))
    return obj


def _selectors(run_dir: Path) -> dict[str, dict[str, str]]:
    path = run_dir / SELECTION_NAME
    if not path.exists():
        return {}
    obj = _read_json(path, SELECTION_NAME)
    selectors = _dict_of_dicts(obj.get("selectors") if isinstance(obj, dict) else None, path,
                               '"selectors": {name: {question_id: retriever}}')
    for name, chosen in selectors.items():
        if not all(isinstance(v, str) for v in chosen.values()):
            raise DataError(f"selector {name!r}: every choice must be a retriever name", file=str(path))
    return selectors


def load_run(run_dir: str | Path) -> RunFolder:
    """Read a run folder written by `pergen evaluate --out`."""
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    metrics = _dict_of_dicts(_read_json(metrics_path, "metrics.json"), metrics_path,
                             "{retriever: {metric: value}}")
    folders = _folders(run_dir)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    files: dict[str, Path] = {}
    for name in metrics:
        path = files[name] = folders.get(name, run_dir / slug(name)) / "scores.json"
        scores[name] = _dict_of_dicts(_read_json(path, f"scores.json of retriever {name!r}"), path,
                                      "{question_id: {metric: value}}")
    sig_path = run_dir / "significance.json"
    significance = _read_json(sig_path, "significance.json") if sig_path.exists() else {}
    baseline = significance.get("baseline") if isinstance(significance, dict) and significance \
        else BASELINE  # what `pergen evaluate` compares against by default
    first = folders.get(next(iter(metrics)))
    run_json = _read_json(first / "run.json", "run.json") if first else {}
    settings = run_json.get("settings") if isinstance(run_json, dict) else None
    selectors = _selectors(run_dir)
    return RunFolder(run_dir, metrics, scores, files, baseline if baseline in metrics else None,
                     settings if isinstance(settings, dict) else {}, selectors,
                     _pool(folders, metrics, selectors), _warnings(run_dir))


def _warnings(run_dir: Path) -> dict[str, str]:
    path = run_dir / WARNINGS
    if not path.exists():
        return {}
    found = _read_json(path, WARNINGS)
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise DataError("expected {retriever: warning}", file=str(path))
    return found


def _pool(folders: Mapping[str, Path], metrics: Mapping[str, Any],
          selectors: Mapping[str, Any]) -> list[str]:
    """The selectors' pools (from their run.json) when they name one, else every retriever
    that is not itself a selector: a selector repeats its pool's values, so counting it
    would only add ties."""
    pools: dict[str, None] = {}
    for name in selectors:
        folder = folders.get(name)
        run_json = _read_json(folder / "run.json", "run.json") if folder else {}
        for spec in run_json.get("pool") or ():
            pools[spec] = None
    pool = [r for r in pools if r in metrics] or [r for r in metrics if r not in selectors]
    return pool or list(metrics)


# --- analysis -----------------------------------------------------------------------------

def _per_example(run: RunFolder, metric: str, units: bool = False) -> dict[str, dict[str, Any]]:
    """retriever -> question -> value of `metric` (or its significance test's unit, which
    ``scores.json`` stores under ``units`` where it differs), naming the file of a gap."""
    matrix: dict[str, dict[str, Any]] = {}
    for name, by_question in run.scores.items():
        row = {}
        for qid, values in by_question.items():
            if not isinstance(values, dict) or metric not in values:
                raise DataError(f"no {metric!r} value", file=str(run.files[name]), record=qid,
                                field=metric)
            own = values.get("units") if units else None
            row[qid] = own[metric] if isinstance(own, dict) and metric in own else values[metric]
        matrix[name] = row
    return matrix


def analyse(run: RunFolder, metric: str | None = None) -> Analysis:
    """The report's numbers; `metric` defaults to the first metric of metrics.json."""
    known = list(next(iter(run.metrics.values())))
    metric = metric or known[0]
    if any(metric not in values for values in run.metrics.values()):
        raise ConfigError(f"metric {metric!r} is not in metrics.json of every retriever; "
                          f"known: {', '.join(known)}")
    lower = metric in LOWER_IS_BETTER
    everything = _per_example(run, metric)
    matrix = {r: everything[r] for r in run.pool}
    try:
        rates = winning_rate(matrix, lower)  # also checks that every retriever has every question
    except DataError as e:
        raise DataError(f"scores.json files disagree: {e}", file=str(run.path)) from None
    order = list(next(iter(matrix.values())))
    columns = {m: _per_example(run, m, units=True) for m in known}
    per_metric = {r: {m: [columns[m][r][q] for q in order] for m in known} for r in run.metrics}
    mean = {r: sum(v.values()) / len(v) for r, v in matrix.items()}
    best_single = (min if lower else max)(mean, key=mean.__getitem__)
    selectors: dict[str, tuple[float, float]] = {}
    for name, chosen in run.selectors.items():
        try:
            values = selected_scores(matrix, chosen)
            selectors[name] = (success_rate(matrix, chosen, lower), sum(values.values()) / len(values))
        except DataError as e:
            raise DataError(f"selector {name!r}: {e}", file=str(run.path / SELECTION_NAME)) from None
    pairs = all_pairs({r: {metric: per_metric[r][metric]} for r in run.metrics}, metric)
    return Analysis(metric, lower, comparison(run.metrics, per_metric, run.baseline), rates, mean,
                    oracle_bounds(matrix, lower), best_single, selectors, pairs)


# --- charts -------------------------------------------------------------------------------

def _bar_png(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str,
             lines: Mapping[str, float] | None = None, percent: bool = False) -> bytes:
    """A bar chart as PNG bytes. Agg on a bare `Figure`: no pyplot global state, no display."""
    try:
        from matplotlib import rc_context
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import PercentFormatter
    except ImportError:
        raise MissingExtraError("matplotlib", "report") from None
    # parse_math off: a retriever named "$x$" is text, not TeX.
    with rc_context({"text.parse_math": False}):
        fig = Figure(figsize=(max(5.0, 1.1 * len(labels) + 2), 3.8), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        bars = ax.bar(range(len(labels)), values, color="#4C72B0")
        ax.set_xticks(range(len(labels)), [str(label)[:40] for label in labels],
                      rotation=20 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
        ax.bar_label(bars, labels=[f"{v:.1%}" if percent else f"{v:.4f}" for v in values], fontsize=8)
        for (name, y), style in zip((lines or {}).items(), ("--", ":", "-.")):
            ax.axhline(y, color="#C44E52" if "upper" in name else "#555555", linestyle=style, label=name)
        if lines:
            fig.legend(fontsize=8, loc="outside lower center", ncol=len(lines), frameon=False)
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.margins(y=0.15)
        return png_of(fig)


def charts(a: Analysis) -> list[Chart]:
    names = list(a.rates)
    lo, hi = a.bounds
    return [
        Chart("report_winning_rate.png", f"Winning rate ({a.metric})",
              _bar_png(names, [a.rates[n] for n in names], f"Winning rate on {a.metric}",
                       "share of wins (tied best: all win)", percent=True)),
        Chart("report_oracle.png", f"Mean {a.metric} and oracle bounds",
              _bar_png(names, [a.mean[n] for n in names], f"Mean {a.metric} per retriever",
                       f"mean per-example {a.metric}",
                       {"oracle lower bound": lo, "oracle upper bound": hi})),
    ]


# --- rendering ----------------------------------------------------------------------------

def _summary_rows(a: Analysis) -> list[tuple[str, str]]:
    lo, hi = a.bounds
    return [("oracle lower bound (worst retriever per question)", f"{lo:.4f}"),
            (f"best single retriever: {a.best_single}", f"{a.mean[a.best_single]:.4f}"),
            ("oracle upper bound (best retriever per question)", f"{hi:.4f}")]


def _pair_rows(a: Analysis) -> list[list[str]]:
    """One row per pair of retrievers: the difference on the metric, its p-value, the test."""
    rows = []
    for (x, y), r in a.pairs.items():
        mark = " *" if r.p_value < ALPHA else ""
        rows.append([f"{x} vs {y}", f"{r.delta:+.4f}", f"{r.p_value:.3g}{mark}", r.test_name])
    return rows


PAIRS_HEADER = ["pair (a vs b)", "a - b", "p", "test"]
PAIRS_NOTE = (f"Every pair of retrievers on the analysed metric; * marks p < {ALPHA}. No "
              "correction for multiple comparisons: with many pairs, expect some false alarms.")


def _notes(a: Analysis, settings: Mapping[str, Any]) -> list[str]:
    better = "lower" if a.lower_is_better else "higher"
    notes = [f"Analysed metric: {a.metric} ({better} is better). Winning rate: each question's best "
             "retriever(s) get a win, all of them when tied (Salemi et al. 2024, Figure 3); the "
             "counts are normalized to sum to 1. Bounds and means are means of the per-example "
             "values in scores.json" + (f" ({MEAN_MEANS[a.metric]})" if a.metric in MEAN_MEANS else "")
             + "."]
    if settings:
        notes.insert(0, "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return notes


def _md(text: object) -> str:
    """Escaped for Markdown: HTML entities, then the characters that make tables, links, code."""
    escaped = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    return re.sub(r"([\\`*\[\]|])", r"\\\1", escaped)


def render_markdown(run: RunFolder, a: Analysis, chart_list: Sequence[Chart]) -> str:
    table = {_md(r): {_md(m): c for m, c in row.items()} for r, row in a.table.items()}
    out = [f"# Run report: {_md(run.path.name)}", ""]
    out += [f"**Warning** ({_md(r)}): {_md(w)}\n" for r, w in run.warnings.items()]
    out += [_md(n) + "\n" for n in _notes(a, run.settings)]
    out += ["## Results", "", markdown_table(table, _md(run.baseline or BASELINE)),
            f"## Retriever selection ({_md(a.metric)})", "",
            "| retriever | winning rate | mean |", "|---|---|---|"]
    out += [f"| {_md(r)} | {a.rates[r]:.1%} | {a.mean[r]:.4f} |" for r in a.rates]
    out += ["", "| | value |", "|---|---|"]
    out += [f"| {_md(label)} | {value} |" for label, value in _summary_rows(a)]
    out.append("")
    out += [f"![{_md(c.title)}]({c.file})\n" for c in chart_list]
    if a.pairs:
        out += [f"## All pairs ({_md(a.metric)})", "", _md(PAIRS_NOTE), "",
                "| " + " | ".join(PAIRS_HEADER) + " |", "|---|---|---|---|"]
        out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in _pair_rows(a)]
        out.append("")
    if a.selectors:
        out += ["## Selectors", "", f"| selector | success rate | mean {_md(a.metric)} |", "|---|---|---|"]
        out += [f"| {_md(n)} | {s:.1%} | {m:.4f} |" for n, (s, m) in a.selectors.items()]
        out.append("")
    return "\n".join(out)


CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
img{max-width:100%;display:block;margin:1rem 0}.note{color:#555;font-size:.9rem}
.warn{background:#fff4e5;border-left:4px solid #e69500;padding:.4rem .8rem}"""


def _h(text: object) -> str:
    return html.escape(str(text))


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table of plain strings, all escaped here; first column left, others numeric."""
    head = "".join(f"<th>{_h(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td{' class=num' if i else ''}>{_h(c)}</td>" for i, c in enumerate(row))
                   + "</tr>\n" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def render_html(run: RunFolder, a: Analysis, chart_list: Sequence[Chart]) -> str:
    metrics = list(next(iter(a.table.values())))
    results = _html_table(["retriever", *(metric_header(m) for m in metrics)],
                          [[r, *(row[m].text() for m in metrics)] for r, row in a.table.items()])
    # The legend is markdown_table's own last line, so both reports say the same thing.
    legend = markdown_table(a.table, run.baseline or BASELINE).rstrip().splitlines()[-1]
    legend_html = re.sub(r"`([^`]*)`", r"<code>\1</code>", _h(legend))
    parts = [f"<h1>Run report: {_h(run.path.name)}</h1>",
             *(f"<p class=warn><b>Warning</b> ({_h(r)}): {_h(w)}</p>" for r, w in run.warnings.items()),
             *(f"<p class=note>{_h(n)}</p>" for n in _notes(a, run.settings)),
             "<h2>Results</h2>", results, f"<p class=note>{legend_html}</p>",
             f"<h2>Retriever selection ({_h(a.metric)})</h2>",
             _html_table(["retriever", "winning rate", "mean"],
                         [[r, f"{a.rates[r]:.1%}", f"{a.mean[r]:.4f}"] for r in a.rates]),
             _html_table(["", "value"], _summary_rows(a))]
    for c in chart_list:
        data = base64.b64encode(c.png).decode("ascii")
        parts.append(f'<img alt="{_h(c.title)}" src="data:image/png;base64,{data}">')
    if a.pairs:
        parts += [f"<h2>All pairs ({_h(a.metric)})</h2>", f"<p class=note>{_h(PAIRS_NOTE)}</p>",
                  _html_table(PAIRS_HEADER, _pair_rows(a))]
    if a.selectors:
        parts += ["<h2>Selectors</h2>",
                  _html_table(["selector", "success rate", f"mean {a.metric}"],
                              [[n, f"{s:.1%}", f"{m:.4f}"] for n, (s, m) in a.selectors.items()])]
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
            f"<title>pergen report: {_h(run.path.name)}</title>\n<style>\n{CSS}\n</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


# --- writing ------------------------------------------------------------------------------

def write_report(run_dir: str | Path, metric: str | None = None) -> tuple[Path, Path]:
    """Write `report.html` and `report.md` (+ its PNG charts) into `run_dir`.

    Returns (html path, markdown path). Everything is computed before the first write, so
    an error (bad folder, missing matplotlib) leaves the folder as it was; the charts are
    written before the Markdown that links them.
    """
    run = load_run(run_dir)
    a = analyse(run, metric)
    chart_list = charts(a)
    md, page = render_markdown(run, a, chart_list), render_html(run, a, chart_list)
    summary = selective_report.load(run.path)  # confidences: coverage, AURC, ECE, charts
    trust_charts = selective_report.charts(summary) if summary else []
    chart_list += [Chart(file, title, png) for file, title, png in trust_charts]
    if summary:
        md += "\n" + selective_report.markdown(summary, [(f, t) for f, t, _ in trust_charts])
        page = page.replace("\n</body>", "\n" + selective_report.html_section(
            summary, trust_charts) + "\n</body>")
    for c in chart_list:
        atomic_write_bytes(run.path / c.file, c.png)
    md_path, html_path = run.path / MD_NAME, run.path / HTML_NAME
    atomic_write_text(md_path, md)
    atomic_write_text(html_path, page)
    return html_path, md_path

"""The run report's text: Markdown (`render_markdown`) and one HTML page (`render_html`),
and its two bar charts (`bar_charts`), all from one `pergen.reports.analysis.Analysis`.

Why two renderings: the HTML is one self-contained file (charts inlined as base64 PNG,
inline CSS, no scripts, no external URLs) that can be mailed or opened from disk; the
Markdown sits next to its PNG charts for repositories and notebooks. Both show the same
sections in the same order, and every string read from the run folder (retriever specs,
selector names...) is escaped (`pergen.reports.markup`): a hostile name is not markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .analysis import Analysis
from .charts import Chart, bar_png
from .comparison import BASELINE, cell_text, legend, markdown_table, metric_header
from .load import RunFolder
from .markup import document, h, html_table, img, md
from .tables import ALPHA

# Per-example values whose mean is not the corpus metric (see `pergen.evaluation.metrics.METRICS`).
MEAN_MEANS = {"rmse": "the mean squared error", "f1": "the accuracy"}
PAIRS_HEADER = ["pair (a vs b)", "a - b", "p", "test"]
PAIRS_NOTE = (f"Every pair of retrievers on the analysed metric; * marks p < {ALPHA}. No "
              "correction for multiple comparisons: with many pairs, expect some false alarms.")


def bar_charts(a: Analysis) -> list[Chart]:
    """The winning rates, and the mean per retriever between the oracle bounds."""
    names = list(a.rates)
    lo, hi = a.bounds
    return [
        Chart("report_winning_rate.png", f"Winning rate ({a.metric})",
              bar_png(names, [a.rates[n] for n in names], f"Winning rate on {a.metric}",
                      "share of wins (tied best: all win)", percent=True)),
        Chart("report_oracle.png", f"Mean {a.metric} and oracle bounds",
              bar_png(names, [a.mean[n] for n in names], f"Mean {a.metric} per retriever",
                      f"mean per-example {a.metric}",
                      {"oracle lower bound": lo, "oracle upper bound": hi})),
    ]


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


def _md_selection(a: Analysis) -> list[str]:
    """The winning rates and means, then the oracle bounds around the best single one."""
    out = [f"## Retriever selection ({md(a.metric)})", "",
           "| retriever | winning rate | mean |", "|---|---|---|"]
    out += [f"| {md(r)} | {a.rates[r]:.1%} | {a.mean[r]:.4f} |" for r in a.rates]
    out += ["", "| | value |", "|---|---|"]
    out += [f"| {md(label)} | {value} |" for label, value in _summary_rows(a)]
    out.append("")
    return out


def _md_pairs_and_selectors(a: Analysis) -> list[str]:
    out = []
    if a.pairs:
        out += [f"## All pairs ({md(a.metric)})", "", md(PAIRS_NOTE), "",
                "| " + " | ".join(PAIRS_HEADER) + " |", "|---|---|---|---|"]
        out += ["| " + " | ".join(md(c) for c in row) + " |" for row in _pair_rows(a)]
        out.append("")
    if a.selectors:
        out += ["## Selectors", "", f"| selector | success rate | mean {md(a.metric)} |", "|---|---|---|"]
        out += [f"| {md(n)} | {s:.1%} | {m:.4f} |" for n, (s, m) in a.selectors.items()]
        out.append("")
    return out


def render_markdown(run: RunFolder, a: Analysis, chart_list: Sequence[Chart]) -> str:
    """``report.md``: the charts are linked by file name, written beside it."""
    table = {md(r): {md(m): c for m, c in row.items()} for r, row in a.table.items()}
    out = [f"# Run report: {md(run.path.name)}", ""]
    out += [f"**Warning** ({md(r)}): {md(w)}\n" for r, w in run.warnings.items()]
    out += [md(n) + "\n" for n in _notes(a, run.settings)]
    out += ["## Results", "", markdown_table(table, md(run.baseline or BASELINE))]
    out += _md_selection(a)
    out += [f"![{md(c.title)}]({c.file})\n" for c in chart_list]
    out += _md_pairs_and_selectors(a)
    return "\n".join(out)


def _html_results(run: RunFolder, a: Analysis) -> list[str]:
    """The results table and its legend: the same `legend` the Markdown table ends with, so both
    pages say the same thing."""
    metrics = list(next(iter(a.table.values())))
    results = html_table(["retriever", *(metric_header(m) for m in metrics)],
                         [[r, *(cell_text(row, m) for m in metrics)] for r, row in a.table.items()])
    legend_html = re.sub(r"`([^`]*)`", r"<code>\1</code>", h(legend(run.baseline or BASELINE)))
    return ["<h2>Results</h2>", results, f"<p class=note>{legend_html}</p>"]


def _html_pairs_and_selectors(a: Analysis) -> list[str]:
    parts = []
    if a.pairs:
        parts += [f"<h2>All pairs ({h(a.metric)})</h2>", f"<p class=note>{h(PAIRS_NOTE)}</p>",
                  html_table(PAIRS_HEADER, _pair_rows(a))]
    if a.selectors:
        parts += ["<h2>Selectors</h2>",
                  html_table(["selector", "success rate", f"mean {a.metric}"],
                             [[n, f"{s:.1%}", f"{m:.4f}"] for n, (s, m) in a.selectors.items()])]
    return parts


def render_html(run: RunFolder, a: Analysis, chart_list: Sequence[Chart]) -> str:
    """``report.html``: one self-contained page, the charts inlined."""
    parts = [f"<h1>Run report: {h(run.path.name)}</h1>",
             *(f"<p class=warn><b>Warning</b> ({h(r)}): {h(w)}</p>" for r, w in run.warnings.items()),
             *(f"<p class=note>{h(n)}</p>" for n in _notes(a, run.settings)),
             *_html_results(run, a),
             f"<h2>Retriever selection ({h(a.metric)})</h2>",
             html_table(["retriever", "winning rate", "mean"],
                        [[r, f"{a.rates[r]:.1%}", f"{a.mean[r]:.4f}"] for r in a.rates]),
             html_table(["", "value"], _summary_rows(a))]
    parts += [img(c.title, c.png) for c in chart_list]
    parts += _html_pairs_and_selectors(a)
    return document(f"pergen report: {run.path.name}", "\n".join(parts))

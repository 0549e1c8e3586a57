"""A readable report of one `pergen evaluate` run folder: `report.html` and `report.md`.

The entry point `pergen report` calls (`write_report`): read the folder
(`pergen.reports.load`), compute the figures (`pergen.reports.analysis`), draw and render
them (`pergen.reports.render`), add the confidence section when the run measured one
(`pergen.reports.selective`), then write. Why in that order: everything is computed
before the first write, so a bad folder or a missing extra leaves the folder as it was.
"""

from __future__ import annotations

from pathlib import Path

from ..run.storage import atomic_write_bytes, atomic_write_text
from . import selective as selective_report
from .analysis import analyse
from .charts import Chart
from .load import load_run
from .render import bar_charts, render_html, render_markdown

HTML_NAME, MD_NAME = "report.html", "report.md"


def write_report(run_dir: str | Path, metric: str | None = None) -> tuple[Path, Path]:
    """Write `report.html` and `report.md` (+ its PNG charts) into `run_dir`.

    Returns (html path, markdown path). Everything is computed before the first write, so
    an error (bad folder, no `report` extra to draw) leaves the folder as it was; the charts are
    written before the Markdown that links them.
    """
    run = load_run(run_dir)
    a = analyse(run, metric)
    chart_list = bar_charts(a)
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

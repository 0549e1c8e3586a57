"""Selective prediction (confidence and abstention): the run report's section and
`pergen score`'s charts. A table, the risk-coverage curve and the reliability diagram,
from the figures of `pergen.evaluation.abstention.selective_figures` (``OUT/selective.json``:
retriever -> figures). Not the results table (`pergen.reports.comparison`) nor its
significance cells (`pergen.reports.tables`): this is about *when* a run answers.

Kept apart from `pergen.reports.run` so that `pergen score` draws the same charts
without a run folder; every name read from a file is escaped (`pergen.reports.markup`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..evaluation.abstention import COVERAGES, SELECTIVE_FILE
from ..evaluation.metrics import LOWER_IS_BETTER
from .charts import figure, png_of
from .markup import h, html_table, img, md

Summary = Mapping[str, Mapping[str, Any]]
CURVE_PNG, RELIABILITY_PNG = "risk_coverage.png", "reliability.png"
RULE = ("Coverage c: the model answers the questions whose confidence is at least the "
        "threshold that keeps a share c of them (ties kept together, so the share can exceed "
        "c). 'answered': the metric over the questions at or above the run's threshold; "
        "'full': over every question, an abstained one counted as the worst answer. AURC: "
        "mean risk over the n coverages k/n (lower is better); ECE: 10 equal-width bins.")


def load(run_dir: str | Path) -> dict[str, dict[str, Any]] | None:
    """``selective.json`` of a run folder, or None when the run measured no confidence."""
    path = Path(run_dir) / SELECTIVE_FILE
    if not path.exists():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"not valid JSON ({e})", file=str(path)) from None
    if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
        raise DataError("expected {retriever: {figure: value}}", file=str(path))
    return found


def _measured(summary: Summary) -> dict[str, Mapping[str, Any]]:
    return {r: f for r, f in summary.items() if "aurc" in f}


def _num(value: Any, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return f"{value:.1%}" if percent else f"{value:.4f}"


def table(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per retriever with confidences, the figures of its first metric."""
    measured = _measured(summary)
    if not measured:
        return [], []
    metric = next(iter(measured.values()))["metric"]
    header = ["retriever", "confidence", "threshold", "coverage", f"{metric} answered",
              f"{metric} full", *(f"{metric} @{c:.0%}" for c in COVERAGES), "AURC", "ECE",
              "mean confidence"]
    rows = []
    for name, f in measured.items():
        cut, answered = f.get("abstention") or {}, f.get("answered") or {}
        at = f.get("at_coverage", {})
        rows.append([name, str(f.get("confidence", "")), _num(cut.get("threshold")),
                     _num(answered.get("coverage"), percent=True), _num(answered.get(metric)),
                     _num((answered.get("full_coverage") or {}).get(metric)),
                     *(_num(at.get(f"{c:g}", {}).get(metric)) for c in COVERAGES),
                     _num(f.get("aurc")), _num(f.get("ece")), _num(f.get("mean_confidence"))])
    return header, rows


def lines(summary: Summary) -> list[str]:
    """One line of figures per retriever with confidences (what the CLI prints)."""
    out = []
    for name, f in _measured(summary).items():
        metric, at = f["metric"], f.get("at_coverage", {})
        text = f"{name} ({f.get('confidence')} confidence): {metric}"
        answered = f.get("answered")
        if answered:
            full = (answered.get("full_coverage") or {}).get(metric)
            text += (f" {_num(answered.get(metric))} on the {_num(answered['coverage'], True)}"
                     f" answered ({_num(full)} with the others counted as worst);")
        text += " " + ", ".join(f"{_num(at.get(f'{c:g}', {}).get(metric))} at {c:.0%}"
                                for c in COVERAGES)
        text += f" coverage; AURC {_num(f.get('aurc'))}, ECE {_num(f.get('ece'))}"
        out.append(text)
    return out


def notes(summary: Summary) -> list[str]:
    """What a reader must know: how thresholds were chosen, and runs without confidences."""
    out = []
    for name, f in summary.items():
        cut = f.get("abstention") or {}
        if cut:
            out.append(f"{name}: threshold {cut['threshold']:.4f} ({cut['threshold_from']}), "
                       f"fallback {cut['fallback']}: {cut['below']} of {cut['questions']} "
                       "questions below it")
        if f.get("note"):
            out.append(f"{name}: {f['note']}")
        if f.get("missing_confidence"):
            out.append(f"{name}: {f['missing_confidence']} answers without a confidence "
                       "(ranked last, left out of the ECE)")
    return out


def _risk_label(metric: str) -> str:
    if metric in LOWER_IS_BETTER:
        return "risk: mean " + ("squared error" if metric == "rmse" else "absolute error")
    return f"risk: 1 - {metric}"


def risk_coverage_png(summary: Summary) -> bytes:
    """Risk (mean loss of the answered) against coverage, one line per retriever."""
    measured = _measured(summary)
    metric = next(iter(measured.values()))["metric"]
    with figure(6.0, 4.0) as fig:
        ax = fig.add_subplot()
        for name, f in measured.items():
            ax.plot(f["curve"]["coverage"], f["curve"]["risk"],
                    label=f"{str(name)[:40]} (AURC {f['aurc']:.3f})")
        for c in COVERAGES[:-1]:
            ax.axvline(c, color="#999999", linestyle=":", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_xlabel("coverage (share of questions answered, most confident first)")
        ax.set_ylabel(_risk_label(metric))
        ax.set_title("Risk-coverage curve")
        ax.legend(fontsize=7)
        return png_of(fig)


def reliability_png(summary: Summary) -> bytes:
    """Reliability diagram: per confidence bin, mean correctness against mean confidence."""
    measured = _measured(summary)
    with figure(5.0, 4.5) as fig:
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1,
                label="perfectly calibrated")
        for name, f in measured.items():
            bins = f.get("reliability") or []
            ece = f"{f['ece']:.3f}" if f.get("ece") is not None else "n/a"
            ax.plot([b["confidence"] for b in bins], [b["correct"] for b in bins], marker="o",
                    label=f"{str(name)[:40]} (ECE {ece})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean confidence in bin (10 bins)")
        ax.set_ylabel("mean correctness in bin")
        ax.set_title("Reliability diagram")
        ax.legend(fontsize=7)
        return png_of(fig)


def charts(summary: Summary) -> list[tuple[str, str, bytes]]:
    """(file name, title, PNG) of both charts; none without measured confidences."""
    if not _measured(summary):
        return []
    return [(CURVE_PNG, "Risk-coverage curve", risk_coverage_png(summary)),
            (RELIABILITY_PNG, "Reliability diagram", reliability_png(summary))]


def markdown(summary: Summary, chart_files: Sequence[tuple[str, str]]) -> str:
    """The report's section; `chart_files` are (file, title) written next to it."""
    header, rows = table(summary)
    out = ["## Confidence and abstention", ""]
    if header:
        out += ["| " + " | ".join(md(x) for x in header) + " |",
                "|---|" + "---|" * (len(header) - 1)]
        out += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
        out += ["", md(RULE), ""]
    out += [md(n) + "\n" for n in notes(summary)]
    out += [f"![{md(title)}]({file})\n" for file, title in chart_files]
    return "\n".join(out) + "\n"


def html_section(summary: Summary, chart_list: Sequence[tuple[str, str, bytes]]) -> str:
    """The report page's section: the table, the rule, the notes and the charts inlined."""
    header, rows = table(summary)
    parts = ["<h2>Confidence and abstention</h2>"]
    if header:
        parts += [html_table(header, rows), f"<p class=note>{h(RULE)}</p>"]
    parts += [f"<p class=note>{h(n)}</p>" for n in notes(summary)]
    parts += [img(title, png) for _, title, png in chart_list]
    return "\n".join(parts)

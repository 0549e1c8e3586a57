"""The swap study's files: ``swap.json``, the table ``swap.md`` and the chart ``swap.png``.

The numbers (drops against the own profile, intervals, p-values, contrasts) are
`pergen.reports.swapstats`'s; this module reads each condition's confidences, writes the
summary and lays it out. The study (`pergen.studies.swap`) runs the conditions and calls
`write_study`; nothing here imports it, and the condition names both use come from
`pergen.studies.swapconditions`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingExtraError
from ..evaluation.metrics import GOLD_LOGLIK
from ..run.folder import slug
from ..run.storage import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..studies.swapconditions import LEAST, MOST, OWN, RANDOM, bin_name
from ..tasks import TaskSpec
from .charts import figure, png_of
from .swapstats import StudyRuns, bin_word, label_of, summarize
from .tables import ALPHA

CONFIDENCE = "confidence.json"


def write_study(out: Path, study: StudyRuns, task: TaskSpec, retriever: str, ids: Sequence[str],
                meta: dict[str, Any]) -> dict[str, Any]:
    """``swap.json``, ``swap.md`` and ``swap.png`` (when the `report` extra is installed:
    `pergen.reports.charts`) of a finished study; returns the summary."""
    confidences = {c: read_confidence(out / c / slug(retriever), ids)
                   or _complete(study.runs[c].confidence, ids) for c in study.runs}
    summary = summarize(study, task, ids, confidences, {"retriever": retriever, **meta})
    atomic_write_json(out / "swap.json", summary)
    atomic_write_text(out / "swap.md", markdown(summary))
    if summary["metrics"]:
        with contextlib.suppress(MissingExtraError):  # the chart needs the report extra
            atomic_write_bytes(out / "swap.png", chart(summary))
    return summary


def read_confidence(run_dir: Path, ids: Sequence[str]) -> list[float] | None:
    """The run's per-answer confidence in question order, when it covers every question."""
    path = run_dir / CONFIDENCE
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(stored, dict) or any(qid not in stored for qid in ids):
        return None
    return [float(stored[qid]) for qid in ids]


def _complete(values: dict[str, float], ids: Sequence[str]) -> list[float] | None:
    return [values[qid] for qid in ids] if all(qid in values for qid in ids) else None


def _ci(d: dict[str, Any] | None) -> str:
    if not d:
        return ""
    return f"{d['value']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]"


def _p(d: dict[str, Any] | None) -> str:
    return "" if not d else f"{d['p']:.3g}"


def markdown(summary: dict[str, Any]) -> str:
    """One row per condition: partner similarity, each metric and its drop with CI and p,
    mean confidence; then the near- and far-miss contrasts and how to read them."""
    metrics = summary["metrics"]
    rows = summary["conditions"]
    with_conf = any("confidence" in r for r in rows.values())
    head = ["condition", "partner similarity"]
    for m in metrics:
        head += [m, f"{m} drop [95% CI]", "p"]
    head += ["confidence [95% CI]"] if with_conf else []
    word = bin_word(int(summary.get("bins", 10)))
    lines = [f"# Swap study: {summary['task']}, {summary['retriever']}", "",
             f"{summary['n']} questions; model {summary.get('model', '?')}, k "
             f"{summary.get('k', '?')}, seed {summary.get('seed')}, "
             f"{summary.get('bins')} similarity {word}s ({word} 1: most similar).", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    lines += ["| " + " | ".join(_cells(row, metrics, with_conf)) + " |" for row in rows.values()]
    lines += ["", "Drop: metric with the own profile minus with the swapped-in one (a loss is "
              "positive; for MAE/RMSE the other way round), paired bootstrap over questions "
              f"({summary['bootstrap_rounds']} resamples); p: the metric's paired test.", ""]
    lines += _contrast_lines(summary["contrasts"])
    notes = _notes(rows)
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _cells(row: dict[str, Any], metrics: Sequence[str], with_conf: bool) -> list[str]:
    """A condition's table row: its label, partner similarity, each metric with its drop
    (interval and p) and, when any run measured it, the mean confidence."""
    sim = row.get("similarity")
    cells = [row["label"], "" if sim is None else f"{sim:.3f}"]
    for m in metrics:
        drop = row.get("drop", {}).get(m)
        value = row["metrics"].get(m)
        cells += ["" if value is None else f"{value:.4f}", _ci(drop), _p(drop)]
    if with_conf:
        c = row.get("confidence")
        cells.append(f"{c['mean']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]" if c else "")
    return cells


def _contrast_lines(contrasts: dict[str, dict[str, Any]]) -> list[str]:
    """The near- and far-miss contrasts, each with the direction its test supports."""
    lines = []
    for name, by_metric in contrasts.items():
        for m, d in by_metric.items():
            verdict = ("larger" if d["value"] > 0 else "smaller") if d["p"] < ALPHA else \
                "not different at this n"
            lines.append(f"- {name}, {m}: drop difference {_ci(d)}, p = {d['p']:.3g} "
                         f"({verdict})")
    return lines


def _notes(rows: dict[str, Any]) -> list[str]:
    """What qualifies the drops: questions left without a partner, gold items left out."""
    missing = {c: r["without_partner"] for c, r in rows.items() if r.get("without_partner")}
    dropped = sum(r.get("dropped_gold_items", 0) for r in rows.values())
    notes = []
    if missing:
        notes.append(f"questions without any partner (empty profile): {max(missing.values())}")
    if dropped:
        notes.append(f"partner items left out for equalling the gold output: {dropped}")
    return notes


def _panels(summary: dict[str, Any]) -> list[tuple[str, Callable[[dict[str, Any]], Any]]]:
    metrics = summary["metrics"]
    task_metric = next((m for m in metrics if m != GOLD_LOGLIK), None)
    panels: list[tuple[str, Callable[[dict[str, Any]], Any]]] = []
    for m in [task_metric, GOLD_LOGLIK if GOLD_LOGLIK in metrics else None]:
        if m is not None:
            panels.append((f"{m} drop vs own profile", _drop_of(m)))
    if any("confidence" in r for r in summary["conditions"].values()):
        panels.append(("mean confidence", _confidence_of))
    return panels


def _drop_of(metric: str) -> Callable[[dict[str, Any]], tuple[float, float, float] | None]:
    return lambda row: _point(row.get("drop", {}).get(metric))


def _confidence_of(row: dict[str, Any]) -> tuple[float, float, float] | None:
    c = row.get("confidence")
    return None if c is None else (c["mean"], c["ci"][0], c["ci"][1])


def _point(d: dict[str, Any] | None) -> tuple[float, float, float] | None:
    return None if not d else (d["value"], d["ci"][0], d["ci"][1])


def chart(summary: dict[str, Any]) -> bytes:
    """PNG: one panel per measure (the task's first metric's drop, gold-loglik's drop,
    mean confidence), x the similarity bin with most/least similar at the ends, random
    as a dashed line with its interval as a band; error bars are the 95% intervals."""
    rows = summary["conditions"]
    bins = int(summary.get("bins", 10))
    panels = _panels(summary)
    with figure(5.5 * len(panels), 4) as fig:
        for i, (title, get) in enumerate(panels):
            _panel(fig.add_subplot(1, len(panels), i + 1), title, get, rows, bins)
        return png_of(fig)


def _panel(ax: Any, title: str, get: Callable[[dict[str, Any]], Any], rows: dict[str, Any],
           bins: int) -> None:
    """One measure against the partner's similarity: the bins as a line, most and least
    similar at the ends, the random partner (and, for confidence, the own profile) as
    horizontal references."""
    xs = [(MOST, 0), *((bin_name(b), b) for b in range(1, bins + 1)), (LEAST, bins + 1)]
    line = [(x, p) for c, x in xs if c in rows and (p := get(rows[c])) is not None]
    binned = [(x, p) for x, p in line if 1 <= x <= bins]
    if binned:
        ax.errorbar([x for x, _ in binned], [p[0] for _, p in binned],
                    yerr=_yerr([p for _, p in binned]), marker="o", capsize=3,
                    label=f"partner from a similarity {bin_word(bins)}")
    for c, x, marker in ((MOST, 0, "v"), (LEAST, bins + 1, "^")):
        p = get(rows[c]) if c in rows else None
        if p is not None:
            ax.errorbar([x], [p[0]], yerr=_yerr([p]), marker=marker, markersize=9,
                        capsize=3, linestyle="none", label=label_of(c))
    rnd = get(rows[RANDOM]) if RANDOM in rows else None
    if rnd is not None:
        ax.axhline(rnd[0], color="grey", linestyle="--", label="random partner")
        ax.axhspan(rnd[1], rnd[2], color="grey", alpha=0.15)
    if title != "mean confidence":
        ax.axhline(0.0, color="black", linewidth=0.6)
    else:
        own = get(rows[OWN]) if OWN in rows else None
        if own is not None:
            ax.axhline(own[0], color="black", linestyle=":", label="own profile")
    ax.set_xticks(range(bins + 2), ["most", *(str(b) for b in range(1, bins + 1)), "least"])
    ax.set_xlabel(f"similarity {bin_word(bins)} of the swapped-in profile "
                  "(1: most similar)")
    ax.set_title(title)
    ax.legend(fontsize=7)


def _yerr(points: Sequence[tuple[float, float, float]]) -> np.ndarray:
    return np.array([[max(0.0, v - lo) for v, lo, _ in points],
                     [max(0.0, hi - v) for v, _, hi in points]])

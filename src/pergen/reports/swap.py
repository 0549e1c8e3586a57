"""The swap study's figures: drops against the user's own profile, with intervals.

For every swapped condition and metric (the task's, and gold-loglik where the model
scores text), the *drop* is metric(own) - metric(swapped), signed so that a positive drop
is always a loss (for MAE/RMSE: swapped - own). Its 95% interval is a paired percentile
bootstrap over questions (`BOOTSTRAP_ROUNDS` resamples of the question ids, each drop
recomputed from the metric's units, so macro-F1 and RMSE are recomputed, not averaged),
seeded by the study's seed; its p-value is the metric's paired test
(`pergen.evaluation.significance.compare`). Where a run folder holds ``confidence.json``
({question id: confidence in [0, 1]}), the mean confidence gets the same interval.

Two contrasts read the U-shape directly: *near miss* (the most similar partner's drop
minus the random partner's; PRIME's claim is that it is positive) and *far miss* (the
least similar partner's minus random's).

The study (`pergen.studies.swap`) runs the conditions and calls `write_study`; this
module never imports it: it reads a study through `StudyRuns`, and the condition names
both use come from `pergen.studies.swapconditions`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import MissingExtraError
from ..evaluation.metrics import GOLD_LOGLIK, METRICS, macro_f1_of_ids
from ..evaluation.significance import compare
from ..run.folder import RetrieverRun, slug
from ..run.storage import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..studies.swapconditions import LEAST, MOST, OWN, RANDOM, bin_name, bin_number
from ..tasks import TaskSpec
from .charts import figure, png_of
from .tables import ALPHA

BOOTSTRAP_ROUNDS = 1000
CONFIDENCE = "confidence.json"
LABELS = {OWN: "own profile", MOST: "most similar", RANDOM: "random", LEAST: "least similar"}


class PartnerLike(Protocol):
    """What the report reads of a swapped-in partner (`pergen.studies.swap.Partner`)."""

    @property
    def user(self) -> str | None: ...
    @property
    def rank(self) -> int: ...
    @property
    def similarity(self) -> float: ...
    @property
    def items(self) -> int: ...
    @property
    def dropped(self) -> int: ...


class StudyRuns(Protocol):
    """What the report reads of a finished study (`pergen.studies.swap.SwapStudy`): the
    run of each condition, and each swapped condition's partner per question."""

    @property
    def runs(self) -> Mapping[str, RetrieverRun]: ...
    @property
    def partners(self) -> Mapping[str, Mapping[str, PartnerLike]]: ...


def _bin_word(bins: int) -> str:
    return "decile" if bins == 10 else "bin"


def label_of(condition: str, bins: int = 10) -> str:
    b = bin_number(condition)
    if b is not None:
        return f"similarity {_bin_word(bins)} {b}"
    return LABELS.get(condition, condition)


def _value_fn(metric: str, n_labels: int) -> Callable[[np.ndarray], Any]:
    """The metric recomputed from its units along the last axes: (n,) or (n, 2) units give
    a number, (rounds, n[, 2]) resamples one number per round. Macro-F1 is taken over the
    task's whole label set, so that two resamples are on the same scale."""
    spec = METRICS[metric]
    if metric == "f1":
        def f1(u: np.ndarray) -> Any:
            rows = u.reshape(-1, *u.shape[-2:]).astype(int)
            values = [macro_f1_of_ids(r[:, 0], r[:, 1], n_labels) for r in rows]
            return np.array(values).reshape(u.shape[:-2])
        return f1
    if spec.from_units is METRICS["accuracy"].from_units:  # the plain mean
        return lambda u: u.mean(axis=-1)
    if metric == "rmse":
        return lambda u: np.sqrt(u.mean(axis=-1))
    def other(u: np.ndarray) -> Any:  # one recomputation per resample
        rows = u.reshape(-1, u.shape[-1])
        return np.array([spec.from_units(list(r)) for r in rows]).reshape(u.shape[:-1])
    return other


def _mean(values: np.ndarray) -> Any:
    return values.mean(axis=-1)


def paired_bootstrap(value: Callable[[np.ndarray], Any], a: Sequence[Any], b: Sequence[Any],
                     seed: int, rounds: int = BOOTSTRAP_ROUNDS) -> tuple[float, float, float]:
    """value(a) - value(b) on all questions, and its 95% percentile interval over `rounds`
    paired resamples of the questions (the same resample for both). `value` maps units
    along the last axes (see `_value_fn`), so all rounds are computed at once."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    point = float(value(x) - value(y))
    if len(x) < 2:
        return point, point, point
    idx = np.random.default_rng(seed).integers(0, len(x), (rounds, len(x)))
    lo, hi = np.percentile(value(x[idx]) - value(y[idx]), [2.5, 97.5])
    return point, float(lo), float(hi)


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


def summarize(study: StudyRuns, task: TaskSpec, ids: Sequence[str], confidences:
              dict[str, list[float] | None], meta: dict[str, Any]) -> dict[str, Any]:
    """The study as ``swap.json`` holds it (see the module docstring)."""
    seed = int(meta.get("seed", 0))
    own = study.runs[OWN]
    metrics = [m for m in own.metrics if all(m in r.metrics for r in study.runs.values())]
    n_labels = len(task.labels or ())
    rows: dict[str, Any] = {}
    for condition, run in study.runs.items():
        row: dict[str, Any] = {"label": label_of(condition, int(meta.get("bins", 10))),
                               "metrics": dict(run.metrics)}
        partners = study.partners.get(condition)
        if partners is not None:
            shown = [p for p in partners.values() if p.user is not None]
            row["similarity"] = float(np.mean([p.similarity for p in shown])) if shown else None
            row["rank"] = float(np.mean([p.rank for p in shown])) if shown else None
            row["without_partner"] = len(partners) - len(shown)
            row["items"] = float(np.mean([p.items for p in partners.values()]))
            row["dropped_gold_items"] = sum(p.dropped for p in partners.values())
            row["drop"] = {m: _drop(m, own, run, n_labels, seed) for m in metrics}
        conf = confidences.get(condition)
        if conf is not None:
            point, lo, hi = paired_bootstrap(_mean, conf, [0.0] * len(conf), seed)
            row["confidence"] = {"mean": point, "ci": [lo, hi]}
        rows[condition] = row
    contrasts = {}
    for name, a in (("near miss (most similar vs random)", MOST),
                    ("far miss (least similar vs random)", LEAST)):
        if a in study.runs and RANDOM in study.runs:
            contrasts[name] = {m: _drop(m, study.runs[RANDOM], study.runs[a], n_labels, seed)
                               for m in metrics}
    return {"task": task.name, "n": len(ids), "metrics": metrics, **meta,
            "bootstrap_rounds": BOOTSTRAP_ROUNDS, "conditions": rows, "contrasts": contrasts}


def _drop(metric: str, base: RetrieverRun, other: RetrieverRun, n_labels: int, seed: int
          ) -> dict[str, Any]:
    """metric(base) - metric(other), as a loss (see the module docstring), CI and p."""
    a, b = base.units.get(metric), other.units.get(metric)
    assert a is not None and b is not None
    point, lo, hi = paired_bootstrap(_value_fn(metric, n_labels), a, b, seed)
    if METRICS[metric].lower_is_better:
        point, lo, hi = -point, -hi, -lo
    return {"value": point, "ci": [lo, hi], "p": compare(metric, a, b).p_value}


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
    lines = [f"# Swap study: {summary['task']}, {summary['retriever']}", "",
             f"{summary['n']} questions; model {summary.get('model', '?')}, k "
             f"{summary.get('k', '?')}, seed {summary.get('seed')}, "
             f"{summary.get('bins')} similarity {_bin_word(int(summary.get('bins', 10)))}s "
             f"({_bin_word(int(summary.get('bins', 10)))} 1: most similar).", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows.values():
        sim = row.get("similarity")
        cells = [row["label"], "" if sim is None else f"{sim:.3f}"]
        for m in metrics:
            drop = row.get("drop", {}).get(m)
            value = row["metrics"].get(m)
            cells += ["" if value is None else f"{value:.4f}", _ci(drop), _p(drop)]
        if with_conf:
            c = row.get("confidence")
            cells.append(f"{c['mean']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]" if c else "")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Drop: metric with the own profile minus with the swapped-in one (a loss is "
              "positive; for MAE/RMSE the other way round), paired bootstrap over questions "
              f"({summary['bootstrap_rounds']} resamples); p: the metric's paired test.", ""]
    for name, by_metric in summary["contrasts"].items():
        for m, d in by_metric.items():
            verdict = ("larger" if d["value"] > 0 else "smaller") if d["p"] < ALPHA else \
                "not different at this n"
            lines.append(f"- {name}, {m}: drop difference {_ci(d)}, p = {d['p']:.3g} "
                         f"({verdict})")
    missing = {c: r["without_partner"] for c, r in rows.items() if r.get("without_partner")}
    dropped = sum(r.get("dropped_gold_items", 0) for r in rows.values())
    notes = []
    if missing:
        notes.append(f"questions without any partner (empty profile): {max(missing.values())}")
    if dropped:
        notes.append(f"partner items left out for equalling the gold output: {dropped}")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


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
                    label=f"partner from a similarity {_bin_word(bins)}")
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
    ax.set_xlabel(f"similarity {_bin_word(bins)} of the swapped-in profile "
                  "(1: most similar)")
    ax.set_title(title)
    ax.legend(fontsize=7)


def _yerr(points: Sequence[tuple[float, float, float]]) -> np.ndarray:
    return np.array([[max(0.0, v - lo) for v, lo, _ in points],
                     [max(0.0, hi - v) for v, _, hi in points]])

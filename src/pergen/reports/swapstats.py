"""The swap study's figures, as ``swap.json`` holds them: drops against the user's own
profile, with intervals (`summarize`).

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

Why apart from `pergen.reports.swap` (the table and chart): these are the numbers, which
the page and ``swap.json`` share. The study (`pergen.studies.swap`) is read through
`StudyRuns`, never imported: the study calls its report, not the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from ..evaluation.metrics import METRICS, macro_f1_of_ids
from ..evaluation.significance import compare
from ..run.folder import RetrieverRun
from ..studies.swapconditions import LEAST, MOST, OWN, RANDOM, bin_number
from ..tasks import TaskSpec

BOOTSTRAP_ROUNDS = 1000
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


def bin_word(bins: int) -> str:
    """What a similarity bin is called: ten bins are deciles."""
    return "decile" if bins == 10 else "bin"


def label_of(condition: str, bins: int = 10) -> str:
    """A condition as a reader names it (``bin-03``: similarity decile 3)."""
    b = bin_number(condition)
    if b is not None:
        return f"similarity {bin_word(bins)} {b}"
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
            row.update(_partner_figures(partners))
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


def _partner_figures(partners: Mapping[str, PartnerLike]) -> dict[str, Any]:
    """Who was swapped in under one condition: their mean similarity and rank (over the
    questions that had a partner), how many had none, items shown and gold items dropped."""
    shown = [p for p in partners.values() if p.user is not None]
    return {"similarity": float(np.mean([p.similarity for p in shown])) if shown else None,
            "rank": float(np.mean([p.rank for p in shown])) if shown else None,
            "without_partner": len(partners) - len(shown),
            "items": float(np.mean([p.items for p in partners.values()])),
            "dropped_gold_items": sum(p.dropped for p in partners.values())}


def _drop(metric: str, base: RetrieverRun, other: RetrieverRun, n_labels: int, seed: int
          ) -> dict[str, Any]:
    """metric(base) - metric(other), as a loss (see the module docstring), CI and p."""
    a, b = base.units.get(metric), other.units.get(metric)
    assert a is not None and b is not None
    point, lo, hi = paired_bootstrap(_value_fn(metric, n_labels), a, b, seed)
    if METRICS[metric].lower_is_better:
        point, lo, hi = -point, -hi, -lo
    return {"value": point, "ci": [lo, hi], "p": compare(metric, a, b).p_value}

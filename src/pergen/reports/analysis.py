"""The run report's numbers for one metric: `analyse(RunFolder) -> Analysis`.

The paper's retriever-selection analyses (`pergen.rspg.oracle`: winning rate, oracle
bounds, how well each selector of ``selection.json`` chose), the results table with
significance marks against the baseline (`pergen.reports.tables`), and every pair of
retrievers tested. Why apart: these are figures, not text; the Markdown and the HTML
page (`pergen.reports.render`) show the same `Analysis`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, DataError
from ..evaluation.metrics import LOWER_IS_BETTER
from ..evaluation.significance import SignificanceResult
from ..rspg.oracle import oracle_bounds, selected_scores, success_rate, winning_rate
from .load import SELECTION_NAME, RunFolder
from .tables import Cell, all_pairs, comparison


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


def _per_example(run: RunFolder, metric: str, units: bool = False) -> dict[str, dict[str, Any]]:
    """retriever -> question -> value of `metric` (or its significance test's unit, which
    ``scores.json`` stores under ``units`` where it differs), naming the file of a gap. A
    run whose metrics.json has no such metric (a reference's gold-loglik) is left out."""
    matrix: dict[str, dict[str, Any]] = {}
    for name, by_question in run.scores.items():
        if metric not in run.metrics[name]:
            continue
        row = {}
        for qid, values in by_question.items():
            if not isinstance(values, dict) or metric not in values:
                raise DataError(f"no {metric!r} value", file=str(run.files[name]), record=qid,
                                field=metric)
            own = values.get("units") if units else None
            row[qid] = own[metric] if isinstance(own, dict) and metric in own else values[metric]
        matrix[name] = row
    return matrix


def _selector_figures(run: RunFolder, matrix: dict[str, dict[str, Any]], lower: bool
                      ) -> dict[str, tuple[float, float]]:
    """Each selector's success rate and mean value, naming ``selection.json`` on a gap."""
    selectors: dict[str, tuple[float, float]] = {}
    for name, chosen in run.selectors.items():
        try:
            values = selected_scores(matrix, chosen)
            selectors[name] = (success_rate(matrix, chosen, lower), sum(values.values()) / len(values))
        except DataError as e:
            raise DataError(f"selector {name!r}: {e}", file=str(run.path / SELECTION_NAME)) from None
    return selectors


def analyse(run: RunFolder, metric: str | None = None) -> Analysis:
    """The report's numbers; `metric` defaults to the first metric of metrics.json."""
    known = list(next(iter(run.metrics.values())))
    metric = metric or known[0]
    if any(metric not in run.metrics[r] for r in run.pool):
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
    per_metric = {r: {m: [columns[m][r][q] for q in order] for m in known if r in columns[m]}
                  for r in run.metrics}
    mean = {r: sum(v.values()) / len(v) for r, v in matrix.items()}
    best_single = (min if lower else max)(mean, key=mean.__getitem__)
    selectors = _selector_figures(run, matrix, lower)
    pairs = all_pairs({r: {metric: per_metric[r][metric]} for r in run.metrics
                       if metric in per_metric[r]}, metric)
    return Analysis(metric, lower, comparison(run.metrics, per_metric, run.baseline), rates, mean,
                    oracle_bounds(matrix, lower), best_single, selectors, pairs)

"""The numbers behind the paper's Table-3 view: per retriever and metric, a `Cell` (the
value, its p-value against a baseline, better or worse), and every pair of retrievers
tested (`all_pairs`). No layout here: `pergen.reports.comparison` writes and prints
these cells, the run report renders them; `ALPHA` is the significance level of all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from ..evaluation.metrics import LOWER_IS_BETTER
from ..evaluation.significance import SignificanceResult, compare

Units = Mapping[str, Mapping[str, Sequence[Any]]]
"""retriever -> metric -> what the metric's test pairs up (`pergen.evaluation.metrics.units`)."""

ALPHA = 0.05


@dataclass(frozen=True)
class Cell:
    value: float
    p_value: float | None  # None for the baseline itself
    better: bool | None

    def text(self) -> str:
        mark = ""
        if self.p_value is not None and self.p_value < ALPHA:
            mark = "+" if self.better else "-"
        return f"{self.value:.4f}{mark}"


def comparison(metrics: dict[str, dict[str, float]], units: Units,
               baseline: str | None) -> dict[str, dict[str, Cell]]:
    """Cells by retriever and metric; `+`/`-`: significantly better/worse than `baseline`
    (each metric's own test, `pergen.evaluation.significance`, p < 0.05)."""
    table: dict[str, dict[str, Cell]] = {}
    for name, values in metrics.items():
        row = {}
        for metric, value in values.items():
            p, better = None, None
            if baseline and name != baseline and baseline in units:
                result = compare(metric, units[name][metric], units[baseline][metric])
                p = result.p_value
                base = metrics[baseline][metric]
                better = value < base if metric in LOWER_IS_BETTER else value > base
            row[metric] = Cell(value, p, better)
        table[name] = row
    return table


def significance_json(table: dict[str, dict[str, Cell]]) -> dict[str, dict[str, float | None]]:
    return {r: {m: c.p_value for m, c in row.items()} for r, row in table.items()}


def all_pairs(units: Units, metric: str) -> dict[tuple[str, str], SignificanceResult]:
    """Every pair of retrievers compared on `metric`: (a, b) -> test of a against b."""
    return {(a, b): compare(metric, units[a][metric], units[b][metric])
            for a, b in combinations(units, 2)}


@dataclass(frozen=True)
class Contest:
    """The best of one group against the best of another on one metric, paired."""

    metric: str
    winner: str  # the better of the two on the metric's direction
    a: str
    b: str
    a_value: float
    b_value: float
    p_value: float

    def line(self, what: str) -> str:
        significant = self.p_value < ALPHA
        verdict = (f"{self.winner} wins" if significant
                   else "no significant difference")
        return (f"{self.metric}: {what} {self.a} {self.a_value:.4f} vs {self.b} "
                f"{self.b_value:.4f}, p = {self.p_value:.3g}: {verdict}")


def contest(metrics: Mapping[str, Mapping[str, float]], units: Units, metric: str,
            group_a: Sequence[str], group_b: Sequence[str]) -> Contest | None:
    """The best of `group_a` against the best of `group_b` on `metric` (None where either
    group has no value for it)."""
    a_side = [r for r in group_a if metric in metrics[r] and metric in units.get(r, {})]
    b_side = [r for r in group_b if metric in metrics[r] and metric in units.get(r, {})]
    if not a_side or not b_side:
        return None
    lower = metric in LOWER_IS_BETTER
    best = (min if lower else max)
    a = best(a_side, key=lambda r: metrics[r][metric])
    b = best(b_side, key=lambda r: metrics[r][metric])
    av, bv = metrics[a][metric], metrics[b][metric]
    p = compare(metric, units[a][metric], units[b][metric]).p_value
    winner = a if (av < bv if lower else av > bv) else b
    return Contest(metric, winner, a, b, av, bv, p)

"""What wins, said in two lines under every results table.

A table of numbers leaves the reader to find the answer; these lines give it: on the
task metric, the best method against the best no-LLM reference (`pergen.run.references`;
does personalizing the LLM beat what a user gets without one?), and on gold-loglik, the
best method against no personalization (does the profile make the user's real output
more likely?), each with its paired test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..evaluation.metrics import GOLD_LOGLIK
from ..run.references import is_reference
from .tables import Units, contest


def what_wins(metrics: Mapping[str, Mapping[str, float]], units: Units, metric: str,
              no_profile: str = "none") -> list[str]:
    """The lines (none when there is nothing to compare). `no_profile` is the row without
    personalization, not a run's significance baseline (often dense)."""
    methods = [r for r in metrics if not is_reference(r)]
    references = [r for r in metrics if is_reference(r)]
    lines = []
    task = contest(metrics, units, metric, methods, references)
    if task is not None:
        lines.append(task.line("best method"))
    personalized = [r for r in methods if r != no_profile]
    if no_profile in metrics:
        likelihood = contest(metrics, units, GOLD_LOGLIK, personalized, [no_profile])
        if likelihood is not None:
            lines.append(likelihood.line("best personalized"))
    return lines


def wins_of_runs(runs: Mapping[str, Any], metric: str) -> list[str]:
    """`what_wins` of a run's `RetrieverRun`s."""
    return what_wins({r: run.metrics for r, run in runs.items()},
                     {r: run.units or run.per_example for r, run in runs.items()}, metric)


def first_metric(runs: Mapping[str, Any]) -> str | None:
    """The task metric a table leads with (the first column)."""
    for run in runs.values():
        names: Sequence[str] = [m for m in run.metrics if m != GOLD_LOGLIK]
        if names:
            return names[0]
    return None

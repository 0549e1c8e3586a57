"""Scoring a run's methods against the golds, into the run folder.

Per retriever: the task metrics, per-example values and test units (`pergen.evaluation.
metrics`), and gold-loglik where every method has it (a table compares like with like);
then ``OUT/metrics.json`` and the comparison with significance marks
(`pergen.reports.comparison`).
"""

from __future__ import annotations

from pathlib import Path

from ..evaluation.metrics import GOLD_LOGLIK, per_example, score, units
from ..reports.comparison import write_comparison
from ..tasks import TaskSpec
from .folder import RetrieverRun, slug, write_scores
from .references import is_reference
from .storage import atomic_write_json


def score_runs(runs: dict[str, RetrieverRun], task: TaskSpec, golds: dict[str, str],
               out: Path, baseline: str) -> None:
    """Fill each run's metrics and write them, the per-example scores and the table."""
    # gold-loglik only where every method has it (references read no LLM: none)
    with_likelihood = all(run.gold_loglik for name, run in runs.items()
                          if not is_reference(name))
    for spec_r, run in runs.items():
        missing = "worst" if run.abstained else "error"  # abstained: the worst answer
        run.metrics = score(task, golds, run.predictions, missing=missing)
        run.per_example = per_example(task, golds, run.predictions, missing=missing)
        run.units = units(task, golds, run.predictions)
        if with_likelihood and run.gold_loglik:
            values = [run.gold_loglik[qid] for qid in golds]
            run.metrics[GOLD_LOGLIK] = sum(values) / len(values)
            run.per_example[GOLD_LOGLIK] = run.units[GOLD_LOGLIK] = values
        write_scores(out / slug(spec_r), run, list(golds))
    atomic_write_json(out / "metrics.json", {r: run.metrics for r, run in runs.items()})
    write_comparison(runs, out, baseline)

"""Task metrics, computed exactly as the official LaMP evaluator does, without HF `evaluate`.

Every metric takes ``(preds, golds, labels)`` (sequences of strings, aligned) and comes in
two forms: the corpus value and a per-example list (what significance tests pair up).

- accuracy / macro-F1 (LaMP-1, LaMP-2): strings are ``.strip()``-ped; a prediction outside
  the closed label set is always wrong.
- MAE / RMSE (LaMP-3): on ``float(pred.strip())``; an unparseable (or nan/inf) prediction is
  replaced by the extreme, 1 or 5, farthest from the gold.
- ROUGE-1 / ROUGE-L (LaMP-4..7): F-measure of Google's ``rouge_score`` (no stemmer, its
  default tokenizer), averaged over examples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, DataError, bad_choice

if TYPE_CHECKING:
    from ..tasks.spec import TaskSpec

Strs = Sequence[str]
Labels = Sequence[str] | None

RATING_MIN, RATING_MAX = 1.0, 5.0


# --- classification -----------------------------------------------------------------------

def _label_ids(texts: Strs, labels: Labels) -> np.ndarray:
    """Index of each stripped text in `labels`, -1 when outside (official `create_mapping`)."""
    if not labels:
        raise ConfigError("accuracy/f1 need the task's label set")
    index = {label.strip(): i for i, label in enumerate(labels)}
    return np.array([index.get(t.strip(), -1) for t in texts], dtype=int)


def accuracy_per_example(preds: Strs, golds: Strs, labels: Labels = None) -> list[float]:
    """1.0 where the stripped prediction is a label and equals the stripped gold, else 0.0."""
    p, g = _label_ids(preds, labels), _label_ids(golds, labels)
    return ((p == g) & (p >= 0)).astype(float).tolist()


def accuracy(preds: Strs, golds: Strs, labels: Labels = None) -> float:
    """Fraction of examples answered correctly (see `accuracy_per_example`)."""
    return _mean(accuracy_per_example(preds, golds, labels))


def macro_f1(preds: Strs, golds: Strs, labels: Labels = None) -> float:
    """Macro-F1 over the label set, as scikit-learn's
    ``f1_score(golds, preds, labels=range(len(labels)), average="macro", zero_division=0)``
    with out-of-label strings mapped to -1.

    Per label l: F1_l = 2 TP / (2 TP + FP + FN) (0 when the denominator is 0), averaged over
    all labels, also those never predicted nor gold. A -1 prediction is a false negative for
    the gold's label and a false positive for no label.
    """
    p, g = _label_ids(preds, labels), _label_ids(golds, labels)
    return macro_f1_of_ids(p, g, len(labels or ()))


def label_pairs(preds: Strs, golds: Strs, labels: Labels = None) -> list[list[int]]:
    """[predicted label index (-1 outside the set), gold label index] per example: what
    macro-F1 is computed from, and what its randomization test shuffles."""
    return [[int(a), int(b)] for a, b in zip(_label_ids(preds, labels), _label_ids(golds, labels))]


def macro_f1_of_ids(p: np.ndarray, g: np.ndarray, n_labels: int) -> float:
    """Macro-F1 of label indices (see `macro_f1`)."""
    ids = np.arange(n_labels)
    pred_hit = p[None, :] == ids[:, None]          # (labels, examples)
    gold_hit = g[None, :] == ids[:, None]
    tp = (pred_hit & gold_hit).sum(axis=1)
    denom = pred_hit.sum(axis=1) + gold_hit.sum(axis=1)  # = 2TP + FP + FN
    f1 = np.divide(2 * tp, denom, out=np.zeros(len(ids)), where=denom > 0)
    return float(f1.mean()) if len(ids) else 0.0


# --- rating -------------------------------------------------------------------------------

def _gold_float(gold: str) -> float:
    try:
        value = float(gold.strip())
    except ValueError:
        raise DataError(f"gold rating {gold!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"gold rating {gold!r} is not a finite number")
    return value


def parse_rating(pred: str, gold: float) -> float:
    """``float(pred.strip())``; if that fails (or is nan/inf), the extreme 1 or 5 farthest from
    `gold` (official rule: 1 when |1 - gold| > |5 - gold|, else 5)."""
    try:
        value = float(pred.strip())
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return value
    return RATING_MIN if abs(RATING_MIN - gold) > abs(RATING_MAX - gold) else RATING_MAX


def abs_error_per_example(preds: Strs, golds: Strs, labels: Labels = None) -> list[float]:
    """|parse_rating(pred) - gold| per example."""
    out = []
    for p, g in zip(preds, golds, strict=True):
        gv = _gold_float(g)
        out.append(abs(parse_rating(p, gv) - gv))
    return out


def squared_error_per_example(preds: Strs, golds: Strs, labels: Labels = None) -> list[float]:
    """(parse_rating(pred) - gold)^2 per example."""
    return [e * e for e in abs_error_per_example(preds, golds)]


def mae(preds: Strs, golds: Strs, labels: Labels = None) -> float:
    """Mean absolute error: mean_i |pred_i - gold_i| (unparseable: worst extreme)."""
    return _mean(abs_error_per_example(preds, golds))


def rmse(preds: Strs, golds: Strs, labels: Labels = None) -> float:
    """Root mean squared error: sqrt(mean_i (pred_i - gold_i)^2) (unparseable: worst)."""
    return math.sqrt(_mean(squared_error_per_example(preds, golds)))


def rating_reward(pred: str, gold: str | float) -> float:
    """LaMP-3 feedback (paper section 4): (worst - |pred - gold|) / worst, where
    worst = max(|gold - 1|, |gold - 5|); unparseable predictions take the worst extreme (0).
    Not clipped: a prediction outside [1, 5] can score below 0."""
    gv = float(gold) if isinstance(gold, (int, float)) else _gold_float(gold)
    worst = max(abs(gv - RATING_MIN), abs(gv - RATING_MAX))
    return (worst - abs(parse_rating(pred, gv) - gv)) / worst


# --- generation ---------------------------------------------------------------------------

@cache
def _scorer() -> Any:
    from rouge_score import rouge_scorer
    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)


def _rouge_per_example(kind: str, preds: Strs, golds: Strs) -> list[float]:
    scorer = _scorer()
    return [scorer.score(g.strip(), p.strip())[kind].fmeasure
            for p, g in zip(preds, golds, strict=True)]


def rouge1_per_example(preds: Strs, golds: Strs, labels: Labels = None) -> list[float]:
    """ROUGE-1 F-measure per example: 2PR/(P+R) over unigram overlap (rouge_score)."""
    return _rouge_per_example("rouge1", preds, golds)


def rougeL_per_example(preds: Strs, golds: Strs, labels: Labels = None) -> list[float]:
    """ROUGE-L F-measure per example: from the longest common subsequence (rouge_score)."""
    return _rouge_per_example("rougeL", preds, golds)


def rouge1(preds: Strs, golds: Strs, labels: Labels = None) -> float:
    """Mean ROUGE-1 F-measure over examples."""
    return _mean(rouge1_per_example(preds, golds))


def rougeL(preds: Strs, golds: Strs, labels: Labels = None) -> float:
    """Mean ROUGE-L F-measure over examples."""
    return _mean(rougeL_per_example(preds, golds))


# --- table and task-level entry points ----------------------------------------------------

def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _sqrt_mean(units: Sequence[Any]) -> float:
    return math.sqrt(_mean(units))


def _f1_of_pairs(units: Sequence[Any]) -> float:
    """Macro-F1 of [pred, gold] index pairs. Labels never seen add 0 to every system's sum,
    so taking the set as the indices seen changes the value's scale, never a comparison."""
    pairs = np.asarray(units, dtype=int).reshape(-1, 2)
    n = int(pairs.max()) + 1 if pairs.size else 0
    return macro_f1_of_ids(pairs[:, 0], pairs[:, 1], n)


@dataclass(frozen=True)
class Metric:
    """Everything scoring, significance and reports need to know about one metric.

    - `corpus` / `per_example`: the value over a set and per example. For f1 the
      per-example values are correctness, for rmse squared errors: their means are not the
      metric (accuracy, mean squared error).
    - `lower_is_better`: the direction.
    - `test`: the paired significance test: ``t-test`` (per-example values add up),
      ``mcnemar`` (correctness), ``randomization`` (values that do not add up: f1, rmse).
    - `units` / `from_units`: what the randomization test shuffles between two systems,
      and the metric recomputed from them.
    """

    name: str
    corpus: Callable[[Strs, Strs, Labels], float] | None  # None: measured on the model
    per_example: Callable[[Strs, Strs, Labels], list[float]] | None
    lower_is_better: bool = False
    test: str = "t-test"
    units: Callable[[Strs, Strs, Labels], list[Any]] | None = None
    from_units: Callable[[Sequence[Any]], float] = _mean

    def __call__(self, preds: Strs, golds: Strs, labels: Labels = None) -> float:
        if self.corpus is None:
            raise ConfigError(f"{self.name} is measured on the model, not on predictions")
        return self.corpus(preds, golds, labels)

    def values(self, preds: Strs, golds: Strs, labels: Labels = None) -> list[float]:
        if self.per_example is None:
            raise ConfigError(f"{self.name} is measured on the model, not on predictions")
        return self.per_example(preds, golds, labels)

    def units_of(self, preds: Strs, golds: Strs, labels: Labels = None) -> list[Any]:
        return self.units(preds, golds, labels) if self.units else self.values(preds, golds, labels)


METRICS: dict[str, Metric] = {
    "accuracy": Metric("accuracy", accuracy, accuracy_per_example, test="mcnemar"),
    "f1": Metric("f1", macro_f1, accuracy_per_example, test="randomization",
                 units=label_pairs, from_units=_f1_of_pairs),
    "mae": Metric("mae", mae, abs_error_per_example, lower_is_better=True),
    "rmse": Metric("rmse", rmse, squared_error_per_example, lower_is_better=True,
                   test="randomization", from_units=_sqrt_mean),
    "rouge-1": Metric("rouge-1", rouge1, rouge1_per_example),
    "rouge-L": Metric("rouge-L", rougeL, rougeL_per_example),
    # Mean log-probability per token of the gold output given the prompt (teacher forcing):
    # recorded by `evaluate` for models that score text, not computed from predictions.
    "gold-loglik": Metric("gold-loglik", None, None),
}
GOLD_LOGLIK = "gold-loglik"
"""The one table of metric facts: scoring, significance and reports all read it."""

LOWER_IS_BETTER = frozenset(m for m, spec in METRICS.items() if spec.lower_is_better)


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[name]


def feedback(task: TaskSpec, pred: str, gold: str) -> float:
    """Per-item feedback for ROPG/RSPG with the task's `feedback_metric`, in [0, 1] for
    well-formed outputs (higher is better)."""
    kind = task.feedback_metric
    if kind == "rating_reward":
        return rating_reward(pred, gold)
    if kind == "accuracy":
        return accuracy_per_example([pred], [gold], task.labels)[0]
    return get_metric(kind).values([pred], [gold], task.labels)[0]


MISSING = ("error", "worst", "abstain")
"""A question without a prediction: an error, or the worst answer (``abstain`` scores as
``worst``; `pergen.evaluation.abstention` adds the metric over the answered questions)."""


def _aligned(golds: Mapping[str, str], preds: Mapping[str, str],
             missing: str) -> tuple[list[str], list[str]]:
    """Golds and predictions in golds order; extra prediction ids are ignored."""
    if missing not in MISSING:
        raise bad_choice("missing", missing, MISSING)
    if not golds:
        raise DataError("no gold answers to score")
    absent = [qid for qid in golds if qid not in preds]
    if absent and missing == "error":
        shown = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")
        raise ConfigError(f"{len(absent)} of {len(golds)} questions have no prediction: {shown}"
                          " (score them as wrong with {option}=worst)", option="missing")
    ids = list(golds)
    return [preds.get(qid, "") for qid in ids], [golds[qid] for qid in ids]


def score(task: TaskSpec, golds: Mapping[str, str], preds: Mapping[str, str],
          missing: str = "error") -> dict[str, float]:
    """Every metric of `task` over the ids of `golds`.

    A gold id without a prediction raises `ConfigError`, or with ``missing="worst"`` counts as
    the empty prediction (wrong; worst rating; ROUGE 0).
    """
    p, g = _aligned(golds, preds, missing)
    return {name: get_metric(name)(p, g, task.labels) for name in task.metrics}


def per_example(task: TaskSpec, golds: Mapping[str, str], preds: Mapping[str, str],
                missing: str = "error") -> dict[str, list[float]]:
    """Per-example values of every metric of `task`, aligned to the order of `golds`."""
    p, g = _aligned(golds, preds, missing)
    return {name: get_metric(name).values(p, g, task.labels) for name in task.metrics}


def units(task: TaskSpec, golds: Mapping[str, str], preds: Mapping[str, str]
          ) -> dict[str, list[Any]]:
    """What each metric's significance test pairs up, aligned to the order of `golds`."""
    p, g = _aligned(golds, preds, "worst")
    return {name: get_metric(name).units_of(p, g, task.labels) for name in task.metrics}

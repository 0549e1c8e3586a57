"""Abstention and selective prediction: answer only where the model is sure enough.

A run with a threshold T (``abstain_below``, or ``coverage`` C, which picks T on the run
itself as the confidence of its ceil(C n)-th most confident answer) treats every answer
whose confidence is below T, or missing, as unsure, and replaces it by the `fallback`:

- ``abstain``: no prediction is written. Scoring rule: the task metric over the answered
  questions, with their share (coverage), and the full-coverage metric, in which an
  abstained question counts as the worst answer (wrong label, worst rating, ROUGE 0):
  ``metrics.json`` and the significance tests use the latter, so a method cannot gain
  by abstaining;
- ``none``: the model's answer stays (the threshold only marks it);
- ``persona`` / ``global``: the question is answered again by the same retriever and
  model from the persona's or everyone's items (`pergen.memory.levels`);
- ``profile-prior``: the user's most frequent label or mean rating (label tasks).

`selective_figures` gives what `pergen score` and the report print, always about the
model's own answers ranked by their confidence: the task metrics at 50%, 80% and 100%
coverage (each the answered set of the threshold that coverage picks), the risk-coverage
curve and AURC of the first metric, and the ECE over 10 bins with its reliability bins.
Loss per question (`loss`): 1 - value for ROUGE and accuracy (f1 too: its per-question
value is correctness), the absolute or squared error for MAE / RMSE. Correctness for ECE
(`correctness`): right or wrong for labels, exact rating for MAE / RMSE, and ROUGE as a
graded value for generation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..baselines.priors import ProfilePrior
from ..baselines.votes import check_labelled
from ..data import lamp
from ..data.records import Question
from ..errors import ConfigError, DataError, bad_choice
from ..llm.base import Generator, Request
from ..run.folder import SETTINGS, RetrieverRun, slug
from ..run.storage import atomic_write_json
from ..tasks import TaskSpec
from . import selective
from .confidence import CONFIDENCES, unavailable
from .metrics import get_metric, per_example, score

FALLBACKS = ("abstain", "none", "persona", "global", "profile-prior")
REANSWER_LEVELS = ("persona", "global")  # fallbacks that ask the model again
COVERAGES = (0.5, 0.8, 1.0)
CONFIDENCE_FILE, SELECTIVE_FILE = "confidence.json", "selective.json"
Reanswer = Callable[[str, Sequence[str], str], dict[str, str]]
"""(retriever spec, question ids, level) -> the answers at that level."""


@dataclass(frozen=True)
class TrustOptions:
    """How answers get a confidence, and what happens below a threshold. Not part of a
    run's key: the answers do not depend on them, so a run can be re-thresholded (or its
    confidence measured) on resume without answering again."""

    confidence: str = "prob"
    abstain_below: float | None = None
    coverage: float | None = None
    fallback: str = "abstain"

    def __post_init__(self) -> None:
        if self.confidence not in CONFIDENCES:
            raise bad_choice("confidence", self.confidence, CONFIDENCES)
        if self.fallback not in FALLBACKS:
            raise bad_choice("fallback", self.fallback, FALLBACKS)
        t = self.abstain_below
        if t is not None and not (math.isfinite(t) and 0.0 <= t <= 1.0):
            raise ConfigError(f"{{option}} must be a confidence in [0, 1], got {t}",
                              option="abstain_below")
        c = self.coverage
        if c is not None and not (math.isfinite(c) and 0.0 < c <= 1.0):
            raise ConfigError(f"{{option}} must be a share in (0, 1], got {c}", option="coverage")
        if t is not None and c is not None:
            raise ConfigError("{option} picks the threshold on the run: give it or a fixed "
                              "threshold (abstain below), not both", option="coverage")
        if self.fallback != "abstain" and not self.abstains:
            raise ConfigError(f"{{option}} {self.fallback} needs a threshold: abstain below "
                              "one, or a coverage", option="fallback")
        if self.abstains and self.confidence == "none":
            raise ConfigError("{option} needs a confidence per answer; confidence none "
                              "measures none", option=self.option)

    @property
    def abstains(self) -> bool:
        return self.abstain_below is not None or self.coverage is not None

    @property
    def option(self) -> str:
        """The option that set the threshold (for error messages)."""
        return "coverage" if self.coverage is not None else "abstain_below"


def check_trust_fit(trust: TrustOptions, task: TaskSpec, model: Generator,
                    selectors: Collection[str] = ()) -> None:
    """What needs the task and the built model: abstention needs confidences the model
    can give; the prior fallback a labelled task; re-answering, no selectors."""
    if not trust.abstains:
        return
    why = unavailable(trust.confidence, model)
    if why:
        raise ConfigError(f"{{option}} needs a confidence per answer, and {why.split(':')[0]}",
                          option=trust.option)
    if trust.fallback == "profile-prior":
        try:
            check_labelled(task, "fallback profile-prior")
        except ConfigError as e:
            raise ConfigError(f"{{option}}: {e}", option="fallback") from None
    if trust.fallback in REANSWER_LEVELS and selectors:
        raise ConfigError(f"{{option}} {trust.fallback} re-answers with a retriever; selectors "
                          f"({', '.join(selectors)}) choose among runs: use abstain, none or "
                          "profile-prior", option="fallback")


def threshold(trust: TrustOptions, confidence: Mapping[str, float], ids: Sequence[str]) -> float:
    """The run's threshold: the fixed one, or the one that covers `trust.coverage`."""
    if trust.abstain_below is not None:
        return trust.abstain_below
    assert trust.coverage is not None
    return selective.threshold_for_coverage([confidence.get(q, 0.0) for q in ids], trust.coverage)


def apply(run: RetrieverRun, trust: TrustOptions, questions: Sequence[Question],
          task: TaskSpec, folder: Path, reanswer: Reanswer | None = None,
          prior: ProfilePrior | None = None) -> dict[str, Any]:
    """Threshold a run's answers and put the fallback in place; rewrites its
    ``predictions.json`` and records what was done under ``abstention`` in its
    ``run.json`` (removed when the run does not abstain). Returns that record."""
    path = folder / SETTINGS
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    ids = [q.id for q in questions]
    if not trust.abstains or not ids:
        if stored.pop("abstention", None) is not None:
            atomic_write_json(path, stored)
        return {}
    t = threshold(trust, run.confidence, ids)
    low = [q for q in questions if run.confidence.get(q.id, 0.0) < t]
    if trust.fallback == "abstain":
        run.abstained = [q.id for q in low]
        unsure = set(run.abstained)
        run.predictions = {k: v for k, v in run.predictions.items() if k not in unsure}
    elif trust.fallback == "profile-prior" and low:
        assert prior is not None
        answers = prior.generate([Request("", q.input, (), task, q.profile) for q in low], 1)
        run.predictions.update(zip([q.id for q in low], answers))
    elif trust.fallback in REANSWER_LEVELS and low:
        assert reanswer is not None
        run.predictions.update(reanswer(run.retriever, [q.id for q in low], trust.fallback))
    lamp.write_outputs(folder / "predictions.json", task.name, run.predictions)
    record = {"confidence": trust.confidence, "threshold": t,
              "threshold_from": (f"chosen on this run for coverage {trust.coverage}"
                                 if trust.coverage is not None else "fixed: abstain below"),
              "fallback": trust.fallback, "questions": len(ids), "below": len(low),
              "coverage": (len(ids) - len(low)) / len(ids)}
    stored["abstention"] = record
    atomic_write_json(path, stored)
    return record


def write_confidence(folder: Path, confidence: Mapping[str, float]) -> None:
    """``confidence.json`` {question_id: value}; removed when the run measured none."""
    path = folder / CONFIDENCE_FILE
    if confidence:
        atomic_write_json(path, dict(confidence))
    elif path.exists():
        path.unlink()


# --- scoring ------------------------------------------------------------------------------

def loss(metric: str, values: Sequence[float]) -> np.ndarray:
    """Per-question loss of a metric's per-example values (lower is better)."""
    v = np.asarray(values, dtype=np.float64)
    return v if get_metric(metric).lower_is_better else 1.0 - v


def correctness(metric: str, values: Sequence[float]) -> np.ndarray:
    """Per-question correctness in [0, 1] for the ECE: exact for errors, the value else."""
    v = np.asarray(values, dtype=np.float64)
    return (v == 0).astype(np.float64) if get_metric(metric).lower_is_better else v


def selective_figures(task: TaskSpec, golds: Mapping[str, str], answers: Mapping[str, str],
                      confidence: Mapping[str, float], answered: Collection[str] | None = None
                      ) -> dict[str, Any]:
    """The selective-prediction figures of `answers` ranked by `confidence`.

    A question without an answer counts as the worst answer; one without a confidence
    ranks last (0) and is left out of the ECE. `answered` (the questions a threshold kept,
    or those a predictions file answers) adds their coverage, the metrics over them, and
    the full-coverage metrics with every other question counted as worst.
    """
    ids = list(golds)
    metric = task.metrics[0]
    conf = np.array([confidence.get(q, 0.0) for q in ids])
    values = per_example(task, golds, answers, missing="worst")[metric]
    curve_cov, curve_risk = selective.risk_coverage(conf, loss(metric, values))
    known = np.array([q in confidence for q in ids])
    ok = correctness(metric, values)
    bins = selective.reliability(conf[known], ok[known])
    out: dict[str, Any] = {
        "metric": metric, "questions": len(ids), "missing_confidence": int((~known).sum()),
        "aurc": selective.aurc(conf, loss(metric, values)),
        "ece": selective.ece(conf[known], ok[known]) if known.any() else None,
        "mean_confidence": float(conf[known].mean()) if known.any() else None,
        "at_coverage": {}, "curve": {"coverage": curve_cov.tolist(), "risk": curve_risk.tolist()},
        "reliability": [asdict(b) for b in bins]}
    for c in COVERAGES:
        t = selective.threshold_for_coverage(conf, c)
        kept = [q for q, v in zip(ids, conf) if v >= t]
        out["at_coverage"][f"{c:g}"] = {"coverage": len(kept) / len(ids), "threshold": t,
                                        **_metrics(task, golds, answers, kept)}
    if answered is not None:
        kept = [q for q in ids if q in answered and q in answers]
        full = {q: answers[q] for q in kept}
        out["answered"] = {"coverage": len(kept) / len(ids), **_metrics(task, golds, answers, kept),
                           "full_coverage": _metrics(task, golds, full, ids)}
    return out


def _metrics(task: TaskSpec, golds: Mapping[str, str], answers: Mapping[str, str],
             ids: Sequence[str]) -> Mapping[str, float | None]:
    """The task's metrics over `ids` (an unanswered one: worst); None over no question."""
    if not ids:
        return {m: None for m in task.metrics}
    return score(task, {q: golds[q] for q in ids}, answers, missing="worst")


def settle(runs: Mapping[str, RetrieverRun], trust: TrustOptions, questions: Sequence[Question],
           everyone: Sequence[Question], task: TaskSpec, golds: Mapping[str, str] | None,
           out: Path, reanswer: Reanswer | None = None) -> dict[str, dict[str, Any]]:
    """Per run: ``confidence.json``, the threshold and fallback (`apply`), and with golds
    the selective figures of the model's own answers; all of it by run in
    ``OUT/selective.json`` (read by `pergen report`), which is also returned."""
    prior = None
    if trust.abstains and trust.fallback == "profile-prior":
        prior = ProfilePrior()
        prior.prepare(everyone, task)
    summary: dict[str, dict[str, Any]] = {}
    for spec, run in runs.items():
        folder = out / slug(spec)
        write_confidence(folder, run.confidence)
        own = dict(run.predictions)
        record = apply(run, trust, questions, task, folder, reanswer, prior)
        entry: dict[str, Any] = {"confidence": trust.confidence, "note": run.confidence_note}
        if record:
            entry["abstention"] = record
        if golds is not None and run.confidence:
            answered = ({q for q in own if run.confidence.get(q, 0.0) >= record["threshold"]}
                        if record else None)
            entry.update(selective_figures(task, golds, own, run.confidence, answered))
        summary[spec] = entry
    path = out / SELECTIVE_FILE
    if trust.confidence != "none":
        atomic_write_json(path, summary)
    elif path.exists():
        path.unlink()
    return summary


def load_confidence(path: str | Path) -> dict[str, float]:
    """A ``confidence.json`` {question_id: value in [0, 1]}; a bad entry names the file."""
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read confidences ({e})", file=str(path)) from None
    if not isinstance(found, dict):
        raise DataError("expected {question_id: confidence}", file=str(path))
    for qid, value in found.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0.0 <= value <= 1.0:
            raise DataError(f"confidence {value!r} is not a number in [0, 1]", file=str(path),
                            record=qid)
    return {k: float(v) for k, v in found.items()}


def score_predictions(task: TaskSpec, golds: Mapping[str, str], preds: Mapping[str, str],
                      confidence: Mapping[str, float] | None = None, missing: str = "error"
                      ) -> dict[str, Any]:
    """What `pergen score` prints beyond the metrics: ``metrics`` (full coverage; with
    `missing` ``abstain`` an unanswered question counts as the worst answer), under
    ``answered`` their coverage and the metrics over the answered questions, and with
    `confidence` the ``selective`` figures (see `selective_figures`)."""
    out: dict[str, Any] = {"metrics": score(task, golds, preds, missing=missing)}
    if missing == "abstain":
        kept = [q for q in golds if q in preds]
        out["answered"] = {"coverage": len(kept) / len(golds), **_metrics(task, golds, preds, kept)}
    if confidence is not None:
        out["selective"] = selective_figures(task, golds, preds, confidence)
    return out

"""The run folder `evaluate` writes, one sub-folder per retriever (or selector):

- ``run.json``: the settings; resuming with other settings is refused instead of mixing
  stale answers with new ones;
- ``journal.jsonl``: finished questions (answer, prompt, retrieved ids), append-only, so an
  interrupted run resumes where it stopped;
- ``predictions.json`` (LaMP outputs format) and ``scores.json`` (per-example metrics);
- ``confidence.json`` {question: confidence in [0, 1]}, where the model gives one
  (`pergen.evaluation.confidence`); a threshold and fallback go under ``abstention`` in ``run.json``;

and at the top ``metrics.json``, ``significance.json``, ``table.md``, ``selective.json``
(coverage, AURC, ECE per retriever: `pergen.evaluation.abstention`) and, when selectors ran,
``selection.json``. Every result file is written atomically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..registry import Spec
from .storage import Journal, atomic_write_json

JOURNAL, SETTINGS, SELECTION, WARNINGS = "journal.jsonl", "run.json", "selection.json", "warnings.json"
DEGENERATE_SHARE = 0.9
"""A run where one answer covers at least this share of the questions gets a warning."""


@dataclass
class RetrieverRun:
    """What one retriever produced: answers, per-example scores, metrics and timings."""

    retriever: str
    predictions: dict[str, str]
    per_example: dict[str, list[float]] = field(default_factory=dict)
    units: dict[str, list[Any]] = field(default_factory=dict)  # what significance tests pair
    gold_loglik: dict[str, float] = field(default_factory=dict)  # question -> mean per token
    confidence: dict[str, float] = field(default_factory=dict)  # question -> [0, 1], if measured
    confidence_note: str | None = None  # why there is no confidence, or replies not parsed
    abstained: list[str] = field(default_factory=list)  # questions left without a prediction
    warning: str | None = None  # one answer to (nearly) everything: see `degenerate`
    metrics: dict[str, float] = field(default_factory=dict)
    llm_seconds: float = 0.0
    total_seconds: float = 0.0
    answered: int = 0  # questions this call asked the model (a resumed run skips the rest)


def degenerate(predictions: dict[str, str], share: float = DEGENERATE_SHARE) -> str | None:
    """A warning when one answer covers at least `share` of the questions (a small model
    answering "[1]" or "4" to everything), else None: such a run measures a prior, not the
    method, and its metric is easy to misread."""
    if len(predictions) < 2:
        return None
    counts: dict[str, int] = {}
    for p in predictions.values():
        counts[p.strip()] = counts.get(p.strip(), 0) + 1
    answer, n = max(counts.items(), key=lambda kv: kv[1])
    if n / len(predictions) < share:
        return None
    return (f"one answer, {answer!r}, covers {n / len(predictions):.0%} of the "
            f"{len(predictions)} questions: this run measures that answer, not the method")


def write_warnings(run_dir: Path, warnings: dict[str, str]) -> None:
    """``warnings.json`` {retriever: message}, read by the report; removed when none."""
    path = run_dir / WARNINGS
    if warnings:
        atomic_write_json(path, warnings)
    elif path.exists():
        path.unlink()


def slug(spec: str) -> str:
    """A folder name for a retriever spec (`dense:/x/y` -> `dense_y`)."""
    parsed = Spec.parse(spec)
    name, arg = parsed.name, parsed.arg
    if arg:
        arg = Path(arg).name if ("/" in arg or "\\" in arg) else arg
        name = f"{name}_{arg}"
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)[:80] or "retriever"


def claim(folder: Path, retriever: str, settings: dict[str, Any]) -> Journal:
    """The folder's journal, once its ``run.json`` holds these settings (written if new)."""
    path = folder / SETTINGS
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"corrupt run settings ({e}); delete the folder to start over",
                            file=str(path)) from None
        if stored.get("settings") != settings or stored.get("retriever") != retriever:
            raise ConfigError(f"{folder} holds a run with other settings "
                              f"({stored.get('settings')}); use another {{option}} folder or "
                              "delete it", option="out_dir")
    else:
        atomic_write_json(path, {"retriever": retriever, "settings": settings})
    return Journal(folder / JOURNAL)


def add_usage(folder: Path, before: dict[str, int], after: dict[str, int]) -> None:
    """Add the tokens a server reported for this run (after - before) to ``run.json``'s
    ``usage``, summed over resumed sessions; nothing for models that count none."""
    spent = {k: after[k] - before.get(k, 0) for k in after}
    path = folder / SETTINGS
    if not any(spent.values()) or not path.exists():
        return
    stored = json.loads(path.read_text(encoding="utf-8"))
    usage = stored.get("usage") or {}
    stored["usage"] = {k: int(usage.get(k, 0)) + v for k, v in spent.items()}
    atomic_write_json(path, stored)


def journal(run_dir: Path, spec: str) -> dict[str, dict[str, Any]]:
    """The finished records (prompt, output, retrieved ids) of a retriever's run."""
    return Journal(run_dir / slug(spec) / JOURNAL).read()


def write_scores(folder: Path, run: RetrieverRun, ids: list[str]) -> None:
    """``scores.json``: per question, each metric's value, and under ``units`` the test
    units of the metrics whose units are not their values (f1's label pairs)."""
    own = {m: u for m, u in run.units.items() if u != run.per_example.get(m)}
    rows: dict[str, dict[str, Any]] = {}
    for i, qid in enumerate(ids):
        rows[qid] = {m: vals[i] for m, vals in run.per_example.items()}
        if own:
            rows[qid]["units"] = {m: u[i] for m, u in own.items()}
    atomic_write_json(folder / "scores.json", rows)


def add_selection(run_dir: Path, name: str, choices: dict[str, str]) -> None:
    """Record a selector's per-question choices in ``RUN_DIR/selection.json`` (read by
    `pergen report` for success rates), keeping the other selectors' entries."""
    path = run_dir / SELECTION
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    stored.setdefault("selectors", {})[name] = choices
    atomic_write_json(path, stored)

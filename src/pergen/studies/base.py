"""The study interface and registry: a new study is one module and its registration.

A study runs ordinary, resumable `evaluate` runs under one folder and writes what it
finds about them. Built-ins: ``cold-start`` (`coldstart.sweep`), ``swap``
(`swap.swap_study`) and ``findings`` (`findings.findings`); third-party packages add more
through the ``pergen.studies`` entry-point group. `run_study` and ``pergen study NAME``
run any of them with a `RunConfig` and the study's own options.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..registry import Registry, Spec
from ..run.config import RunConfig


@runtime_checkable
class Study(Protocol):
    """Runs on a split into `out_dir` with a run configuration; returns its result."""

    def __call__(self, data_dir: str | Path, split: str, out_dir: str | Path,
                 config: RunConfig, **options: Any) -> Any: ...


@dataclass(frozen=True)
class StudyFacts:
    """What pergen knows of a study before running it."""

    summary: str = ""  # one line for help texts


STUDIES: Registry[Study, StudyFacts] = Registry("study", "pergen.studies", StudyFacts)


def _lazy(module: str, function: str) -> Callable[..., Study]:
    """A factory that imports the study's module only when it runs."""
    def factory() -> Study:
        study: Study = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        return study
    return factory


STUDIES.register("cold-start", summary="metric against profile size, per level")(
    _lazy("coldstart", "study"))
STUDIES.register("swap", summary="another user's profile in place of the user's own")(
    _lazy("swap", "study"))
STUDIES.register("findings", summary="the research notes' claims as paired experiments")(
    _lazy("findings", "study"))


def run_study(name: str, data_dir: str | Path, split: str, out_dir: str | Path,
              config: RunConfig | None = None, **options: Any) -> Any:
    """Run the study registered as `name`; `options` are its own (``seed=``, ``bins=``...)
    and the run's (``task=``, ``limit=``, ``progress=``)."""
    study = STUDIES.create(Spec(name))
    return study(data_dir, split, out_dir, config or RunConfig(), **options)

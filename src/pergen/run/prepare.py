"""The shared prologue of every job over a split: `prepare_run`.

`evaluate`, `feedback`, the swap study and the findings all start the same way: check the
split, resolve the task, load the questions and their golds, build the model, resolve the
label mode for that task and model, and check that they fit. Written once here, so that a
check added for one job holds for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..data.records import Question
from ..data.splits import check_split, golds_for, load_split, resolve_task
from ..errors import ConfigError
from ..llm import get_model
from ..llm.base import Generator
from ..tasks import TaskSpec
from .config import RunConfig
from .settings import EvalSettings, check_task_fit, label_mode_for


@dataclass(frozen=True)
class PreparedRun:
    """A split ready to run: its task, questions and golds, the model, and the settings
    that decide every answer (the run's key)."""

    task: TaskSpec
    questions: list[Question]
    golds: dict[str, str] | None
    model: Generator
    settings: EvalSettings


def prepare_run(data_dir: str | Path, split: str, config: RunConfig,
                task: str | TaskSpec | None = None, limit: int | None = None,
                golds_needed: str | None = None, resolve_label_mode: bool = True
                ) -> PreparedRun:
    """Check and load everything a job over a split needs, before any file is written.

    `golds_needed` (why the job needs gold outputs) turns a split without an outputs file
    into an error naming the split; `resolve_label_mode` False keeps ``auto`` as given
    (a study whose runs resolve it themselves).
    """
    check_split(data_dir, split)
    spec = resolve_task(data_dir, split, task)
    questions = load_split(data_dir, split, limit, task=spec)
    golds = golds_for(data_dir, split, questions)
    if golds is None and golds_needed:
        raise ConfigError(f"{{option}} {split} has no outputs file: {golds_needed}",
                          option="split")
    model = config.model.model
    generator = get_model(model) if isinstance(model, str) else model
    settings = config.draft(spec.name, generator.name)
    if settings.prompt_style == "auto":  # the task file's style
        settings = replace(settings, prompt_style=spec.prompt_style)
    if resolve_label_mode:
        settings = replace(settings, label_mode=label_mode_for(settings.label_mode, spec,
                                                               generator))
    check_task_fit(spec, generator, settings)
    return PreparedRun(spec, questions, golds, generator, settings)

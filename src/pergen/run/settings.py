"""A run's settings, checked in one place before any data is read or any file written.

`evaluate`, `feedback` and `rank` take the same settings (task, retriever specs, model
spec, label mode, profile view and position, k, token budget). A bad value costs nothing
here: the error names the option, the value and the accepted ones, and the run folder is
not created. Checks that need the task or the built model (a view the task cannot show,
a label mode the model cannot serve) run right after those are known, still before any
file is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..baselines.priors import check_labelled
from ..errors import ConfigError, bad_choice
from ..llm.base import MODELS, Generator, can_score, is_llm
from ..memory.levels import LevelOptions
from ..prompts.templates import PromptOptions
from ..registry import RetrieverFacts, SelectorFacts, Spec
from ..retrievers import RETRIEVERS
from ..rspg.selectors import SELECTORS
from ..tasks import TaskSpec
from ..tasks.rating import check_rating, is_rating

LABEL_MODES = ("auto", "generate", "choose", "calibrate", "prior", "expected", "fused")
SCORED_MODES = ("choose", "calibrate", "prior", "expected", "fused")  # models that score labels
PRIOR_MODES = ("prior", "expected")  # add the user's own label distribution to the scores
AUTO_RATING_MODE = "expected"
"""What ``auto`` runs on a rating task whose model scores labels. Measured on a LaMP-3-style
set (bench/RESULTS.md, "Rating task"): the most likely rating (choose) answered one rating
to nearly every question and lost to each user's mean rating; this one did not."""
AUTO_LABEL_MODE = "calibrate"
"""What ``auto`` runs on other labelled tasks whose model scores labels (bench/RESULTS.md,
"Engines and the default model": on the tweets, choose answered "[1]" to 92-100%)."""
LATER_FIELDS = (*(f.name for f in fields(LevelOptions)), "memory", "summarizer",
                "summary_tokens", "prior_strength", "prompt_style")
"""Settings added after 0.1: left out of a run's key at their defaults, so that older
run folders still resume."""
MEMORIES = ("items", "summary", "summary+items")
SUMMARIZERS = ("llm", "stats")


@dataclass(frozen=True)
class EvalSettings:
    """Everything that decides an answer; a resumed run must match it exactly.

    Built = validated: a bad label mode, view, position, k or budget raises here.
    """

    task: str
    model: str
    k: int = 4
    max_length: int = 512
    view: str = "full"
    position: str = "before"
    with_date: bool = False
    label_mode: str = "auto"
    max_new_tokens: int | None = None
    # Added after 0.1: left out of `key()` at their defaults, so older runs still resume.
    # The level options' defaults are LevelOptions' own (one place for them).
    level: str = LevelOptions.level
    persona_k: int = LevelOptions.persona_k
    personas: int | None = LevelOptions.personas
    persona_select: str = LevelOptions.persona_select
    min_profile: int = LevelOptions.min_profile
    profile_cap: int | None = LevelOptions.profile_cap
    memory: str = "items"
    summarizer: str = "stats"
    summary_tokens: int = 96
    prior_strength: float = 1.0
    prompt_style: str = "paper"

    def __post_init__(self) -> None:
        if self.label_mode not in LABEL_MODES:
            raise bad_choice("label_mode", self.label_mode, LABEL_MODES)
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError(f"{{option}} must be >= 1, got {self.max_new_tokens}",
                              option="max_new_tokens")
        self.prompt_options()
        self.levels()
        if self.memory not in MEMORIES:
            raise bad_choice("memory", self.memory, MEMORIES)
        if self.summarizer not in SUMMARIZERS:
            raise bad_choice("summarizer", self.summarizer, SUMMARIZERS)
        if self.summary_tokens < 8:
            raise ConfigError(f"{{option}} must be >= 8, got {self.summary_tokens}",
                              option="summary_tokens")

    def levels(self) -> LevelOptions:
        return LevelOptions(level=self.level, persona_k=self.persona_k, personas=self.personas,
                            persona_select=self.persona_select, min_profile=self.min_profile,
                            profile_cap=self.profile_cap)

    def key(self) -> dict[str, Any]:
        """The settings as stored in ``run.json`` and feedback digests."""
        defaults = {f.name: f.default for f in fields(self)}
        return {k: v for k, v in asdict(self).items()
                if k not in LATER_FIELDS or v != defaults[k]}

    def prompt_options(self) -> PromptOptions:
        return PromptOptions(k=self.k, max_length=self.max_length, view=self.view,
                             position=self.position, prompt_style=self.prompt_style)


def label_mode_for(mode: str, task: TaskSpec, model: Generator) -> str:
    """The label mode a run uses. Where the model scores labels, ``auto`` becomes
    `AUTO_RATING_MODE` on a rating task and `AUTO_LABEL_MODE` on any other labelled task;
    elsewhere it stays ``auto`` (generation). Both were chosen by measurement (bench/
    RESULTS.md): the most likely label (``choose``) answered one label to 92-100% of the
    tweet questions with both embedded models, and the rating it picked to all. A run's
    ``run.json`` records the mode it used."""
    if mode == "auto" and task.labels and can_score(model):
        return AUTO_RATING_MODE if is_rating(task) else AUTO_LABEL_MODE
    return mode


def check_retrievers(specs: Iterable[str | Spec], option: str = "retrievers",
                     selectors: bool = True) -> list[str]:
    """The specs, deduplicated in order, once every name is known (retrievers, and
    selectors when allowed); fusion parts and trained-model folders are checked too."""
    out = list(dict.fromkeys(str(s) for s in specs))
    if not out:
        raise ConfigError("{option} needs at least one retriever", option=option)
    for spec in out:
        _check_retriever(Spec.parse(spec), option, selectors)
    return out


def _check_retriever(spec: Spec, option: str, selectors: bool) -> None:
    known = RETRIEVERS.names() + (SELECTORS.names() if selectors else [])
    if spec.name not in known:
        raise bad_choice(option, str(spec), known)
    if spec.name in RETRIEVERS:
        facts: RetrieverFacts | SelectorFacts = RETRIEVERS.facts(spec)
        fuses = RETRIEVERS.facts(spec).fuses
    else:
        facts, fuses = SELECTORS.facts(spec), None
    for part in spec.parts(fuses) if fuses is not None else ():
        if part.name not in RETRIEVERS:
            raise bad_choice(option, str(spec), RETRIEVERS.names(),
                             f" (its part {str(part)!r} is no retriever)")
        _check_retriever(part, option, selectors=False)
    if facts.folder:
        if not spec.arg:
            raise ConfigError(f"{{option}} {spec.name} needs the trained model's folder: "
                              f"{spec.name}:FOLDER", option=option)
        if not Path(spec.arg).is_dir():
            raise ConfigError(f"{{option}} {str(spec)!r}: no such folder {spec.arg}",
                              option=option)


def check_model(spec: str | Generator, option: str = "model") -> None:
    """Refuse an unknown model name before anything loads (a model spec names its backend)."""
    if isinstance(spec, str):
        MODELS.check(spec, option)


def check_task_fit(task: TaskSpec, model: Generator, settings: EvalSettings) -> None:
    """What needs the task and the built model: the profile view the task can show, the
    label mode the model can serve, and the model's own task check (vote baselines)."""
    settings.prompt_options().check_task(task)
    scores = bool(task.labels) and can_score(model)
    if settings.label_mode in SCORED_MODES and not scores:
        why = "the task has no labels" if not task.labels else f"{model.name} cannot score labels"
        raise ConfigError(f"{{option}} {settings.label_mode} needs a task with labels and a "
                          f"model that scores them: {why}; use generate", option="label_mode")
    if settings.label_mode in PRIOR_MODES:
        check_labelled(task, f"label mode {settings.label_mode}")
    if settings.label_mode == "expected":
        check_rating(task)
    try:
        model.check_task(task)
    except ConfigError as e:  # the model's own refusal: say which option chose it
        if e.option is not None:
            raise
        raise ConfigError(f"{{option}} {model.name}: {e}", option="model") from None
    if settings.memory != "items" and settings.summarizer == "llm" and not is_llm(model):
        raise ConfigError(f"{{option}} llm needs an LLM to write the summaries; {model.name} "
                          "is not one: use stats", option="summarizer")

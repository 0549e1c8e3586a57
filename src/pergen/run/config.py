"""One typed run configuration, built and validated once, from the CLI, Python or HTTP.

A `RunConfig` is composed of the parts each layer reads: what retrieves
(`RetrievalConfig`), how the prompt shows the profile (`PromptOptions`), which model
answers and how (`ModelConfig`), what the prompt remembers of the user (`MemoryConfig`),
whose items form the profile (`LevelOptions`) and how far answers are trusted
(`TrustOptions`). Building one validates every part (a bad value names its option and
the accepted ones), so a run fails before any data is read or any file is written.

Flat keyword options (``k=2``, ``level="global"``) map to their part by field name, so
each option is declared once, on its part; `RunConfig.build` and `RunConfig.replace`
take them. ``OUT/config.json`` holds the configuration a run was started with
(`to_json` / `from_json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from ..errors import ConfigError
from ..evaluation.abstention import TrustOptions
from ..llm import DEFAULT_MODEL
from ..llm.base import Generator
from ..memory.levels import LevelOptions
from ..prompts import PromptOptions
from .settings import EvalSettings, check_model, check_retrievers


@dataclass(frozen=True)
class RetrievalConfig:
    """The retrievers (and selectors) to run, and what the significance marks compare to."""

    retrievers: tuple[str, ...] = ("none", "bm25")
    with_date: bool = False
    baseline: str = "none"
    references: bool = True  # the no-LLM references beside the methods (`run.references`)

    def __post_init__(self) -> None:
        object.__setattr__(self, "retrievers", tuple(check_retrievers(self.retrievers)))


@dataclass(frozen=True)
class ModelConfig:
    """Which model answers, and how labels and gold likelihoods are read from it."""

    model: str | Generator = DEFAULT_MODEL
    label_mode: str = "auto"
    max_new_tokens: int | None = None
    prior_strength: float = 1.0
    batch_size: int = 8
    gold_loglik: bool = True
    fuse_train: int = 200  # label mode fused: train questions its weights are fitted on

    def __post_init__(self) -> None:
        check_model(self.model)
        if self.fuse_train < 10:
            raise ConfigError(f"{{option}} must be >= 10, got {self.fuse_train}",
                              option="fuse_train")
        if self.batch_size < 1:
            raise ConfigError(f"{{option}} must be >= 1, got {self.batch_size}",
                              option="batch_size")


@dataclass(frozen=True)
class MemoryConfig:
    """Items, a summary of the user, or both; and where summaries are cached."""

    memory: str = "items"
    summarizer: str = "stats"
    summary_tokens: int = 96
    summaries_dir: str | Path | None = None


PARTS = ("retrieval", "prompt", "model", "memory", "levels", "trust")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run is configured with; built = validated."""

    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    prompt: PromptOptions = field(default_factory=PromptOptions)
    model: ModelConfig = field(default_factory=ModelConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    levels: LevelOptions = field(default_factory=LevelOptions)
    trust: TrustOptions = field(default_factory=TrustOptions)

    def __post_init__(self) -> None:
        self.draft()  # the cross-part checks (label mode, memory, summary budget)

    @classmethod
    def build(cls, **options: Any) -> RunConfig:
        """A configuration from flat options (``k=2, level="global"``); the rest default."""
        return cls().replace(**options)

    def replace(self, **options: Any) -> RunConfig:
        """A copy with these flat options changed; an unknown option is an error."""
        by_part: dict[str, dict[str, Any]] = {}
        for name, value in options.items():
            by_part.setdefault(_part_of(name), {})[name] = value
        if "retrievers" in by_part.get("retrieval", {}):
            by_part["retrieval"]["retrievers"] = tuple(by_part["retrieval"]["retrievers"])
        return replace(self, **{p: replace(getattr(self, p), **o) for p, o in by_part.items()})

    def options(self) -> dict[str, Any]:
        """The flat options (`build(**config.options())` gives the same configuration)."""
        return {f.name: getattr(getattr(self, p), f.name)
                for p in PARTS for f in fields(getattr(self, p))}

    def draft(self, task: str = "", model: str = "") -> EvalSettings:
        """The answer-deciding settings (a run's key in ``run.json``), before the label
        mode is resolved for a task and model."""
        m, p, lv, mem = self.model, self.prompt, self.levels, self.memory
        return EvalSettings(
            task=task, model=model, k=p.k, max_length=p.max_length, view=p.view,
            position=p.position, with_date=self.retrieval.with_date, label_mode=m.label_mode,
            max_new_tokens=m.max_new_tokens, level=lv.level, persona_k=lv.persona_k,
            personas=lv.personas, persona_select=lv.persona_select, min_profile=lv.min_profile,
            profile_cap=lv.profile_cap, memory=mem.memory, summarizer=mem.summarizer,
            summary_tokens=mem.summary_tokens, prior_strength=m.prior_strength,
            prompt_style=p.prompt_style)

    def to_json(self) -> dict[str, Any]:
        """The configuration as JSON parts; a model object is stored by its name."""
        out = {p: {f.name: getattr(getattr(self, p), f.name) for f in fields(getattr(self, p))}
               for p in PARTS}
        model = self.model.model
        out["model"]["model"] = model if isinstance(model, str) else model.name
        out["retrieval"]["retrievers"] = list(self.retrieval.retrievers)
        if out["memory"]["summaries_dir"] is not None:
            out["memory"]["summaries_dir"] = str(out["memory"]["summaries_dir"])
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        return cls.build(**{k: v for part in PARTS for k, v in data.get(part, {}).items()})


def _fields_of(part: str) -> set[str]:
    return {f.name for f in fields(get_type_hints(RunConfig)[part])}


def _part_of(option: str) -> str:
    for part in PARTS:
        if option in _fields_of(part):
            return part
    known = sorted(o for p in PARTS for o in _fields_of(p))
    raise ConfigError(f"unknown run option {option!r}; known: {', '.join(known)}")

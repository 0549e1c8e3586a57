"""Name -> factory registries, with each component's facts, and the parsed `Spec`.

Built-ins register here the same way third-party packages do through the entry-point
groups ``pergen.retrievers``, ``pergen.models`` and ``pergen.selectors``. A component
declares its facts where it registers (``@RETRIEVERS.register("dense", dense=True)``):
whether its argument is a folder, its batch options, whether it is an LLM... They are
read through the registry (``RETRIEVERS.facts("dense").dense``), so no list of names
beside the registry can drift from it. An unknown name raises an error listing the
known ones.

A spec is parsed once into a `Spec` (``name`` or ``name:argument``); nothing downstream
splits spec strings again.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from .errors import MissingExtraError, bad_choice

T = TypeVar("T")
F = TypeVar("F")


@dataclass(frozen=True)
class Spec:
    """A component spec parsed once: ``name`` or ``name:argument``.

    The argument is everything after the first colon, so a path or URL with colons
    stays whole (``openai:m@http://host:8000/v1``).
    """

    name: str
    arg: str = ""

    @classmethod
    def parse(cls, text: str | Spec) -> Spec:
        if isinstance(text, Spec):
            return text
        name, _, arg = text.partition(":")
        return cls(name, arg)

    def parts(self, default: str = "") -> tuple[Spec, ...]:
        """The specs an argument ``a+b+c`` lists (fusion, selector pools)."""
        text = self.arg or default
        return tuple(Spec.parse(p) for p in text.split("+")) if text else ()

    def __str__(self) -> str:
        return f"{self.name}:{self.arg}" if self.arg else self.name


@dataclass(frozen=True)
class RetrieverFacts:
    """What pergen knows of a retriever before building it."""

    folder: bool = False  # the argument is a trained model's folder, and required
    dense: bool = False  # ranks by encoder vectors (the service stores them per item)
    fuses: str | None = None  # the argument lists other retrievers; this is the default list
    batch_options: Mapping[str, Any] = field(default_factory=dict)  # for batch jobs over files


@dataclass(frozen=True)
class ModelFacts:
    """What pergen knows of a model backend before loading it."""

    llm: bool = True  # writes text (a summary, a verbal confidence); False: a no-LLM baseline
    local: bool = False  # runs local weights: takes ``device``
    vote: bool = False  # a profile vote: takes the items per vote (``--vote-k``) as argument
    small: str | None = None  # a small model's full name: reports say results are a small model's
    extra: str | None = None  # the pergen extra that installs what it needs
    reference: str | None = None  # a no-LLM reference every run shows, with this retriever,
    reference_kinds: tuple[str, ...] = ()  # on tasks of these kinds (`TaskSpec.kind`)


@dataclass(frozen=True)
class SelectorFacts:
    """What pergen knows of a retriever selector before building it."""

    folder: bool = False  # the argument is a trained selector's folder, and required


@dataclass(frozen=True)
class _Entry(Generic[T, F]):
    factory: Callable[..., T]
    facts: F


class Registry(Generic[T, F]):
    """Factories by short name, each with its facts (an instance of `facts_type`)."""

    def __init__(self, kind: str, group: str, facts_type: Callable[..., F]) -> None:
        self.kind, self.group, self.facts_type = kind, group, facts_type
        self._entries: dict[str, _Entry[T, F]] = {}
        self._plugins_loaded = False

    def register(self, name: str, **facts: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Register a factory under `name` with its facts. A name declared lazily keeps the
        facts it was declared with (the module that fills it in need not repeat them)."""
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            old = self._entries.get(name)
            known = replace(old.facts, **facts) if old else self.facts_type(**facts)  # type: ignore[type-var]
            self._entries[name] = _Entry(factory, known)
            return factory
        return deco

    def register_lazy(self, name: str, module: str, package: str, extra: str,
                      **facts: Any) -> None:
        """Declare `name`, whose `module` registers the real factory when first asked for:
        importing torch or llama.cpp takes seconds, and a missing one names its extra."""
        def stub(*args: str, **options: Any) -> T:
            try:
                importlib.import_module(module)  # replaces this stub
            except MissingExtraError:
                raise
            except ImportError as e:
                raise MissingExtraError(package, extra) from e
            return self.create(Spec(name, args[0] if args else ""), **options)
        self.register(name, extra=extra, **facts)(stub)

    def unregister(self, name: str) -> None:
        """Forget `name` (a test's or a plugin's own component, when it is done)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.group):
            ep.load()  # importing the module registers its factories

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def _entry(self, spec: str | Spec, option: str | None = None) -> _Entry[T, F]:
        parsed = Spec.parse(spec)
        self._load_plugins()
        entry = self._entries.get(parsed.name)
        if entry is None:
            raise bad_choice(option or self.kind, str(spec), self.names(), f" ({self.kind} name)")
        return entry

    def check(self, spec: str | Spec, option: str | None = None) -> Callable[..., T]:
        """The factory of a spec's name; an unknown name names the option and the known ones."""
        return self._entry(spec, option).factory

    def facts(self, spec: str | Spec, option: str | None = None) -> F:
        """The registered facts of a spec's component."""
        return self._entry(spec, option).facts

    def create(self, spec: str | Spec, **options: object) -> T:
        """Build from ``name`` or ``name:argument``; the argument goes to the factory."""
        parsed = Spec.parse(spec)
        factory = self.check(parsed)
        return factory(parsed.arg, **options) if parsed.arg else factory(**options)

"""Name -> factory registries for retrievers and LLM backends.

Built-ins register here the same way third-party packages do through the entry-point
groups ``pergen.retrievers`` and ``pergen.models``. An unknown name raises an error that
lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Factories by short name. A spec is ``name`` or ``name:argument``."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind, self.group = kind, group
        self._factories: dict[str, Callable[..., T]] = {}
        self._plugins_loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory
        return deco

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._factories)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.group):
            ep.load()  # importing the module registers its factories

    def create(self, spec: str, **options: object) -> T:
        """Build from ``name`` or ``name:argument``; the argument goes to the factory."""
        name, _, arg = spec.partition(":")
        self._load_plugins()
        factory = self._factories.get(name)
        if factory is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return factory(arg, **options) if arg else factory(**options)

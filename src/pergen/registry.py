"""Name -> factory registries for retrievers and LLM backends.

Built-ins register here the same way third-party packages do through the entry-point
groups ``pergen.retrievers`` and ``pergen.models``. An unknown name raises an error that
lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from .errors import bad_choice

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

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def check(self, spec: str, option: str | None = None) -> Callable[..., T]:
        """The factory of a spec's name; an unknown name names the option and the known ones."""
        name = spec.partition(":")[0]
        self._load_plugins()
        factory = self._factories.get(name)
        if factory is None:
            raise bad_choice(option or self.kind, spec, self.names(), f" ({self.kind} name)")
        return factory

    def create(self, spec: str, **options: object) -> T:
        """Build from ``name`` or ``name:argument``; the argument goes to the factory."""
        factory = self.check(spec)
        arg = spec.partition(":")[2]
        return factory(arg, **options) if arg else factory(**options)

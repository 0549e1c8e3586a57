"""Retriever selectors by name: pick, per question, one retriever of a pool.

Built-ins: ``rspg-pre:FOLDER`` / ``rspg-post:FOLDER`` (trained RSPG selectors, Salemi et al.
SIGIR 2024 section 5) and the unsupervised QPP baselines ``qpp-wig``, ``qpp-nqc``,
``qpp-sigma_max``, ``qpp-sigma_x`` (optionally ``:a+b+c``, the pool). Third-party packages
add more through the ``pergen.selectors`` entry-point group. A selector has a ``pool`` (the
retriever specs it chooses among) and ``select(ctx) -> {question_id: spec}``; `evaluate`
runs the pool and reuses the chosen retriever's answer.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ..registry import Registry, SelectorFacts
from . import DEFAULT_POOL

__all__ = ["DEFAULT_POOL", "SELECTORS", "Selector", "get_selector"]


@runtime_checkable
class Selector(Protocol):
    pool: list[str]

    def select(self, ctx: Any) -> dict[str, str]:
        """The chosen pool retriever of every question of a `SelectionContext`."""
        ...


SELECTORS: Registry[Selector, SelectorFacts] = Registry("selector", "pergen.selectors",
                                                     SelectorFacts)


def get_selector(spec: str) -> Selector:
    return SELECTORS.create(spec)


def _rspg(mode: str) -> Any:
    def factory(folder: str = "") -> Selector:
        from .selector import Selector as RSPGSelector  # torch: only when asked for
        if not folder:
            raise ConfigError(f"rspg-{mode} needs the trained selector's folder: "
                              f"rspg-{mode}:FOLDER")
        selector = RSPGSelector.load(folder)
        if selector.mode != mode:
            raise ConfigError(f"{folder} holds an RSPG-{selector.mode} selector, not rspg-{mode}")
        return selector
    return factory


def _qpp(predictor: str) -> Any:
    def factory(pool: str = "") -> Selector:
        from .baselines import QPPSelector
        return QPPSelector(predictor, pool.split("+") if pool else list(DEFAULT_POOL))
    return factory


for _mode in ("pre", "post"):
    SELECTORS.register(f"rspg-{_mode}", folder=True)(_rspg(_mode))
for _name, _predictor in (("wig", "wig"), ("nqc", "nqc"), ("sigma_max", "sigma_max"),
                          ("sigma_x", "sigma_x%")):
    SELECTORS.register(f"qpp-{_name}")(_qpp(_predictor))

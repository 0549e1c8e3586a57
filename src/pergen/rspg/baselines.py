"""Unsupervised retriever selectors: pick, per input, the retriever whose ranking a
query-performance predictor (WIG, NQC, sigma_max, sigma_x%) rates highest.

Used in `evaluate` as ``--retriever qpp-wig[:none+recency+bm25+dense]``: like RSPG, the
chosen retriever's answer is taken from the pool's own runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..retrievers import rank_many
from .context import SelectionContext
from .qpp import reciprocal_rank_scores, select_by_qpp

SPEC_NAMES = {"qpp-wig": "wig", "qpp-nqc": "nqc", "qpp-sigma_max": "sigma_max",
              "qpp-sigma_x": "sigma_x%"}


@dataclass
class QPPSelector:
    """Selects by `predictor` over the rankings of `pool`."""

    predictor: str
    pool: list[str]

    def select(self, ctx: SelectionContext) -> dict[str, str]:
        requests = ctx.rank_requests()
        ranked = {p: rank_many(ctx.retrievers[p], requests) for p in self.pool}
        choices = {}
        for i, q in enumerate(ctx.questions):
            choices[q.id] = select_by_qpp({p: _scores(p, ranked[p][i]) for p in self.pool},
                                          self.predictor)
        return choices


def _scores(spec: str, ranking: Sequence) -> list[float]:
    """The paper's conventions: recency scores items by reciprocal rank; none has none."""
    if spec == "recency":
        return reciprocal_rank_scores(len(ranking))
    return [s.score for s in ranking]


def qpp_selector(name: str, arg: str, default_pool: Sequence[str]) -> QPPSelector:
    """``qpp-wig`` (default pool) or ``qpp-wig:bm25+dense`` (these retrievers)."""
    if name not in SPEC_NAMES:
        raise ConfigError(f"unknown QPP selector {name!r}; known: {', '.join(SPEC_NAMES)}")
    return QPPSelector(SPEC_NAMES[name], arg.split("+") if arg else list(default_pool))

"""Unsupervised retriever selectors: pick, per input, the retriever whose ranking a
query-performance predictor (WIG, NQC, sigma_max, sigma_x%) rates highest.

Used in `evaluate` as ``--retriever qpp-wig[:none+recency+bm25+dense]``: like RSPG, the
chosen retriever's answer is taken from the pool's own runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..data.records import Scored
from ..retrievers import Retriever, rank_many
from .context import SelectionContext
from .qpp import reciprocal_rank_scores, select_by_qpp


@dataclass
class QPPSelector:
    """Selects by `predictor` over the rankings of `pool`."""

    predictor: str
    pool: list[str]

    def select(self, ctx: SelectionContext) -> dict[str, str]:
        requests = ctx.requests
        ranked = {p: rank_many(ctx.retrievers[p], requests) for p in self.pool}
        choices = {}
        for i, q in enumerate(ctx.questions):
            choices[q.id] = select_by_qpp(
                {p: _scores(ctx.retrievers[p], ranked[p][i]) for p in self.pool}, self.predictor)
        return choices


def _scores(retriever: Retriever, ranking: Sequence[Scored]) -> list[float]:
    """The paper's conventions: a retriever whose scores only encode its order (recency)
    is scored by reciprocal rank; none ranks nothing, so its list is empty."""
    if getattr(retriever, "scores_are_ranks", False):
        return reciprocal_rank_scores(len(ranking))
    return [s.score for s in ranking]

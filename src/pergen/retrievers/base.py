"""The retriever protocol: one method, `rank`, that orders a user's profile for a query.

Batching and caching are built once on top of it (`rank_many`), the way dense retrieval
encodes every distinct profile text only once per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..records import ProfileItem, Scored
from ..registry import Registry


@dataclass(frozen=True, slots=True)
class RankRequest:
    """One query against one profile; `docs[i]` is the indexed text of `profile[i]`."""

    query: str
    profile: Sequence[ProfileItem]
    docs: Sequence[str]


@runtime_checkable
class Retriever(Protocol):
    name: str

    def rank(self, request: RankRequest) -> list[Scored]:
        """All profile items, best first (ties keep profile order)."""
        ...


class BaseRetriever:
    """Default `rank_many` that loops over `rank`; retrievers override it to batch.

    `scores_are_ranks` is true for a retriever whose scores only encode its order (recency
    by date): score-based analyses such as query-performance prediction then use the
    reciprocal rank instead, as the paper does.
    """

    name = "base"
    scores_are_ranks = False

    def rank(self, request: RankRequest) -> list[Scored]:  # pragma: no cover - abstract
        raise NotImplementedError

    def rank_many(self, requests: Sequence[RankRequest]) -> list[list[Scored]]:
        return [self.rank(r) for r in requests]


def rank_many(retriever: Retriever, requests: Sequence[RankRequest]) -> list[list[Scored]]:
    """Rank a batch with the retriever's own batching when it has one."""
    batched = getattr(retriever, "rank_many", None)
    if batched is not None:
        return batched(requests)
    return [retriever.rank(r) for r in requests]


def sort_scored(profile: Sequence[ProfileItem], scores: Sequence[float]) -> list[Scored]:
    """Items by descending score; a stable sort keeps profile order among ties."""
    order = sorted(range(len(profile)), key=lambda i: -scores[i])
    return [Scored(profile[i], float(scores[i])) for i in order]


RETRIEVERS: Registry[Retriever] = Registry("retriever", "pergen.retrievers")

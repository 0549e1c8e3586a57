"""The retriever protocol: one method, `rank`, that orders a user's profile for a query.

Batching and caching are built once on top of it (`rank_many`), the way dense retrieval
encodes every distinct profile text only once per run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, overload, runtime_checkable

import numpy as np

from ..data.records import ProfileItem, Scored
from ..registry import Registry, RetrieverFacts


@dataclass(frozen=True, slots=True)
class RankRequest:
    """One query against one profile; `docs[i]` is the indexed text of `profile[i]`."""

    query: str
    profile: Sequence[ProfileItem]
    docs: Sequence[str]


@runtime_checkable
class Retriever(Protocol):
    name: str

    def rank(self, request: RankRequest) -> Sequence[Scored]:
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

    def rank(self, request: RankRequest) -> Sequence[Scored]:  # pragma: no cover - abstract
        raise NotImplementedError

    def rank_many(self, requests: Sequence[RankRequest]) -> Sequence[Sequence[Scored]]:
        return [self.rank(r) for r in requests]


def rank_many(retriever: Retriever,
              requests: Sequence[RankRequest]) -> Sequence[Sequence[Scored]]:
    """Rank a batch with the retriever's own batching when it has one."""
    batched = getattr(retriever, "rank_many", None)
    if batched is not None:
        return batched(requests)
    return [retriever.rank(r) for r in requests]


class Ranking(Sequence[Scored]):
    """A profile in ranked order, whose `Scored` entries are made when read.

    Why lazy: a retriever ranks every item of a profile (about 80 here, up to 300), while
    the prompt reads the top k; building one `Scored` object per item cost more than BM25
    scoring them (bench/RESULTS.md). `order[i]` is the profile index of the i-th best
    item and `scores[i]` its score. Slices are lists; a Ranking equals the list it reads as.
    """

    __slots__ = ("_profile", "_order", "_scores")

    def __init__(self, profile: Sequence[ProfileItem], order: np.ndarray,
                 scores: np.ndarray) -> None:
        self._profile, self._order, self._scores = profile, order, scores

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> Scored: ...

    @overload
    def __getitem__(self, index: slice) -> list[Scored]: ...

    def __getitem__(self, index: int | slice) -> Scored | list[Scored]:
        if isinstance(index, slice):
            profile = self._profile
            return [Scored(profile[i], s) for i, s in zip(self._order[index].tolist(),
                                                           self._scores[index].tolist())]
        return Scored(self._profile[int(self._order[index])], float(self._scores[index]))

    def __iter__(self) -> Iterator[Scored]:
        return iter(self[:])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-like equality, as a list's

    def __repr__(self) -> str:
        return f"Ranking({self[:]!r})"


def sort_scored(profile: Sequence[ProfileItem], scores: Sequence[float]) -> Ranking:
    """Items by descending score; a stable sort keeps profile order among ties."""
    values = np.asarray(scores, dtype=np.float64).reshape(len(profile))
    order = np.argsort(-values, kind="stable")
    return Ranking(profile, order, values[order])


RETRIEVERS: Registry[Retriever, RetrieverFacts] = Registry("retriever", "pergen.retrievers",
                                                       RetrieverFacts)

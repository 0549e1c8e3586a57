"""`rrf`: reciprocal rank fusion of several retrievers' full rankings (Cormack et al. 2009).

score(item) = sum over retrievers of 1 / (k + rank), rank starting at 1, k = 60. The paper
fuses all its retrievers this way; here the list is a spec such as ``rrf:bm25+recency``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from typing import Any

from ..data.records import ProfileItem, Scored
from ..errors import ConfigError
from ..registry import Spec
from .base import (
    RETRIEVERS,
    BaseRetriever,
    Ranking,
    RankRequest,
    Retriever,
    rank_many,
    sort_scored,
)

DEFAULT = "bm25+recency+dense"


def _positions(profile: Sequence[ProfileItem]) -> tuple[dict, dict]:
    """Profile indices by item identity, and by (id, position) for equal copies."""
    by_obj: dict[int, deque[int]] = defaultdict(deque)
    by_key: dict[tuple[str, int], deque[int]] = defaultdict(deque)
    for i, item in enumerate(profile):
        by_obj[id(item)].append(i)
        by_key[(item.id, item.position)].append(i)
    return by_obj, by_key


def fuse(profile: Sequence[ProfileItem], rankings: Sequence[Sequence[Scored]],
         k: float = 60.0) -> Ranking:
    """Fuse rankings of `profile` by reciprocal rank; ties keep profile order.

    Items are matched to the profile by identity (retrievers return the request's own
    objects), falling back to (id, position); an item listed twice counts for the next
    copy in the profile.
    """
    fused = [0.0] * len(profile)
    for ranking in rankings:
        by_obj, by_key = _positions(profile)
        for rank, scored in enumerate(ranking, start=1):
            slots = by_obj.get(id(scored.item)) or by_key.get(
                (scored.item.id, scored.item.position))
            if not slots:
                raise ConfigError(f"a fused retriever returned item {scored.item.id!r}, "
                                  "which is not in the profile")
            i = slots.popleft()
            fused[i] += 1.0 / (k + rank)
    return sort_scored(profile, fused)


class RRFRetriever(BaseRetriever):
    """Fuses the full rankings of its retrievers, each run with its own batching."""

    def __init__(self, retrievers: Sequence[Retriever], k: float = 60.0,
                 name: str = "rrf") -> None:
        if not retrievers:
            raise ConfigError("rrf needs at least one retriever")
        self.retrievers, self.k, self.name = list(retrievers), float(k), name

    def rank(self, request: RankRequest) -> Sequence[Scored]:
        return self.rank_many([request])[0]

    def rank_many(self, requests: Sequence[RankRequest]) -> list[Sequence[Scored]]:
        per_retriever = [rank_many(r, requests) for r in self.retrievers]
        return [fuse(req.profile, [rankings[j] for rankings in per_retriever], self.k)
                for j, req in enumerate(requests)]


@RETRIEVERS.register("rrf", fuses=DEFAULT)
def _rrf(arg: str | None = None, *, k: float = 60.0,
         retrievers: Sequence[Retriever] | None = None,
         options: Mapping[str, Mapping[str, Any]] | None = None) -> RRFRetriever:
    """`rrf` (bm25+recency+dense) or `rrf:a+b+...`.

    `options` gives keyword options per fused retriever name (``{"dense": {"device":
    "cuda"}}``); `retrievers` passes already built retrievers instead of a spec (to share a
    dense retriever's embedding cache with a separate dense run, say).
    """
    if retrievers is not None:
        if arg:
            raise ConfigError("rrf: give either rrf:a+b or retrievers=, not both")
        return RRFRetriever(retrievers, k, "rrf:" + "+".join(r.name for r in retrievers))
    specs = [Spec.parse(s.strip()) for s in (arg or DEFAULT).split("+")]
    if not all(s.name for s in specs):
        raise ConfigError(f"rrf: empty retriever name in {arg!r}")
    if any(s.name == "rrf" for s in specs):
        raise ConfigError("rrf cannot fuse another rrf")
    options = options or {}
    built = [RETRIEVERS.create(s, **options.get(s.name, {})) for s in specs]
    return RRFRetriever(built, k, "rrf:" + "+".join(map(str, specs)))

"""`recency`: the user's newest items first (the paper's recency baseline)."""

from __future__ import annotations

from collections.abc import Sequence

from ..data.records import ProfileItem, Scored
from ..errors import ConfigError
from .base import RETRIEVERS, BaseRetriever, RankRequest


def _newness(item: ProfileItem) -> tuple[int, str, int]:
    """Sort key, larger = newer: dated items by date, then undated ones by position.

    ISO-style dates ("2018-05-09", "2018-05-09T10:00") compare correctly as strings. An
    item without a date (or with an empty one) falls back to its position in the
    profile file, LaMP's order of the user's history; it ranks after every dated item,
    since its place relative to them is unknown.
    """
    date = item.date
    return (1, date, 0) if date else (0, "", item.position)


def newest_first(profile: Sequence[ProfileItem]) -> list[ProfileItem]:
    """The profile, newest item first; equal keys keep profile order (a stable sort)."""
    order = sorted(range(len(profile)), key=lambda i: _newness(profile[i]), reverse=True)
    return [profile[i] for i in order]


class RecencyRetriever(BaseRetriever):
    """Newest first; equal keys keep profile order (a stable sort)."""

    name = "recency"
    scores_are_ranks = True  # n, n-1, ...: an order by date, not a similarity

    def rank(self, request: RankRequest) -> list[Scored]:
        profile = request.profile
        order = sorted(range(len(profile)), key=lambda i: _newness(profile[i]), reverse=True)
        n = len(order)
        return [Scored(profile[i], float(n - rank)) for rank, i in enumerate(order)]


@RETRIEVERS.register("recency")
def _recency(arg: str | None = None) -> RecencyRetriever:
    if arg:
        raise ConfigError(f"recency takes no argument, got {arg!r}")
    return RecencyRetriever()

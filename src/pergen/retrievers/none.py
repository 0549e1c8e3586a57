"""`none`: no personalization. The prompt gets no profile items at all."""

from __future__ import annotations

from ..data.records import Scored
from ..errors import ConfigError
from .base import RETRIEVERS, BaseRetriever, RankRequest


class NoneRetriever(BaseRetriever):
    """Returns an empty ranking: the paper's non-personalized baseline."""

    name = "none"

    def rank(self, request: RankRequest) -> list[Scored]:
        return []


@RETRIEVERS.register("none")
def _none(arg: str | None = None) -> NoneRetriever:
    if arg:
        raise ConfigError(f"none takes no argument, got {arg!r}")
    return NoneRetriever()

"""Retrievers order a user's profile for a query, best first.

``get_retriever("bm25")`` builds one from a spec (``name`` or ``name:argument``); built-ins:
none, random[:SEED], recency, bm25, dense[:FOLDER], rrf[:a+b+...]. Third-party packages
add more through the ``pergen.retrievers`` entry-point group.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from . import bm25, dense, none, recency, rrf, shuffle  # noqa: F401  (registers built-ins)
from .base import (
    RETRIEVERS,
    BaseRetriever,
    Ranking,
    RankRequest,
    Retriever,
    rank_many,
    sort_scored,
)

__all__ = ["RETRIEVERS", "BaseRetriever", "RankRequest", "Ranking", "Retriever", "get_retriever",
           "rank_many", "sort_scored"]


def get_retriever(spec: str, **options: Any) -> Retriever:
    """A retriever from a spec such as ``bm25``, ``random:3`` or ``rrf:bm25+recency``.

    Keyword options go to the factory (``k1=1.2`` for bm25, ``batch_size=64`` for dense);
    an option the retriever does not take raises ConfigError.
    """
    try:
        return RETRIEVERS.create(spec, **options)
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        raise ConfigError(f"retriever {spec!r}: {e}") from e

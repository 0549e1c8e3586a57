"""BM25 over a user's own profile: the paper's `rank_bm25.BM25Okapi`, vectorized.

Each request is its own corpus (one user's profile at one time), so document frequencies,
the average length and the IDF floor are per request, as the paper computed
``BM25Okapi([d.split() for d in docs]).get_scores(query.split())``.

Why hand-written rather than `bm25s`: none of bm25s's IDF variants is rank_bm25's.
rank_bm25 uses ``log((N - df + 0.5) / (df + 0.5))`` and replaces every negative value by
``epsilon * mean(idf over the vocabulary)``; bm25s's "robertson" clips negative IDF to 0,
"atire" uses ``log(N / df)`` and "lucene" ``log(1 + (N - df + 0.5) / (df + 0.5))``. For
the corpus ``["the cat sat", "the dog sat", "the bird flew", "a fish swam"]`` and query
``"the cat"``, rank_bm25 scores (0.989, 0.141, 0.141, 0); bm25s 0.3.16 gives
(0.326, 0, 0, 0) robertson, (1.608, 0.276, 0.276, 0) atire, (0.600, 0.137, 0.137, 0)
lucene. The paper's figures come from rank_bm25, so its scores are the specification.

Speed: each distinct text is tokenized once per retriever instance (profiles overlap from
question to question), or read back from an optional on-disk token cache filled by an
earlier run (`token_cache`, see `_tokens`); a whole batch of requests is scored in one
compiled pass (`_bm25_kernel`, numba) and ranked with one sort; rankings are lazy
(`Ranking`), so the `Scored` entries a caller never reads are never built. Scores are
bitwise rank_bm25's (same float operations in the same order), so near-ties break the
same way. Where the time goes and what each path reaches: bench/bench_bm25.py,
bench/RESULTS.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..run.storage import cache_dir
from ._tokens import TokenStore
from .base import RETRIEVERS, BaseRetriever, Ranking, RankRequest


@lru_cache(maxsize=64)
def _log_half(size: int) -> np.ndarray:
    """``[math.log(k + 0.5) for k in range(size)]``.

    rank_bm25's IDF is ``math.log(N - df + 0.5) - math.log(df + 0.5)``: a difference of two
    such values. math.log, not np.log, so every IDF is bitwise rank_bm25's.
    """
    return np.array([math.log(k + 0.5) for k in range(size)])


class BM25Retriever(BaseRetriever):
    """BM25Okapi (k1, b, epsilon as in rank_bm25) over ``str.split()`` tokens.

    `token_cache`: a folder where token statistics are kept across runs (see `_tokens`);
    True: ``<pergen cache>/bm25-tokens``. Off by default: a service that ranks ever new
    profiles would only fill the disk.
    Not thread-safe: the token store grows as new texts come.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25,
                 token_cache: str | Path | bool | None = None) -> None:
        self.name = "bm25"
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)
        if token_cache is True:
            token_cache = cache_dir() / "bm25-tokens"
        self._tokens = TokenStore(token_cache or None)

    def rank(self, request: RankRequest) -> Ranking:
        return self.rank_many([request])[0]

    def rank_many(self, requests: Sequence[RankRequest]) -> list[Ranking]:
        docs = list(chain.from_iterable(r.docs for r in requests))
        slots = self._tokens.slots(docs)
        n = np.fromiter(map(len, (r.docs for r in requests)), np.int64, len(requests))
        scores = self._score([r.query for r in requests], slots, n)
        # One stable sort: by request, then by descending score (ties: profile order).
        starts = np.cumsum(n) - n
        first = np.repeat(starts, n)
        order = np.lexsort((-scores, first))
        ranked, local = scores[order], order - first
        return [Ranking(r.profile, local[lo:lo + k], ranked[lo:lo + k])
                for r, lo, k in zip(requests, starts.tolist(), n.tolist())]

    def scores(self, query: str, docs: Sequence[str]) -> np.ndarray:
        """rank_bm25's ``BM25Okapi([d.split() for d in docs]).get_scores(query.split())``.

        Where rank_bm25 divides by zero (no documents, or only empty ones) every score is
        0, so the ranking is the profile order.
        """
        slots = self._tokens.slots(list(docs))
        return self._score([query], slots, np.array([len(docs)], dtype=np.int64))

    def _score(self, queries: Sequence[str], slots: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Scores of the documents at `slots` (all requests' documents, concatenated;
        request i has n[i] of them) for the requests' queries."""
        from ._bm25_kernel import bm25_scores  # numba: imported (and compiled) on first use

        tokens = self._tokens
        q_req, q_word = tokens.word_ids(queries)
        q_ptr = np.r_[0, np.cumsum(np.bincount(q_req, minlength=len(n)))]
        log_half = _log_half(1 << int(n.max(initial=0)).bit_length())
        return bm25_scores(slots, n, q_ptr, q_word, tokens.start.data, tokens.distinct.data,
                           tokens.length.data, tokens.words.data, tokens.counts.data,
                           log_half, self.k1, self.b, self.epsilon, max(1, len(tokens.vocab)))


@RETRIEVERS.register("bm25", batch_options={"token_cache": True})
def _bm25(arg: str | None = None, *, k1: float = 1.5, b: float = 0.75,
          epsilon: float = 0.25, token_cache: str | Path | bool | None = None) -> BM25Retriever:
    if arg:
        raise ConfigError(f"bm25 takes no argument, got {arg!r} "
                          "(options: k1, b, epsilon, token_cache)")
    return BM25Retriever(k1=k1, b=b, epsilon=epsilon, token_cache=token_cache)

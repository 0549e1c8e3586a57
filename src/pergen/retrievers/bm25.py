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
earlier run (`token_cache`, see `_tokens`); a whole batch of requests is scored with
array operations over its (document, distinct word) pairs, and its results are built in
one pass with the garbage collector paused (`_scored`, `_gc_paused`). The float
operations are rank_bm25's, in its order (IDFs summed in first-occurrence order, terms
added in query order), so scores are bitwise equal and near-ties break the same way.
Where the time goes and what each path reaches: bench/bench_bm25.py, bench/RESULTS.md.
"""

from __future__ import annotations

import gc
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from functools import lru_cache
from itertools import chain, repeat
from pathlib import Path
from types import MemberDescriptorType

import numpy as np

from ..errors import ConfigError
from ..records import ProfileItem, Scored
from ..storage import cache_dir
from ._tokens import TokenStore, segment_index
from .base import RETRIEVERS, BaseRetriever, RankRequest

_SCRATCH = 1 << 18  # entries of the (request, word) scratch array: small stays in cache


@lru_cache(maxsize=64)
def _log_half(size: int) -> np.ndarray:
    """``[math.log(k + 0.5) for k in range(size)]``.

    rank_bm25's IDF is ``math.log(N - df + 0.5) - math.log(df + 0.5)``: a difference of two
    such values. math.log, not np.log, so every IDF is bitwise rank_bm25's.
    """
    return np.array([math.log(k + 0.5) for k in range(size)])


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch's results are built.

    A batch allocates one `Scored` per profile item (158,086 for the four shared splits)
    and no reference cycles; with the collector on, those allocations trigger collections
    that walk every live object of the process, which cost as much as the objects
    themselves. The previous state is restored, whatever happens.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _slot_setters() -> tuple[Callable[[Scored, ProfileItem], None],
                            Callable[[Scored, float], None]] | None:
    """`Scored`'s slot descriptors' setters, if storing through them is all its
    ``__init__`` does: exactly the slot fields item and score, and no __post_init__."""
    slots = [vars(Scored).get(name) for name in ("item", "score")]
    if tuple(f.name for f in fields(Scored)) != ("item", "score") or \
            hasattr(Scored, "__post_init__") or \
            not all(isinstance(d, MemberDescriptorType) for d in slots):
        return None
    return slots[0].__set__, slots[1].__set__  # type: ignore[union-attr]


_SETTERS = _slot_setters()


def _scored(items: list[ProfileItem], scores: list[float]) -> list[Scored]:
    """``list(map(Scored, items, scores))``, about 1.7x faster.

    A batch builds one `Scored` per profile item, which is a third of BM25's whole time
    on the shared data. The generated ``__init__`` of a frozen slotted dataclass only
    stores each field through ``object.__setattr__``; storing through the slot descriptors
    directly builds equal objects without the Python-level call per object.
    """
    if _SETTERS is None:
        return list(map(Scored, items, scores))
    made = list(map(object.__new__, repeat(Scored, len(items))))
    deque(map(_SETTERS[0], made, items), maxlen=0)
    deque(map(_SETTERS[1], made, scores), maxlen=0)
    return made


class BM25Retriever(BaseRetriever):
    """BM25Okapi (k1, b, epsilon as in rank_bm25) over ``str.split()`` tokens.

    `token_cache`: a folder where token statistics are kept across runs (see `_tokens`);
    True: ``<pergen cache>/bm25-tokens``. Off by default: a service that ranks ever new
    profiles would only fill the disk.
    Not thread-safe: an instance reuses scratch arrays between calls.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25,
                 token_cache: str | Path | bool | None = None, scratch: int = _SCRATCH) -> None:
        self.name = "bm25"
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)
        if token_cache is True:
            token_cache = cache_dir() / "bm25-tokens"
        self._tokens = TokenStore(token_cache or None)
        self._scratch_size = scratch
        self._pos = np.zeros(0, dtype=np.int64)  # (request, word) -> a pair position

    def rank(self, request: RankRequest) -> list[Scored]:
        return self.rank_many([request])[0]

    def rank_many(self, requests: Sequence[RankRequest]) -> list[list[Scored]]:
        with _gc_paused():
            docs = list(chain.from_iterable(r.docs for r in requests))
            slots = self._tokens.slots(docs)
            n = np.fromiter(map(len, (r.docs for r in requests)), np.int64, len(requests))
            ends = np.cumsum(n)
            scores = np.zeros(len(docs))
            step = max(1, self._scratch_size // max(1, len(self._tokens.vocab)))
            for i in range(0, len(requests), step):
                j = min(i + step, len(requests))
                lo, hi = int(ends[i] - n[i]), int(ends[j - 1])
                scores[lo:hi] = self._score([r.query for r in requests[i:j]], slots[lo:hi],
                                            n[i:j])
            # One stable sort: by request, then by descending score (ties: profile order).
            order = np.lexsort((-scores, np.repeat(np.arange(len(n)), n)))
            items = list(chain.from_iterable(r.profile for r in requests))
            ranked = _scored(list(map(items.__getitem__, order.tolist())),
                             scores[order].tolist())
            return [ranked[end - k:end] for end, k in zip(ends.tolist(), n.tolist())]

    def scores(self, query: str, docs: Sequence[str]) -> np.ndarray:
        """rank_bm25's ``BM25Okapi([d.split() for d in docs]).get_scores(query.split())``.

        Where rank_bm25 divides by zero (no documents, or only empty ones) every score is
        0, so the ranking is the profile order.
        """
        slots = self._tokens.slots(list(docs))
        return self._score([query], slots, np.array([len(docs)], dtype=np.int64))

    def _scratch(self, size: int) -> np.ndarray:
        if len(self._pos) < size:
            self._pos = np.zeros(max(size, 2 * len(self._pos)), dtype=np.int64)
        return self._pos

    def _score(self, queries: Sequence[str], slots: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Scores of the documents at `slots` (all requests' documents, concatenated;
        request i has n[i] of them) for the requests' queries."""
        tokens = self._tokens
        width = max(1, len(tokens.vocab))
        req_of_doc = np.repeat(np.arange(len(n)), n)
        lengths = tokens.length.data[slots]
        total = np.bincount(req_of_doc, weights=lengths, minlength=len(n))
        avgdl = np.divide(total, n, out=np.ones(len(n)), where=total > 0)

        # The batch's (document, distinct word) pairs, and per (request, word) its first
        # pair and its document frequency, in O(pairs) with reused scratch arrays.
        distinct = tokens.distinct.data[slots]
        doc_start = np.cumsum(distinct) - distinct  # each document's first pair
        pair = np.arange(int(distinct.sum())) + np.repeat(tokens.start.data[slots] - doc_start,
                                                          distinct)
        doc_of_pair = np.repeat(np.arange(len(slots)), distinct)
        pair_end = np.r_[0, np.cumsum(distinct)][np.cumsum(n)]
        pairs_of_req = pair_end - np.r_[0, pair_end[:-1]]
        key = np.repeat(np.arange(len(n)) * width, pairs_of_req) + tokens.words.data[pair]
        pos = self._scratch(len(n) * width)
        at = np.arange(len(key))
        pos[key[::-1]] = at[::-1]  # repeated keys: the last write, the first pair, wins
        first = pos[key]
        if not (first <= at).all():  # numpy does not promise that order: check it
            _, index, inverse = np.unique(key, return_index=True, return_inverse=True)
            first = index[inverse]
        df_at = np.bincount(first, minlength=len(key))  # df of the key first seen there

        # Query words, in order, that occur in their request's profile: each one's first
        # pair stands for its (request, word).
        q_req, q_word = tokens.word_ids(queries)
        q_key = q_req * width + q_word
        if len(key) and len(q_key):  # pos holds stale positions for keys not in this batch
            q_at = np.minimum(pos[q_key], len(key) - 1)
            q_first = first[q_at[key[q_at] == q_key]]
        else:
            q_first = q_key[:0]
        logs = _log_half(1 << int(n.max(initial=0)).bit_length())
        mult = np.bincount(q_first, minlength=len(key))  # occurrences in the query
        copies = mult[first]
        hit = np.flatnonzero(copies)
        hit_first, hit_doc = first[hit], doc_of_pair[hit]
        hit_req = req_of_doc[hit_doc]
        df = df_at[hit_first]
        idf = logs[n[hit_req] - df] - logs[df]
        negative = idf < 0
        if negative.any():
            # rank_bm25's floor: epsilon * mean IDF over the vocabulary, summed left to
            # right in first-occurrence order (bincount adds its weights in input order).
            seen = np.flatnonzero(df_at)
            seen_req = key[seen] // width
            df_seen = df_at[seen]
            idf_sum = np.bincount(seen_req, weights=logs[n[seen_req] - df_seen] - logs[df_seen],
                                  minlength=len(n))
            n_seen = np.bincount(seen_req, minlength=len(n))
            eps = self.epsilon * np.divide(idf_sum, n_seen, out=np.zeros(len(n)),
                                           where=n_seen > 0)
            idf[negative] = eps[hit_req[negative]]
        tf = tokens.counts.data[pair[hit]].astype(np.float64)
        k1, b = self.k1, self.b
        norm = k1 * (1 - b + b * lengths[hit_doc] / avgdl[hit_req])
        term = idf * (tf * (k1 + 1) / (tf + norm))

        # rank_bm25 adds one term per query word occurrence, in query order: order each
        # document's terms by the position of the query word (repeated words: each time).
        by_first = np.argsort(q_first, kind="stable")
        start_of = np.empty(len(key), dtype=np.int64)
        start_of[q_first[by_first][::-1]] = np.arange(len(q_first))[::-1]
        hit_copies = copies[hit]
        if len(hit_copies) and hit_copies.max() > 1:
            which = np.repeat(np.arange(len(hit)), hit_copies)
            when = by_first[np.repeat(start_of[hit_first], hit_copies)
                            + segment_index(hit_copies)]
            order = which[np.argsort(when, kind="stable")]
        else:
            order = np.argsort(by_first[start_of[hit_first]], kind="stable")
        scores = np.bincount(hit_doc[order], weights=term[order], minlength=len(slots))
        return scores.astype(np.float64, copy=False)  # bincount of nothing gives ints


@RETRIEVERS.register("bm25")
def _bm25(arg: str | None = None, *, k1: float = 1.5, b: float = 0.75,
          epsilon: float = 0.25, token_cache: str | Path | bool | None = None) -> BM25Retriever:
    if arg:
        raise ConfigError(f"bm25 takes no argument, got {arg!r} "
                          "(options: k1, b, epsilon, token_cache)")
    return BM25Retriever(k1=k1, b=b, epsilon=epsilon, token_cache=token_cache)

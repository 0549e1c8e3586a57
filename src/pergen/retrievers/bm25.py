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
question to question), and a whole batch of requests is scored with array operations over
its (document, distinct word) pairs. The float operations are rank_bm25's, in its order
(IDFs summed in first-occurrence order, terms added in query order), so scores are
bitwise equal and near-ties break the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain

import numpy as np

from ..errors import ConfigError
from ..records import Scored
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


class BM25Retriever(BaseRetriever):
    """BM25Okapi (k1, b, epsilon as in rank_bm25) over ``str.split()`` tokens.

    Not thread-safe: an instance reuses scratch arrays between calls.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25) -> None:
        self.name = "bm25"
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)
        self._tokens = TokenStore()
        self._pos = np.zeros(0, dtype=np.int64)  # (request, word) -> a pair position

    def rank(self, request: RankRequest) -> list[Scored]:
        return self.rank_many([request])[0]

    def rank_many(self, requests: Sequence[RankRequest]) -> list[list[Scored]]:
        self._tokens.add(chain.from_iterable(r.docs for r in requests))
        out: list[list[Scored]] = []
        step = max(1, _SCRATCH // max(1, len(self._tokens.vocab)))
        for i in range(0, len(requests), step):
            chunk = requests[i:i + step]
            scores, n = self._score([r.query for r in chunk], [r.docs for r in chunk])
            # One stable sort for the chunk: by request, then by descending score.
            order = np.lexsort((-scores, np.repeat(np.arange(len(n)), n)))
            items = list(chain.from_iterable(r.profile for r in chunk))
            ranked = list(map(Scored, map(items.__getitem__, order.tolist()),
                              scores[order].tolist()))
            ends = np.cumsum(n).tolist()
            out.extend(ranked[end - k:end] for end, k in zip(ends, n.tolist()))
        return out

    def scores(self, query: str, docs: Sequence[str]) -> np.ndarray:
        """rank_bm25's ``BM25Okapi([d.split() for d in docs]).get_scores(query.split())``.

        Where rank_bm25 divides by zero (no documents, or only empty ones) every score is
        0, so the ranking is the profile order.
        """
        self._tokens.add(docs)
        return self._score([query], [docs])[0]

    def _scratch(self, size: int) -> np.ndarray:
        if len(self._pos) < size:
            self._pos = np.zeros(max(size, 2 * len(self._pos)), dtype=np.int64)
        return self._pos

    def _score(self, queries: Sequence[str], doc_lists: Sequence[Sequence[str]]
               ) -> tuple[np.ndarray, np.ndarray]:
        """Scores of all documents of the batch (texts already added), concatenated, and
        each request's document count."""
        tokens = self._tokens
        vocab, width = tokens.vocab, max(1, len(tokens.vocab))
        n = np.array([len(d) for d in doc_lists], dtype=np.int64)
        slots = tokens.slots(chain.from_iterable(doc_lists), int(n.sum()))
        req_of_doc = np.repeat(np.arange(len(n)), n)
        lengths = tokens.length.data[slots]
        total = np.bincount(req_of_doc, weights=lengths, minlength=len(n))
        avgdl = np.divide(total, n, out=np.ones(len(n)), where=total > 0)

        # The batch's (document, distinct word) pairs, and per (request, word) its first
        # pair and its document frequency, in O(pairs) with reused scratch arrays.
        pair = tokens.pairs(slots)
        doc_of_pair = np.repeat(np.arange(len(slots)), tokens.distinct.data[slots])
        key = req_of_doc[doc_of_pair] * width + tokens.words.data[pair]
        pos = self._scratch(len(n) * width)
        at = np.arange(len(key))
        pos[key[::-1]] = at[::-1]  # repeated keys: the last write, the first pair, wins
        first = pos[key]
        if not (first <= at).all():  # numpy does not promise that order: check it
            _, index, inverse = np.unique(key, return_index=True, return_inverse=True)
            first = index[inverse]
        df_at = np.bincount(first, minlength=len(key))  # df of the key first seen there

        # rank_bm25's floor: epsilon * mean IDF over the vocabulary, summed left to right
        # in first-occurrence order: bincount adds its weights in input order.
        logs = _log_half(1 << int(n.max(initial=0)).bit_length())
        seen = np.flatnonzero(df_at)
        seen_req = key[seen] // width
        df = df_at[seen]
        idf_sum = np.bincount(seen_req, weights=logs[n[seen_req] - df] - logs[df],
                              minlength=len(n))
        n_seen = np.bincount(seen_req, minlength=len(n))
        eps = self.epsilon * np.divide(idf_sum, n_seen, out=np.zeros(len(n)), where=n_seen > 0)

        # Distinct query words present in their request's profile: one row each.
        qids = [[vocab[t] for t in q.split() if t in vocab] for q in queries]
        q_key = np.array([r * width + w for r, ids in enumerate(qids)
                          for w in dict.fromkeys(ids)], dtype=np.int64)
        if len(key):  # pos holds stale positions for keys not in this batch: check them
            q_at = np.minimum(pos[q_key], len(key) - 1)
            found = key[q_at] == q_key
            q_key, q_first = q_key[found], first[q_at[found]]
        else:
            q_key, q_first = q_key[:0], q_key[:0]
        q_req = q_key // width
        df = df_at[q_first]
        idf = logs[n[q_req] - df] - logs[df]
        idf = np.where(idf < 0, eps[q_req], idf)
        row = np.full(len(key), -1, dtype=np.int64)
        row[q_first] = np.arange(len(q_key))
        row = row[first]
        hit = np.flatnonzero(row >= 0)
        hit_row = row[hit]
        hit_doc = doc_of_pair[hit]
        tf = tokens.counts.data[pair[hit]].astype(np.float64)
        k1, b = self.k1, self.b
        norm = k1 * (1 - b + b * lengths[hit_doc] / avgdl[req_of_doc[hit_doc]])
        term = idf[hit_row] * (tf * (k1 + 1) / (tf + norm))

        # Add each term once per occurrence of its word in the query, in query order.
        row_of = {int(k): i for i, k in enumerate(q_key.tolist())}
        seq = np.array([row_of.get(r * width + w, -1) for r, ids in enumerate(qids)
                        for w in ids], dtype=np.int64)
        seq_pos = np.flatnonzero(seq >= 0)
        seq = seq[seq >= 0]
        by_row = seq_pos[np.argsort(seq, kind="stable")]
        mult = np.bincount(seq, minlength=len(q_key))
        copies = mult[hit_row]
        which = np.repeat(np.arange(len(hit)), copies)
        when = by_row[np.repeat(np.cumsum(mult)[hit_row] - copies, copies)
                      + segment_index(copies)]
        order = which[np.argsort(when, kind="stable")]
        scores = np.bincount(hit_doc[order], weights=term[order], minlength=len(slots))
        return scores.astype(np.float64, copy=False), n  # bincount of nothing gives ints


@RETRIEVERS.register("bm25")
def _bm25(arg: str | None = None, *, k1: float = 1.5, b: float = 0.75,
          epsilon: float = 0.25) -> BM25Retriever:
    if arg:
        raise ConfigError(f"bm25 takes no argument, got {arg!r} (options: k1, b, epsilon)")
    return BM25Retriever(k1=k1, b=b, epsilon=epsilon)

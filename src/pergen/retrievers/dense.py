"""`dense`: Contriever-style retrieval, mean-pooled embeddings and a raw dot product.

A user's profile items recur in question after question (each question's profile is the
history up to that time), so embeddings are cached by exact text for the life of the
retriever: every distinct text is encoded once per run, and `rank_many` encodes all new
texts of a batch of requests together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..records import Scored
from .base import RETRIEVERS, BaseRetriever, RankRequest, Retriever, sort_scored
from .encoder import Encoder


class DenseRetriever(BaseRetriever):
    """Scores ``<e(query), e(doc)>`` with an `Encoder`; ties keep profile order.

    ``cosine=True`` (`dense-cos`) normalizes every embedding first. The ranking of one
    query's items changes little, but scores of different queries become comparable: the
    similarity vote compares two candidates' scores, and with the raw dot product the
    candidate whose embedding is longer wins 65% of the tweet questions whatever the user.
    With ``cache=False`` every request re-encodes its own texts: the behaviour of a naive
    loop, kept as the baseline the cache is measured against.
    """

    def __init__(self, encoder: Encoder, *, batch_size: int = 32, cache: bool = True,
                 name: str = "dense", cosine: bool = False) -> None:
        self.encoder, self.batch_size, self.cache, self.name = encoder, batch_size, cache, name
        self.cosine = cosine
        self._row: dict[str, int] = {}  # text -> row of self._vectors
        self._vectors = np.zeros((0, encoder.dim), dtype=np.float32)

    def clear_cache(self) -> None:
        """Forget cached embeddings (call it after changing the encoder's weights)."""
        self._row.clear()

    def _add(self, texts: Sequence[str]) -> None:
        """Encode the texts not cached yet, in one `encode` call."""
        new = [t for t in dict.fromkeys(texts) if t not in self._row]
        if not new:
            return
        vectors = self.encoder.encode(new, self.batch_size)
        if self.cosine:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms > 0, norms, 1.0)
        start, end = len(self._row), len(self._row) + len(new)
        if end > len(self._vectors):  # grow by doubling: batches append in amortized O(1)
            grown = np.zeros((max(end, 2 * len(self._vectors)), vectors.shape[1]), np.float32)
            grown[:start] = self._vectors[:start]
            self._vectors = grown
        self._vectors[start:end] = vectors
        self._row.update(zip(new, range(start, end)))

    def rank(self, request: RankRequest) -> list[Scored]:
        return self.rank_many([request])[0]

    def rank_many(self, requests: Sequence[RankRequest]) -> list[list[Scored]]:
        if self.cache:
            self._add([t for r in requests if r.docs for t in (r.query, *r.docs)])
        out: list[list[Scored]] = []
        for r in requests:
            if not r.docs:
                out.append([])
                continue
            if not self.cache:
                self.clear_cache()
                self._add([r.query, *r.docs])
            rows = np.fromiter(map(self._row.__getitem__, r.docs), np.int64, len(r.docs))
            query = self._vectors[self._row[r.query]]
            out.append(sort_scored(r.profile, (self._vectors[rows] @ query).tolist()))
        return out


@RETRIEVERS.register("dense")
def _dense(arg: str | None = None, *, batch_size: int = 32, device: str | None = None,
           max_length: int | None = None, cache: bool = True,
           encoder: Encoder | None = None, name: str = "dense", cosine: bool = False
           ) -> DenseRetriever:
    """`dense` (all-MiniLM-L6-v2) or `dense:FOLDER` (any transformers encoder folder)."""
    if encoder is None:
        encoder = Encoder.load(Path(arg) if arg else None, device=device, max_length=max_length)
    return DenseRetriever(encoder, batch_size=batch_size, cache=cache,
                          name=f"{name}:{arg}" if arg else name, cosine=cosine)


@RETRIEVERS.register("dense-cos")
def _dense_cos(arg: str | None = None, **options: Any) -> Retriever:
    """`dense-cos[:FOLDER]`: `dense` with cosine similarity (normalized embeddings)."""
    return _dense(arg, name="dense-cos", cosine=True, **options)


def _trained(kind: str) -> None:
    """Register `kind:FOLDER`: a dense retriever trained by ROPG, named after its method."""
    @RETRIEVERS.register(kind)
    def factory(arg: str | None = None, **options: Any) -> Retriever:
        if not arg:
            raise ConfigError(f"{kind} needs the trained model's folder: {kind}:FOLDER")
        return _dense(arg, name=kind, **options)


for _kind in ("ropg-kd", "ropg-rl"):
    _trained(_kind)

"""`dense`: Contriever-style retrieval, mean-pooled embeddings and a raw dot product.

A user's profile items recur in question after question (each question's profile is the
history up to that time), so embeddings are cached by exact text for the life of the
retriever: every distinct text is encoded once per run, and `rank_many` encodes all new
texts of a batch of requests together.

The encoder runs on a `backend`: ``torch`` (transformers, the model ROPG trains),
``onnx`` (ONNX Runtime, same weights in float32: rankings equal up to float rounding) or
``onnx-int8`` (int8 weights: faster, rankings differ slightly), as the ``backend`` option
(``get_retriever("dense", backend="onnx-int8")``). The default for the packaged model on
CPU is chosen by bench/bench_dense.py's figures (bench/RESULTS.md); a folder
(``dense:FOLDER``, ROPG's models) and a GPU get ``torch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..data.records import Scored
from ..errors import ConfigError
from .base import RETRIEVERS, BaseRetriever, RankRequest, Retriever, sort_scored
from .encoder import Encoder

BACKENDS = ("torch", "onnx", "onnx-int8")
DEFAULT_BACKEND = "onnx"  # on CPU; see the module docstring


class TextEncoder(Protocol):
    """What dense retrieval needs of an encoder: `Encoder` or `OnnxEncoder`."""

    texts_encoded: int

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


def load_encoder(folder: str | Path | None = None, *, backend: str | None = None,
                 device: str | None = None, max_length: int | None = None,
                 threads: int | None = None) -> TextEncoder:
    """An encoder for a model folder (default all-MiniLM-L6-v2) on a backend.

    The default backend is `DEFAULT_BACKEND` for the packaged model on CPU, and torch for
    a folder (an ONNX export is cached per folder and its weights: a model being trained
    would be exported anew after every epoch) or where a GPU is asked for or available.
    `threads`: ONNX Runtime's threads (torch's are process-wide: torch.set_num_threads).
    """
    if backend is None:
        backend = "torch" if folder is not None or device not in (None, "cpu") or \
            (device is None and _has_gpu()) else DEFAULT_BACKEND
    if backend not in BACKENDS:
        raise ConfigError(f"unknown dense backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "torch":
        return Encoder.load(folder, device=device, max_length=max_length)
    if device not in (None, "cpu"):
        raise ConfigError(f"backend {backend!r} runs on the CPU only, not on {device!r}")
    from .onnx_encoder import OnnxEncoder

    return OnnxEncoder.load(folder, quantize=backend == "onnx-int8", max_length=max_length,
                            threads=threads)


def _has_gpu() -> bool:
    if find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


class DenseRetriever(BaseRetriever):
    """Scores ``<e(query), e(doc)>`` with an `Encoder`; ties keep profile order.

    ``cosine=True`` (`dense-cos`) normalizes every embedding first. The ranking of one
    query's items changes little, but scores of different queries become comparable: the
    similarity vote compares two candidates' scores, and with the raw dot product the
    candidate whose embedding is longer wins 65% of the tweet questions whatever the user.
    With ``cache=False`` every request re-encodes its own texts: the behaviour of a naive
    loop, kept as the baseline the cache is measured against.
    """

    def __init__(self, encoder: TextEncoder, *, batch_size: int = 32, cache: bool = True,
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

    def rank(self, request: RankRequest) -> Sequence[Scored]:
        return self.rank_many([request])[0]

    def rank_many(self, requests: Sequence[RankRequest]) -> list[Sequence[Scored]]:
        if self.cache:
            self._add([t for r in requests if r.docs for t in (r.query, *r.docs)])
        out: list[Sequence[Scored]] = []
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


@RETRIEVERS.register("dense", dense=True)
def _dense(arg: str | None = None, *, batch_size: int = 32, device: str | None = None,
           max_length: int | None = None, cache: bool = True,
           encoder: TextEncoder | None = None, name: str = "dense", cosine: bool = False,
           backend: str | None = None) -> DenseRetriever:
    """`dense` (all-MiniLM-L6-v2) or `dense:FOLDER` (any transformers encoder folder)."""
    if encoder is None:
        encoder = load_encoder(Path(arg) if arg else None, backend=backend, device=device,
                               max_length=max_length)
    return DenseRetriever(encoder, batch_size=batch_size, cache=cache,
                          name=f"{name}:{arg}" if arg else name, cosine=cosine)


@RETRIEVERS.register("dense-cos", dense=True)
def _dense_cos(arg: str | None = None, **options: Any) -> Retriever:
    """`dense-cos[:FOLDER]`: `dense` with cosine similarity (normalized embeddings)."""
    return _dense(arg, name="dense-cos", cosine=True, **options)


def _trained(kind: str) -> None:
    """Register `kind:FOLDER`: a dense retriever trained by ROPG, named after its method."""
    @RETRIEVERS.register(kind, dense=True, folder=True)
    def factory(arg: str | None = None, **options: Any) -> Retriever:
        if not arg:
            raise ConfigError(f"{kind} needs the trained model's folder: {kind}:FOLDER")
        return _dense(arg, name=kind, **options)


for _kind in ("ropg-kd", "ropg-rl"):
    _trained(_kind)

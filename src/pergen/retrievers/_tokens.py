"""Whitespace tokens of many texts, counted once per distinct text, in numpy arrays.

`TokenStore` backs BM25: a text's distinct words (in first-occurrence order, the order
rank_bm25 meets them), their counts and the text's length are computed the first time the
text is seen and then gathered by slot for every profile that contains it.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain, count

import numpy as np

_SEP = "\x00pergen:bm25:doc\x00"  # joins texts so that one split() tokenizes them all


def _split_all(texts: list[str]) -> tuple[list[str], np.ndarray | None]:
    """All tokens of all texts and each token's text index (None: separators included).

    One split() of the joined texts is about twice as fast as one per text; a text that
    contains the separator falls back to the latter.
    """
    joined = f" {_SEP} ".join(texts)
    if len(texts) > 1 and joined.count(_SEP) == len(texts) - 1:
        return joined.split(), None
    splits = list(map(str.split, texts))
    return list(chain.from_iterable(splits)), np.repeat(np.arange(len(texts)),
                                                        list(map(len, splits)))


def segment_index(sizes: np.ndarray) -> np.ndarray:
    """``[0..s0-1, 0..s1-1, ...]``: each element's index inside its segment."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - sizes, sizes)


class _Grow:
    """An append-only numpy array with amortized O(1) growth."""

    def __init__(self) -> None:
        self.data, self.size = np.empty(1024, dtype=np.int64), 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.empty(max(end, 2 * len(self.data)), dtype=np.int64)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size:end] = values
        self.size = end


class TokenStore:
    """``str.split()`` statistics per distinct text; word ids index `vocab`."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.slot: dict[str, int] = {}  # text -> index into the per-text arrays
        self.start, self.distinct, self.length = _Grow(), _Grow(), _Grow()  # per text
        self.words, self.counts = _Grow(), _Grow()  # per (text, distinct word)

    def slots(self, texts: Iterable[str], n: int) -> np.ndarray:
        """The slots of `n` texts, all already added."""
        return np.fromiter(map(self.slot.__getitem__, texts), np.int64, n)

    def pairs(self, slots: np.ndarray) -> np.ndarray:
        """Indices into `words`/`counts` of the texts' (text, distinct word) pairs."""
        distinct = self.distinct.data[slots]
        return segment_index(distinct) + np.repeat(self.start.data[slots], distinct)

    def add(self, texts: Iterable[str]) -> None:
        """Count the words of the texts not seen before, all in one numpy pass."""
        new = [t for t in dict.fromkeys(texts) if t not in self.slot]
        if not new:
            return
        flat, doc = _split_all(new)
        vocab, known = self.vocab, len(self.vocab)
        # A new word gets `known + position of its first occurrence`, then is renumbered.
        raw = np.fromiter(map(vocab.setdefault, flat, count(known)), np.int64, len(flat))
        first_new = np.flatnonzero(raw == known + np.arange(len(flat)))
        ids = raw.copy()
        if len(first_new):
            renumber = np.empty(len(flat), dtype=np.int64)
            renumber[first_new] = np.arange(known, known + len(first_new))
            fresh = raw >= known
            ids[fresh] = renumber[raw[fresh] - known]
            vocab.update(zip(map(flat.__getitem__, first_new.tolist()), count(known)))
        if doc is None:  # drop the separators; the running count of them is the text index
            sep = ids == vocab[_SEP]
            doc, ids = np.cumsum(sep)[~sep], ids[~sep]
        width = len(vocab)
        # Group equal (text, word) keys with one stable sort; mark each group's first
        # token, and read the groups back in token order (= first-occurrence order).
        token_key = doc * width + ids
        by_key = np.argsort(token_key, kind="stable")
        sorted_key = token_key[by_key]
        starts = np.flatnonzero(np.r_[len(token_key) > 0, sorted_key[1:] != sorted_key[:-1]])
        counts_at = np.zeros(len(token_key), dtype=np.int64)
        counts_at[by_key[starts]] = np.diff(np.r_[starts, len(token_key)])
        firsts = np.flatnonzero(counts_at)
        keys, counts = token_key[firsts], counts_at[firsts]
        distinct = np.bincount(keys // width, minlength=len(new))
        self.start.extend(self.words.size + np.cumsum(distinct) - distinct)
        self.distinct.extend(distinct)
        self.length.extend(np.bincount(doc, minlength=len(new)))
        self.words.extend(keys % width)
        self.counts.extend(counts)
        self.slot.update(zip(new, count(len(self.slot))))

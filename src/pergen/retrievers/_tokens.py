"""Whitespace tokens of many texts, counted once per distinct text, in numpy arrays.

`TokenStore` backs BM25: a text's distinct words (in first-occurrence order, the order
rank_bm25 meets them), their counts and the text's length are computed the first time the
text is seen and then gathered by slot for every profile that contains it.

Tokenizing is most of a first run's time (``str.split`` and a dict lookup per word: about
0.3 us a word, against about 1.4 us a document for the whole of rank_bm25), and numpy
cannot do it much faster: a vectorized tokenizer (UTF-32 codes, polynomial hashes of the
tokens, np.unique) measured only 1.3-1.5x faster before the exact check that hashes did
not collide, and no faster with it. So the store can keep its work on disk instead
(`cache=`): each `_add` step is stored under a digest of the store's previous state and
the step's texts, and a later run that adds the same texts in the same order reads the
step back (new words and per-text arrays) instead of tokenizing. Equal digests mean equal
inputs and an equal prior state, so the result is the one the tokenizer would give.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from itertools import chain, count, repeat
from pathlib import Path

import numpy as np

from ..run.storage import atomic_write_bytes

_SEP = "\x00pergen:bm25:doc\x00"  # joins texts so that one split() tokenizes them all
_FORMAT = b"pergen-bm25-tokens-2"  # change it whenever _add's results or _pack would change
_ARRAYS = ("distinct", "length", "words", "counts")


def _pack(known: int, arrays: dict[str, np.ndarray], words: list[str]) -> bytes:
    """A stored step: int64 header (known words, new texts, pairs, vocabulary bytes), the
    per-text then per-pair arrays, then the new words joined by newlines.

    One flat buffer rather than an .npz: a zip member and a parsed header per array cost
    more than the arrays themselves here (32 small files per run of a split).
    """
    vocab = "\n".join(words).encode("utf-8", "surrogatepass")
    header = np.array([known, len(arrays["distinct"]), len(arrays["words"]), len(vocab)],
                      dtype=np.int64)
    body = [np.asarray(arrays[name], dtype=np.int64).tobytes() for name in _ARRAYS]
    return b"".join([header.tobytes(), *body, vocab])


def _unpack(raw: bytes) -> tuple[int, dict[str, np.ndarray], str] | None:
    """`_pack`'s (known words, arrays, new words joined); None when `raw` is not one."""
    if len(raw) < 32:
        return None
    known, texts, pairs, size = np.frombuffer(raw, np.int64, 4).tolist()
    ints = 2 * texts + 2 * pairs
    if min(known, texts, pairs, size) < 0 or len(raw) != 32 + 8 * ints + size:
        return None
    body = np.frombuffer(raw, np.int64, ints, offset=32)
    ends = np.cumsum([texts, texts, pairs, pairs])
    arrays = {name: body[end - width:end]
              for name, end, width in zip(_ARRAYS, ends, (texts, texts, pairs, pairs))}
    try:
        return known, arrays, raw[32 + 8 * ints:].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


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


class _Grow:
    """An append-only numpy array with amortized O(1) growth."""

    def __init__(self) -> None:
        self.data: np.ndarray = np.empty(1024, dtype=np.int64)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.empty(max(end, 2 * len(self.data)), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size:end] = values
        self.size = end


class TokenStore:
    """``str.split()`` statistics per distinct text; word ids index `vocab`."""

    def __init__(self, cache: str | Path | None = None) -> None:
        self.vocab: dict[str, int] = {}
        self.slot: dict[str, int] = {}  # text -> index into the per-text arrays
        self.start, self.distinct, self.length = _Grow(), _Grow(), _Grow()  # per text
        self.words, self.counts = _Grow(), _Grow()  # per (text, distinct word)
        self.cache = Path(cache) if cache is not None else None
        self._state = hashlib.blake2b(_FORMAT, digest_size=20).digest()

    def slots(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' slots; texts not seen before are tokenized first.

        One dict lookup per text: the texts of a batch are mostly new string objects, whose
        hash is computed on first use, so every extra lookup costs a pass over the text.
        """
        found = np.fromiter(map(self.slot.get, texts, repeat(-1)), np.int64, len(texts))
        missing = np.flatnonzero(found < 0)
        if len(missing):
            miss = list(map(texts.__getitem__, missing.tolist()))
            # Each missing text's first occurrence among them: new texts get slots in that
            # order (`_add` appends them so), repeats the slot of their first occurrence.
            first: dict[str, int] = {}
            at = np.fromiter(map(first.setdefault, miss, count()), np.int64, len(miss))
            is_new = np.flatnonzero(at == np.arange(len(miss)))
            rank = np.empty(len(miss), dtype=np.int64)
            rank[is_new] = np.arange(len(is_new)) + len(self.slot)
            self._add(list(first))
            found[missing] = rank[at]
        return found

    def word_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each known word of the texts, in order: (text index, word id); unknown words
        are left out."""
        splits = list(map(str.split, texts))
        sizes = list(map(len, splits))
        ids = np.fromiter(map(self.vocab.get, chain.from_iterable(splits), repeat(-1)),
                          np.int64, sum(sizes))
        text = np.repeat(np.arange(len(texts)), sizes)
        known = ids >= 0
        return text[known], ids[known]

    def _add(self, new: list[str]) -> None:
        """Count the words of new texts: read back from the disk cache, or tokenized."""
        if self.cache is None:
            self._tokenize(new)
            return
        digest = hashlib.blake2b(self._state, digest_size=20)
        digest.update(np.array(list(map(len, new)), dtype=np.int64).tobytes())
        digest.update("".join(new).encode("utf-8", "surrogatepass"))
        self._state = digest.digest()
        path = self.cache / f"{digest.hexdigest()}.bin"
        if self._load(path, new):
            return
        known, texts, pairs = len(self.vocab), self.distinct.size, self.words.size
        words = self._tokenize(new)
        arrays = {name: getattr(self, name).data[start:getattr(self, name).size]
                  for name, start in zip(_ARRAYS, (texts, texts, pairs, pairs))}
        with contextlib.suppress(OSError):  # a read-only or full cache only loses the speed-up
            atomic_write_bytes(path, _pack(known, arrays, words))

    def _load(self, path: Path, new: list[str]) -> bool:
        """Apply a stored step; False (nothing changed) when there is none or it is unusable."""
        try:
            stored = _unpack(path.read_bytes())
        except OSError:
            return False
        if stored is None:
            return False
        known, arrays, text = stored
        words = text.split("\n") if text else []
        added = dict(zip(words, count(known)))
        if len(added) != len(words) or not self._consistent(known, arrays, added, len(new)):
            return False
        self.vocab.update(added)
        distinct = arrays["distinct"]
        self.start.extend(self.words.size + np.cumsum(distinct) - distinct)
        for name in _ARRAYS:
            getattr(self, name).extend(arrays[name])
        self.slot.update(zip(new, count(len(self.slot))))
        return True

    def _consistent(self, known: int, arrays: dict[str, np.ndarray], added: dict[str, int],
                    texts: int) -> bool:
        """Whether a stored step fits this store: BM25 indexes arrays with its word ids
        unchecked (compiled code), so a damaged or foreign file must not get that far."""
        distinct, words = arrays["distinct"], arrays["words"]
        return (known == len(self.vocab) and len(distinct) == texts
                and len(words) == int(distinct.sum()) and self.vocab.keys().isdisjoint(added)
                and (len(words) == 0 or (int(words.min()) >= 0
                                         and int(words.max()) < known + len(added)))
                and bool((distinct >= 0).all() and (arrays["length"] >= 0).all()
                         and (arrays["counts"] >= 1).all()))

    def _tokenize(self, new: list[str]) -> list[str]:
        """Count the words of new texts, all in one numpy pass; returns the new words."""
        flat, doc = _split_all(new)
        vocab, known = self.vocab, len(self.vocab)
        # A new word gets `known + position of its first occurrence`, then is renumbered.
        raw = np.fromiter(map(vocab.setdefault, flat, count(known)), np.int64, len(flat))
        first_new = np.flatnonzero(raw == known + np.arange(len(flat)))
        ids = raw
        words = list(map(flat.__getitem__, first_new.tolist()))
        if len(first_new):
            renumber = np.empty(len(flat), dtype=np.int64)
            renumber[first_new] = np.arange(known, known + len(first_new))
            fresh = raw >= known
            ids = raw.copy()
            ids[fresh] = renumber[raw[fresh] - known]
            vocab.update(zip(words, count(known)))
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
        return words

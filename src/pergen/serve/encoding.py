"""Item encoding off the request path: one bounded background thread per server.

Why: encoding a user's items inline (at add time or at their first dense request) held
the retriever's lock for as long as it took: 2,000 items were 50 s during which every
other dense request of every user waited. Here a single daemon thread encodes items
after they are written, in batches of `batch` texts, taking the encoder's lock for one
batch at a time. A retriever built from a spec has a second encoder for this thread (see
`catalog.Entry.background`), so a query never waits for a batch; the thread runs at the
lowest CPU priority. Where the encoder is shared (instances passed in by a test), the
thread starts no batch while a request waits for it.

What it encodes, per dense retriever: first the items a waiting request asked for
(`urgent`), then every item above a high-water mark of item keys (new items get larger
keys). An item a concurrent PostgreSQL transaction committed below the mark is found by
the first dense request of its user, which marks it urgent. A failing encoder is retried
after `backoff` seconds, and only the exception's class is logged (its message may
quote item text).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time

import numpy as np

from . import vectors
from .background import Background
from .catalog import Catalog, Entry
from .db import Engines
from .texts import document

log = logging.getLogger("pergen.serve")


class EncodingWorker(Background):
    """Encodes missing item vectors of every dense retriever of the catalog."""

    thread_name = "pergen-encoder"

    def __init__(self, engines: Engines, catalog: Catalog, batch: int = 8,
                 idle: float = 2.0, backoff: float = 5.0) -> None:
        super().__init__()
        self.engines, self.catalog = engines, catalog
        self.batch, self.idle, self.backoff = max(1, batch), idle, backoff
        # model -> item keys a request waits for (a dict: ordered, and a key queued once)
        self._urgent: dict[str, dict[int, None]] = {e.model: {} for e in catalog.dense_entries()}
        self._mark: dict[str, int] = dict.fromkeys(self._urgent, 0)
        self._lock = threading.Lock()
        self.encoded = 0

    @property
    def active(self) -> bool:
        return bool(self._urgent)

    def notify(self) -> None:
        """Items were written: look for work now rather than at the next idle tick."""
        if self.active:
            self._wake.set()

    def urgent(self, model: str, pks: list[int]) -> None:
        """A request waits for these items: they go before the backlog."""
        with self._lock:
            self._urgent[model].update(dict.fromkeys(pks))
        self._wake.set()

    def _run(self) -> None:
        _lower_priority()
        while not self._stop.is_set():
            self._wake.wait(self.idle)
            self._wake.clear()
            for entry in self.catalog.dense_entries():
                try:
                    while not self._stop.is_set() and self._step(entry):
                        pass
                except Exception as e:  # logged by class only: messages can quote item text
                    log.warning("encoding items for %s failed (%s); retried in %.0f s",
                                entry.key, type(e).__name__, self.backoff)
                    self._stop.wait(self.backoff)

    def _step(self, entry: Entry) -> bool:
        """Encode one batch; False when nothing is left for this retriever."""
        model = entry.model
        with self._lock:
            queue = self._urgent[model]
            wanted = list(queue)[:self.batch]
            for pk in wanted:
                del queue[pk]
        if wanted:
            rows = vectors.missing(self.engines, model, 0, self.batch, only=wanted)
        else:
            top = vectors.newest(self.engines)  # read first: what is below it is scanned now
            rows = vectors.missing(self.engines, model, self._mark[model], self.batch)
            if not rows:  # the next scans start above: a wake costs no full scan
                self._mark[model] = max(self._mark[model], top)
                return False
        if rows:
            texts = [document(item) for _, item in rows]
            encoder, lock = entry.encoder_for_background
            if lock is entry.lock:  # shared with requests: they go first
                while entry.waiting > 0 and not self._stop.is_set():
                    time.sleep(0.002)
            with lock:
                encoded = np.asarray(encoder.encode(texts, self.batch), dtype=np.float32)
            self.encoded += vectors.save(self.engines, model, dict(zip([pk for pk, _ in rows],
                                                                       encoded)))
            if not wanted:
                self._mark[model] = max(self._mark[model], rows[-1][0])
        return True


def _lower_priority() -> None:
    """This thread at the lowest CPU priority (Linux: per thread): requests go first."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)

"""Semantic memory for the proxy: a summary of each user, computed off the request path.

`--memory summary|summary+items` makes the proxy inject the user's summary (pergen's
``stats`` summarizer: typical output length and recent examples; no LLM, so it costs
milliseconds and no model) instead of, or before, the retrieved items. A summary is
computed by a background thread after the user's writes and kept per user revision, in
memory and in the ``summaries`` table (so export shows it and erasure removes it). A
request only reads what is there: a user whose summary is not computed yet gets none.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from sqlalchemy import delete, insert

from ..memory.summaries import StatsSummarizer
from ..tasks import TaskSpec
from . import store
from .background import Background
from .db import Engines
from .models import Summary

log = logging.getLogger("pergen.serve")
MODES = ("summary", "summary+items")
KIND = "memory:stats"
_CHAT = TaskSpec(name="chat", item_template="$text", prompt_template="$profile $input",
                 document_fields=("text",), output_fields=("text",))


class Memory(Background):
    """Summaries by (tenant, user): the revision they were made from and the text."""

    thread_name = "pergen-memory"

    def __init__(self, engines: Engines, mode: str | None, max_users: int = 4096) -> None:
        super().__init__()
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown memory {mode!r}; known: {', '.join(MODES)}")
        self.engines, self.mode, self.max_users = engines, mode, max_users
        self._summaries: OrderedDict[tuple[int, str], tuple[int, str]] = OrderedDict()
        self._todo: dict[tuple[int, str], None] = {}
        self._lock = threading.Lock()
        self._summarizer = StatsSummarizer(_CHAT, [])

    @property
    def active(self) -> bool:
        return self.mode is not None

    def written(self, tenant: int, user: str) -> None:
        """The user's items changed: recompute their summary in the background."""
        if self.mode is None:
            return
        with self._lock:
            self._todo[(tenant, user)] = None
        self._wake.set()

    def get(self, tenant: int, user: str) -> str:
        """The user's latest summary ('' if none yet); never computes one."""
        with self._lock:
            found = self._summaries.get((tenant, user))
        if found is None and self.mode is not None:
            self.written(tenant, user)  # e.g. after a restart: computed for the next request
        return found[1] if found else ""

    def sweep(self) -> int:
        """Drop summaries of users erased through another process; how many."""
        with self._lock:
            keys = list(self._summaries)
        gone = set(keys) - store.existing(self.engines, keys) if keys else set()
        for tenant, user in gone:
            self.forget(tenant, user)
        return len(gone)

    def forget(self, tenant: int, user: str) -> None:
        with self._lock:
            self._summaries.pop((tenant, user), None)
            self._todo.pop((tenant, user), None)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(5.0)
            self._wake.clear()
            while not self._stop.is_set():
                with self._lock:
                    if not self._todo:
                        break
                    key = next(iter(self._todo))
                    del self._todo[key]
                try:
                    self._compute(*key)
                except Exception as e:  # class only: messages can quote item text
                    log.warning("summarizing a user failed (%s)", type(e).__name__)

    def _compute(self, tenant: int, user: str) -> None:
        profile = store.load_profile(self.engines, tenant, user)
        if profile is None:
            self.forget(tenant, user)
            return
        with self._lock:
            done = self._summaries.get((tenant, user))
        if done is not None and done[0] == profile.user.revision:
            return
        text = self._summarizer.summarize([profile.items])[0]
        # Under the lock: an erasure's `forget` runs after its commit, so it either sees
        # this summary cached (and drops it) or this transaction sees the user gone.
        with self._lock, self.engines.write.begin() as conn:
            conn.execute(delete(Summary).where(Summary.user_pk == profile.user.pk,
                                               Summary.kind == KIND))
            if not store.user_exists(conn, profile.user.pk):
                return
            if text:
                conn.execute(insert(Summary).values(
                    user_pk=profile.user.pk, kind=KIND, text=text, created_at=store.now()))
            self._summaries[(tenant, user)] = (profile.user.revision, text)
            self._summaries.move_to_end((tenant, user))
            while len(self._summaries) > self.max_users:
                self._summaries.popitem(last=False)

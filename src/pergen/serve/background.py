"""One daemon thread per background job of the service (encoding, summaries), woken by
writes and stopped cleanly at shutdown: the request path only ever sets an event."""

from __future__ import annotations

import threading


class Background:
    """Start, wake and stop one named thread running `_run` (a subclass's loop, which
    waits on `_wake` and ends when `_stop` is set)."""

    thread_name = "pergen-background"

    def __init__(self) -> None:
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Whether there is work of this kind at all (no thread otherwise)."""
        return True

    def start(self) -> None:
        if self.active and self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name,
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:  # pragma: no cover - every subclass has its loop
        raise NotImplementedError

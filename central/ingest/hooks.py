"""Listeners told about what each ingest commit stored, after the commit.

The dashboard pushes new events to browsers and raises alarms (gaps,
forced entries, quarantined payloads) from here. A listener runs on the
ingest thread that made the commit: keep it quick and hand work to your own
loop (e.g. ``loop.call_soon_threadsafe``). A listener that raises is logged
and skipped; it never holds up ingest or un-stores an event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from central.ingest.batch import CommitReport

log = logging.getLogger(__name__)

CommitListener = Callable[[CommitReport], None]


class CommitHooks:
    """A thread-safe list of ``on_committed(report)`` listeners."""

    def __init__(self) -> None:
        self._listeners: list[CommitListener] = []
        self._lock = threading.Lock()

    def add(self, listener: CommitListener) -> Callable[[], None]:
        """Register ``listener``; returns a function that removes it again."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def fire(self, report: CommitReport) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(report)
            except Exception:
                log.exception(
                    "commit listener failed",
                    extra={"listener": getattr(listener, "__qualname__", repr(listener))},
                )

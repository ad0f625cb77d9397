"""The booth's own staff-badge reader (an RDM6300 beside the screen) feeding sign-on and handover."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from edge.console.booth import Booth

log = logging.getLogger("gatepost.console.badges")


class _Reader(Protocol):
    def poll(self, timeout: float) -> str | None: ...


class BoothBadges:
    """One thread reading the booth reader; each badge goes to :meth:`Booth.badge_seen`."""

    def __init__(self, reader: _Reader, booth: Booth, *, poll_s: float = 0.5) -> None:
        self.reader = reader
        self.booth = booth
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="booth-badges", daemon=True)

    def start(self) -> BoothBadges:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                badge = self.reader.poll(self.poll_s)
                if badge:
                    self.booth.badge_seen(badge)
            except Exception:  # a reader or roster fault must not end the thread
                log.exception("booth badge reader failed")
                self._stop.wait(1.0)

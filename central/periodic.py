"""Call one function every few seconds on a daemon thread: central's background loops.

The alarm monitor's tick, the dashboard's event tail and the nightly visitor
purge all need the same thing: run, wait the interval or until stopped, run
again; a failing run is logged and the loop goes on (one bad tick must not end
alarm evaluation for the life of the process).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Every:
    """``Every(5.0, purge, name="visitor-purge").start()`` … ``.stop()``; restartable."""

    def __init__(self, interval_s: float, work: Callable[[], object], *, name: str) -> None:
        self.interval_s = interval_s
        self.work = work
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Every:
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.work()
            except Exception:
                log.exception("%s: run failed; trying again in %.1f s", self.name, self.interval_s)

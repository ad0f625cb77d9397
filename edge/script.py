"""The start script both agents share: start parts in order, stop them in reverse, once.

A lane agent and a kiosk agent differ in what they start, not in how: each
names its steps (STYLE.md: start-up reads like a script), a failing step undoes
the ones before it, and one stop event ends everything in reverse order. Each
step registers its own undo with :meth:`StartScript.on_stop` as soon as the
thing it started exists, so a half-started agent stops cleanly too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger("gatepost.agent")


class StartScript:
    """Mixin for an agent: ``STEPS`` names, :meth:`steps` the functions, in the same order."""

    STEPS: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.stop_event = threading.Event()
        self._closers: list[Callable[[], None]] = []

    def steps(self) -> Sequence[Callable[[], None]]:
        raise NotImplementedError

    def on_stop(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def run_steps(self) -> float:
        """Run the steps in order; return the seconds it took. A failing step stops what started."""
        started = time.monotonic()
        try:
            for name, step in zip(self.STEPS, self.steps(), strict=True):
                step()
                log.info("start step done: %s", name)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - started

    def run(self) -> None:
        """Start, wait for the one stop event (SIGTERM/SIGINT), stop."""
        self.start()
        try:
            self.stop_event.wait()
        finally:
            self.stop()

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:
                log.exception("stopping %r failed", closer)

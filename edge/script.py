"""The start script the agents and the demo site share: start parts in order, stop them in reverse, once.

A lane agent and a kiosk agent differ in what they start, not in how: each
names its steps (STYLE.md: start-up reads like a script), a failing step undoes
the ones before it, and one stop event ends everything in reverse order. Each
step registers its own undo with :meth:`StartScript.on_stop` as soon as the
thing it started exists, so a half-started agent stops cleanly too.
:class:`AgentScript` adds what only a Pi agent has: its config and optional metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import AgentConfig
    from edge.link import Outbox
    from edge.link.metrics import AgentMetrics

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


class AgentScript(StartScript):
    """A Pi agent's script (lane or kiosk): a start script with the agent's config and its optional metrics."""

    config: AgentConfig

    def __init__(self) -> None:
        super().__init__()
        self.metrics: AgentMetrics | None = None
        """Only with [metrics]: prometheus-client is not worth its memory on an agent nobody scrapes."""
        self.metrics_port: int | None = None

    def count_into_metrics(self, outbox: Outbox) -> None:
        """Keep this agent's Prometheus registry, if the config asks for ``[metrics]``."""
        if self.config.metrics is None:
            return
        # Imported only here: prometheus-client costs the Pi's idle budget (60 MB) several MB.
        from edge.link.metrics import AgentMetrics

        device = self.config.device
        self.metrics = AgentMetrics(outbox, site=device.site, device=device.id, role=device.role)

    def start_metrics(self) -> None:
        """The last step: serve ``/metrics`` once everything it reports on is running."""
        if self.config.metrics is None or self.metrics is None:
            return
        self.metrics_port = self.metrics.serve(self.config.metrics.bind, self.config.metrics.port)
        self.on_stop(self.metrics.stop)

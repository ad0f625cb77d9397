"""The retained ``…/health`` document a device publishes every 30 s.

Central's dashboard shows it per lane: outbox depth and the age of the oldest
unsent event (is the lane cut off?), barrier and reader states, clock skew
(can its times be trusted?), storage (can it still write its records?),
uptime and software version. The link knows the
outbox and the clock; the lane and kiosk add the rest through providers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from edge import __version__
from edge.errors import GatepostError
from edge.link.clock import ClockSkew
from edge.link.outbox import Outbox
from edge.link.port import Link
from edge.link.storage import StorageGuard
from edge.wire import Health, format_ts, health_topic, utc_now

log = logging.getLogger(__name__)

Provider = Callable[[], Mapping[str, Any]]
"""Returns some :class:`~edge.wire.Health` fields, e.g. ``{"barrier": "closed"}``."""


class HealthReporter:
    """Publishes :class:`~edge.wire.Health` retained every ``interval_s`` and on every connect.

    Nothing is queued while offline (the next connect publishes a fresh
    one), so a long outage does not pile up stale health messages.
    ``clock`` stamps ``ts``: give it the agent's clock, the one its events carry.
    """

    def __init__(
        self,
        link: Link,
        site: str,
        device: str,
        *,
        role: Literal["entry", "exit", "kiosk", "booth"],
        outbox: Outbox | None = None,
        skew: ClockSkew | None = None,
        storage: StorageGuard | None = None,
        version: str = __version__,
        interval_s: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link = link
        self.role = role
        self.outbox = outbox
        self.skew = skew
        self.storage = storage
        self.version = version
        self.interval_s = interval_s
        self._topic = health_topic(site, device)
        self._clock = clock
        self._mono = monotonic
        self._started_mono = monotonic()
        self._providers: list[Provider] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: Health | None = None
        link.add_connect_listener(self._wake.set)
        if storage is not None:  # a storage fault (or its end) is reported at once, not in 30 s
            storage.add_listener(lambda fault: self._wake.set())

    def provide(self, provider: Provider) -> None:
        """Add a source of health fields; a failing or invalid one is logged and left out."""
        self._providers.append(provider)

    def build(self) -> Health:
        """The current health document (no I/O beyond asking the outbox and providers)."""
        now = self._clock()
        fields: dict[str, Any] = {
            "ts": format_ts(now),
            "role": self.role,
            "version": self.version,
            "uptime_s": int(self._mono() - self._started_mono),
            "outbox_depth": 0,
            "oldest_unsent_s": 0,
        }
        if self.outbox is not None:
            try:
                fields["outbox_depth"] = self.outbox.depth
                fields["outbox_unacked"] = self.outbox.unacked
                fields["outbox_acked_through"] = self.outbox.acked_through()
                # Measured on the outbox's own clock, the one that stamped its rows: an agent on an
                # accelerated or stepped clock would otherwise report a days-old backlog (and raise
                # outbox_backlog at central) while everything is sent at once.
                fields["oldest_unsent_s"] = int(self.outbox.oldest_unsent_age_s())
            except GatepostError as exc:
                log.error("health: outbox unreadable: %s", exc)
        if self.storage is not None:
            fields.update(self.storage.status())  # storage: "ok" or the error, and since when
        if self.skew is not None:
            fields["clock_skew_ms"] = self.skew.skew_ms
            fields["clock_synced"] = self.skew.synced(self._mono())
        health = Health.model_validate(fields)
        for provider in self._providers:
            try:
                extra = dict(provider())
                health = Health.model_validate({**health.model_dump(), **extra})
            except (ValidationError, TypeError, ValueError) as exc:
                log.error("health provider %r gave invalid fields: %s", provider, exc)
            except Exception:
                log.exception("health provider %r failed", provider)
        return health

    def publish_now(self) -> Health | None:
        """Publish one document if connected; return it (``None`` when offline)."""
        if not self.link.connected.is_set():
            return None
        health = self.build()
        try:
            self.link.publish(self._topic, health.model_dump_json().encode(), 1, True)
        except GatepostError as exc:
            log.error("health publish failed: %s", exc)
            return None
        self.last = health
        return health

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="health-reporter", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_now()
            except Exception:
                log.exception("health report failed")
            self._wake.wait(self.interval_s)
            self._wake.clear()

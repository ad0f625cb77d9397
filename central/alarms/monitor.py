"""The alarm monitor: turns committed events and periodic checks into alarms.

It listens to ingest's ``on_committed`` hook (events already in the
database) and, once a second, looks at what no event announces: a device
whose Last Will fired or whose heartbeats stopped, its health (backlog, clock
skew, barrier left open), open seq gaps and the site's occupancy. Changes
are pushed to the dashboard through the live hub.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from central.alarms import rules, store
from central.alarms.kinds import AlarmThresholds
from central.alarms.rules import BarrierWatch, DeviceFacts, Signal
from central.dashboard.live import LiveHub
from central.db.models import Device, SeqGap, SiteOccupancy
from central.periodic import Every
from edge.wire import parse_ts

log = logging.getLogger(__name__)


def event_fields(ev: Any) -> tuple[str, str, str, Mapping[str, Any], datetime]:
    """(site, device, type, data, device time) from an Event row, an Envelope or a dict."""

    def get(key: str) -> Any:
        return ev.get(key) if isinstance(ev, Mapping) else getattr(ev, key)

    ts = get("ts")
    at: datetime = parse_ts(ts) if isinstance(ts, str) else ts
    kind = get("type")
    return (
        str(get("site")),
        str(get("device")),
        str(getattr(kind, "value", kind)),
        get("data") or {},
        at,
    )


class AlarmMonitor:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        hub: LiveHub,
        *,
        thresholds: AlarmThresholds | None = None,
        clock: Callable[[], datetime],
        interval_s: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._hub = hub
        self._limits = thresholds or AlarmThresholds()
        self._clock = clock
        self._watch = BarrierWatch()
        self._lock = threading.Lock()  # one writer of alarms at a time in this process
        self._loop = Every(interval_s, self.tick, name="alarm-monitor")

    # ------------------------------------------------------------------ inputs

    def on_committed(self, events: Iterable[Any]) -> None:
        """Ingest listener: alarms carried by events (runs on ingest's thread; must not raise)."""
        signals: list[Signal] = []
        try:
            committed = self._clock()
            for ev in events:
                site, device, etype, data, at = event_fields(ev)
                # Central's receive time where the caller has it, else now (just committed): never the
                # device's ts, which a replayed backlog carries from long ago (see BarrierWatch).
                received = (
                    ev.get("received_at")
                    if isinstance(ev, Mapping)
                    else getattr(ev, "received_at", None)
                )
                if isinstance(received, str):
                    received = parse_ts(received)
                self._watch.observe_event(site, device, etype, at, received or committed)
                signals += rules.from_event(site, device, etype, data, at)
        except Exception:
            log.exception("alarm rules failed on a committed batch")
            return
        if signals:
            self.apply(signals)

    def tick(self) -> None:
        """One periodic check of devices, gaps and occupancy."""
        now = self._clock()
        with self._sessions() as db:
            devices = list(db.scalars(select(Device)))
            gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
            for gap in db.scalars(
                select(SeqGap).where(SeqGap.closed_at.is_(None)).order_by(SeqGap.from_seq)
            ):
                gaps.setdefault((gap.site, gap.device), []).append((gap.from_seq, gap.to_seq))
            occupancy = list(db.scalars(select(SiteOccupancy)))
        signals: list[Signal] = []
        keys = []
        for dev in devices:
            keys.append((dev.site, dev.device))
            facts = DeviceFacts(dev.site, dev.device, bool(dev.online), dev.last_seen, dev.health)
            signals += rules.from_device(facts, now, self._limits)
            if dev.online and dev.health:
                self._watch.observe_health(dev.site, dev.device, dev.health.get("barrier"), now)
        signals += self._watch.tick(keys, now, self._limits)
        signals += rules.from_gaps(gaps, keys, now)
        for occ in occupancy:
            signals += rules.from_occupancy(occ.site, occ.occupied, occ.capacity, now, occ.reserved)
        self.apply(signals)

    # ------------------------------------------------------------------ output

    def apply(self, signals: list[Signal]) -> None:
        for attempt in range(3):
            try:
                with self._lock, self._sessions() as db:
                    changed = store.apply(db, signals)
                    db.commit()
                    payloads = [store.as_dict(a) for a in changed]
                break
            except (
                IntegrityError,
                OperationalError,
            ) as exc:  # another writer raised the same alarm first
                log.warning(
                    "alarm write conflict (attempt %d): %s", attempt + 1, exc.__class__.__name__
                )
        else:
            log.error("alarm signals not applied after 3 attempts")
            return
        if payloads:
            self._hub.publish_many("alarm", payloads)

    # ------------------------------------------------------------------ thread

    def start(self) -> AlarmMonitor:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()

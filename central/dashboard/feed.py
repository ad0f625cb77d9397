"""From ingest commits to browsers and alarms, off ingest's thread.

:meth:`LiveFeed.on_committed` is the ingest ``on_committed`` listener: it only
queues the commit report. Its own thread then pushes new events to the live
hub, feeds the alarm monitor (events, gaps, device status, occupancy) and
sends fresh device tiles and occupancy to the dashboard. Command results
from lanes arrive here too (:meth:`on_command_result`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from central import commands
from central.alarms.monitor import AlarmMonitor
from central.dashboard.live import LiveHub
from central.db.models import Event
from central.periodic import Every
from edge.errors import PayloadError
from edge.wire import CommandResult, Envelope, EventType, format_ts, parse_topic

log = logging.getLogger(__name__)


def stored_event_dict(stored: Any) -> dict[str, Any]:
    """The SSE/API shape of a :class:`central.ingest.batch.StoredEvent`."""
    env = stored.envelope
    return {
        "id": env.id,
        "site": env.site,
        "device": env.device,
        "seq": env.seq,
        "type": env.type.value,
        "ts": env.ts,
        "received_at": format_ts(stored.received_at),
        "data": env.data,
    }


class LiveFeed:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        hub: LiveHub,
        monitor: AlarmMonitor,
        *,
        clock: Callable[[], datetime],
        device_dicts: Callable[[Session, set[tuple[str, str]]], list[dict[str, Any]]],
    ) -> None:
        self._sessions = sessions
        self._hub = hub
        self._monitor = monitor
        self._clock = clock
        self._device_dicts = device_dicts
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=100_000)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ inputs (other threads)

    def on_committed(self, report: Any) -> None:
        """Ingest listener; returns at once."""
        if self._thread is not None:
            self._hub.publish_many(
                "event", [stored_event_dict(s) for s in getattr(report, "events", [])]
            )
        try:
            self._queue.put_nowait(("commit", report))
        except queue.Full:
            log.error(
                "live feed queue full; a commit report was not turned into alarms (the periodic tick catches up)"
            )

    def on_command_result(self, topic: str, payload: bytes, at: datetime) -> None:
        try:
            self._queue.put_nowait(("cmd_result", (topic, payload, at)))
        except queue.Full:
            log.error("live feed queue full; a command result was dropped from the live view")

    # ------------------------------------------------------------------ worker

    def start(self) -> LiveFeed:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(("stop", None))
        if self._thread:
            self._thread.join(5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            kind, item = self._queue.get()
            try:
                if kind == "commit":
                    self._handle_commit(item)
                elif kind == "cmd_result":
                    self._handle_result(*item)
            except Exception:
                log.exception("live feed failed on a %s", kind)

    def _handle_commit(self, report: Any) -> None:
        stored = list(getattr(report, "events", []))
        if stored:
            self._monitor.on_committed([s.envelope for s in stored])
        changed_devices = {(d.site, d.device) for d in getattr(report, "devices", [])}
        if changed_devices or getattr(report, "gaps", None) or getattr(report, "occupancy", None):
            self._monitor.tick()  # offline, health, gaps and lot-full without waiting a second
        if changed_devices:
            with self._sessions() as db:
                self._hub.publish_many("device", self._device_dicts(db, changed_devices))
        for occ in getattr(report, "occupancy", []):
            self._hub.publish(
                "occupancy",
                {
                    "site": occ.site,
                    "occupied": occ.occupied,
                    "capacity": occ.capacity,
                    "reserved": occ.reserved,
                    "updated_at": format_ts(occ.updated_at),
                },
            )

    def _handle_result(self, topic: str, payload: bytes, at: datetime) -> None:
        try:
            parts = parse_topic(topic)
            result = CommandResult.model_validate_json(payload)
        except (PayloadError, ValueError) as exc:
            log.warning("bad cmd_result on %s: %s", topic, exc)
            return
        if parts.kind != "cmd_result" or parts.device is None:
            return
        with self._sessions() as db:
            row = commands.apply_result(db, parts.site, parts.device, result, now=at)
            db.commit()
            out = commands.as_dict(row) if row is not None else None
        if out is not None:
            self._hub.publish("command", out)


class EventTail:
    """Follows the events table when ingest runs in another process (``central run --no-ingest``).

    There is no ``on_committed`` hook across processes, so this polls for rows
    received recently and hands new ones to the live feed, as ingest's hook
    would. It looks back a few seconds each time (a batch may commit after a
    later-received one) and remembers the ids it has already passed on.
    """

    LOOKBACK = timedelta(seconds=5)

    def __init__(
        self,
        sessions: sessionmaker[Session],
        feed: LiveFeed,
        *,
        clock: Callable[[], datetime],
        interval_s: float = 0.25,
    ) -> None:
        self._sessions = sessions
        self._feed = feed
        self._clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._since = clock()
        self._loop = Every(interval_s, self.poll, name="event-tail")

    def poll(self) -> int:
        """One look at the table; returns how many new events were passed on."""
        with self._sessions() as db:
            rows = list(
                db.scalars(
                    select(Event)
                    .where(Event.received_at >= self._since - self.LOOKBACK)
                    .order_by(Event.received_at)
                    .limit(5000)
                )
            )
        fresh = [r for r in rows if r.id not in self._seen]
        for row in fresh:
            self._seen[row.id] = None
        while len(self._seen) > 50_000:
            self._seen.popitem(last=False)
        if rows:
            self._since = max(self._since, rows[-1].received_at)
        if fresh:
            self._feed.on_committed(_TailReport([_TailStored(r) for r in fresh]))
        return len(fresh)

    def start(self) -> EventTail:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()


@dataclass(slots=True, frozen=True)
class _TailStored:
    """A stored row dressed as ingest's StoredEvent (envelope + received_at)."""

    row: Event

    @property
    def envelope(self) -> Envelope:
        r = self.row
        return Envelope(
            v=1,
            id=r.id,
            seq=r.seq,
            ts=format_ts(r.ts),
            site=r.site,
            device=r.device,
            type=EventType(r.type),
            data=r.data,
        )

    @property
    def received_at(self) -> datetime:
        return self.row.received_at


@dataclass(slots=True)
class _TailReport:
    events: list[_TailStored] = field(default_factory=list)
    devices: list[Any] = field(default_factory=list)
    gaps: list[Any] = field(default_factory=list)
    occupancy: list[Any] = field(default_factory=list)

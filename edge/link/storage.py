"""Storage faults that fail safe: events held in memory while the disk refuses them.

DESIGN.md §4, "safety before bookkeeping": when the outbox (or any other local
store: used tickets, lane state, console ledger, kiosk store, snapshots) cannot
be written — disk full, read-only filesystem, I/O error, corrupt database — a
device must not stop closing its barrier because a record failed. The lane and
the kiosk send their events through a :class:`StorageGuard` instead of straight
to the outbox:

* while storage works, :meth:`StorageGuard.store` is the outbox's
  ``emit_many`` (durable when it returns, one transaction);
* when a write fails, the events are *held* in memory, in order, and every
  later event joins them (never jumping ahead, so ``seq`` order stays the
  order things happened); the device is told (:meth:`add_listener`) so it can
  stop starting transits it cannot record and say so;
* a probe thread retries every ``probe_interval_s``: it writes the held events
  to the outbox in order, each with its original time, and asks every other
  faulted store to write a probe row. When everything is written again the
  fault clears and the listeners hear it.

The hold is bounded (``hold_bound``). At the bound an event cannot be kept: it
is logged whole at CRITICAL (so the journal has it), counted in
:attr:`StorageGuard.overflowed`, reported in health, and
:class:`HoldFull` is raised — never a silent drop.

:meth:`status` gives the health fields ``storage`` ("ok" or the error text),
``storage_since`` and ``storage_held``; central raises ``storage_fault`` from them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from edge.errors import PayloadError, StorageFault
from edge.wire import EventData, EventType, format_ts, utc_now

log = logging.getLogger("gatepost.storage")

OUTBOX = "outbox"
"""The source name of the outbox's own faults."""

STORAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, sqlite3.Error)
"""What counts as a storage fault when a store is written (StorageFault and OutboxError are OSErrors)."""


class EventWriter(Protocol):
    """What the guard needs of the outbox: an all-or-nothing append that keeps a given time."""

    def emit_many(
        self, events: Sequence[tuple[EventType, EventData]], *, at: datetime | None = None
    ) -> Sequence[Any]: ...


class HoldFull(StorageFault):
    """Storage is failing and the in-memory hold is at its bound: this event could not be kept."""


@dataclass(slots=True, frozen=True)
class Fault:
    """One failing store: what it said and since when (the guard's clock)."""

    source: str
    detail: str
    since: datetime


@dataclass(slots=True, frozen=True)
class _Held:
    events: tuple[tuple[EventType, EventData], ...]
    at: datetime


class StorageGuard:
    """The device's one view of its storage: a sink that holds events through a fault.

    :param writer: the outbox (``emit_many(events, at=…)``).
    :param clock: stamps held events; give it the outbox's clock.
    :param hold_bound: events kept in memory at most while storage fails.
    :param probe_interval_s: how often a failing storage is tried again.
    """

    def __init__(
        self,
        writer: EventWriter,
        *,
        hold_bound: int = 5000,
        probe_interval_s: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if hold_bound < 1:
            raise ValueError(f"hold_bound must be at least 1, got {hold_bound}")
        self.writer = writer
        self.hold_bound = hold_bound
        self.probe_interval_s = probe_interval_s
        self._clock = clock
        self._lock = threading.RLock()
        self._probing = threading.Lock()
        self._held: deque[_Held] = deque()
        self._held_count = 0
        self._faults: dict[str, Fault] = {}
        self._probes: dict[str, Callable[[], None]] = {}
        self._listeners: list[Callable[[Fault | None], None]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.overflowed = 0
        """Events that could not be held (the hold was full); each was logged whole at CRITICAL."""
        self.flushed = 0
        """Held events written to the outbox after a fault (a figure for tests and metrics)."""

    # ----------------------------------------------------------------- the sink

    def store(self, events: Sequence[tuple[EventType, EventData]]) -> bool:
        """Write ``events`` durably (True), or hold them in memory through a fault (False).

        Raises :class:`~edge.errors.PayloadError` for a malformed event (a bug,
        not a fault) and :class:`HoldFull` when they can be neither written nor held.
        """
        batch = tuple(events)
        if not batch:
            return True
        now = self._clock()
        started: Fault | None = None
        try:
            with self._lock:
                if not self._held:
                    try:
                        self.writer.emit_many(batch)  # stamped by the outbox's own clock
                        return True
                    except PayloadError:
                        raise
                    except STORAGE_ERRORS as exc:
                        started = self._fail(OUTBOX, exc)
                self._hold(_Held(batch, now))
        finally:
            # Outside the guard's lock: a listener (the lane) takes its own lock, and another
            # thread may hold that one while it waits for ours.
            if started is not None:
                self._tell(started)
        self._wake.set()
        return False

    def emit(self, event_type: EventType, data: EventData) -> None:
        """One event (the :class:`~edge.lane.ports.EventSink` shape); held through a fault."""
        self.store([(event_type, data)])

    def emit_many(self, events: Sequence[tuple[EventType, EventData]]) -> None:
        self.store(events)

    def _hold(self, item: _Held) -> None:
        if self._held_count + len(item.events) > self.hold_bound:
            self.overflowed += len(item.events)
            for event_type, data in item.events:
                log.critical(
                    "STORAGE FAULT and the in-memory hold is full (%d events): event NOT kept: %s %s at %s",
                    self._held_count,
                    event_type,
                    data.model_dump_json(),
                    format_ts(item.at),
                    extra={"overflowed_total": self.overflowed},
                )
            raise HoldFull(
                f"storage failing and {self._held_count} events already held (bound {self.hold_bound})"
            )
        self._held.append(item)
        self._held_count += len(item.events)
        if self._held_count >= self.hold_bound * 0.8:
            log.error(
                "storage fault: %d of %d events held in memory", self._held_count, self.hold_bound
            )

    # ----------------------------------------------------------------- other stores

    def watch(self, source: str, probe: Callable[[], None]) -> None:
        """Register another store; ``probe()`` writes something small and raises if it cannot."""
        with self._lock:
            self._probes[source] = probe

    def report(self, source: str, exc: BaseException) -> None:
        """A store's write failed: the device is now in a storage fault until its probe passes."""
        with self._lock:
            started = self._fail(source, exc)
        self._wake.set()
        if started is not None:
            self._tell(started)

    def _fail(self, source: str, exc: BaseException) -> Fault | None:
        """Record a failing store; the fault when storage was healthy until now (tell the listeners)."""
        detail = f"{source}: {type(exc).__name__}: {exc}"[:480]
        first = not self._faults
        if source not in self._faults:
            log.critical("storage fault (%s): %s", source, detail)
            self._faults[source] = Fault(source, detail, self._clock())
        return self._faults[source] if first else None

    # ----------------------------------------------------------------- state

    @property
    def fault(self) -> Fault | None:
        """The first store that failed (the oldest fault), or None when storage is healthy."""
        with self._lock:
            return min(self._faults.values(), key=lambda f: f.since) if self._faults else None

    @property
    def held(self) -> int:
        with self._lock:
            return self._held_count

    def status(self) -> dict[str, Any]:
        """Health fields: ``storage`` ("ok" or the error), ``storage_since``, ``storage_held``."""
        with self._lock:
            fault = self.fault
            held, overflowed = self._held_count, self.overflowed
        return {
            "storage": "ok" if fault is None else fault.detail,
            "storage_since": None if fault is None else format_ts(fault.since),
            "storage_held": held,
            "storage_lost": overflowed,
        }

    def add_listener(self, listener: Callable[[Fault | None], None]) -> None:
        """Called with the fault when storage starts failing, with None when it recovered."""
        self._listeners.append(listener)

    def _tell(self, fault: Fault | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(fault)
            except Exception:
                log.exception("storage listener failed")

    # ----------------------------------------------------------------- recovery

    def probe(self) -> bool:
        """Try to write everything held and every faulted store once; True when storage is healthy.

        The writes run outside the guard's lock: the outbox calls its listeners
        (the lane's backlog alarm takes the lane's lock), and the lane thread may
        hold that lock while it waits for ours in :meth:`store`. Only this method
        takes held events off the front, so the order stays the order decided.
        """
        with self._probing:
            with self._lock:
                if not self._faults:
                    return True
            while True:
                with self._lock:
                    if not self._held:
                        break
                    item = self._held[0]
                try:
                    self.writer.emit_many(item.events, at=item.at)
                except (
                    PayloadError
                ):  # cannot happen for events built once already; never loop on it
                    log.exception("held events refused as malformed; logged and skipped")
                except STORAGE_ERRORS as exc:
                    log.info("storage still failing (%s): %d events held", exc, self.held)
                    return False
                with self._lock:
                    self._held.popleft()
                    self._held_count -= len(item.events)
                    self.flushed += len(item.events)
            with self._lock:
                others = [
                    (source, self._probes.get(source))
                    for source in self._faults
                    if source != OUTBOX
                ]
            for source, check in others:
                try:
                    if check is not None:
                        check()
                except STORAGE_ERRORS as exc:
                    log.info("storage %s still failing: %s", source, exc)
                    return False
            with self._lock:
                if self._held:
                    return False  # a write failed again meanwhile: the next round takes it
                self._faults.pop(OUTBOX, None)
                for source, _ in others:
                    self._faults.pop(source, None)
                if self._faults:
                    return False  # another store failed meanwhile
            log.warning("storage recovered: held events written (%d in all)", self.flushed)
        self._tell(None)
        return True

    def start(self) -> StorageGuard:
        """Start the probe thread (it only works while storage is failing)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="storage-probe", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Stop probing; one last try, and say loudly what is still held (it dies with the process)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._faults and not self.probe():
            with self._lock:
                for item in self._held:
                    for event_type, data in item.events:
                        log.critical(
                            "stopping with storage failing: event never written: %s %s at %s",
                            event_type,
                            data.model_dump_json(),
                            format_ts(item.at),
                        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(None if not self._faults else self.probe_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            if not self._faults:
                continue
            # The first wake comes with the fault itself: wait one interval before trying again.
            if self._stop.wait(self.probe_interval_s):
                return
            try:
                self.probe()
            except Exception:
                log.exception("storage probe crashed")

"""The lane's event sink as the booth console sees it: the outbox, with a copy into the shift ledger.

The console wraps each lane's sink once (:func:`watch_lane`). An event reaches
the outbox first (durable, as the lane requires before the barrier moves),
then its copy goes into the console's ledger. A ledger that cannot be written
never stops the lane: the failure is logged and the shift report will say less
than the outbox did, which the central reconciliation still shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from edge.console.store import ConsoleStore
from edge.errors import GatepostError
from edge.lane.lane import Lane
from edge.wire import EventData, EventType, format_ts

log = logging.getLogger("gatepost.console.ledger")


def _plain(data: EventData | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(data, EventData):
        return data.model_dump(mode="json")
    return dict(data)


class LedgerSink:
    """An :class:`~edge.lane.ports.EventSink` that forwards to the lane's own and copies into the ledger."""

    def __init__(
        self,
        inner: Any,
        store: ConsoleStore,
        lane: str,
        clock: Callable[[], datetime],
        on_fault: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.inner = inner
        self._on_fault = on_fault
        """The lane's storage guard (``report``): a ledger that cannot be written is a storage fault."""
        self._store = store
        self._lane = lane
        self._clock = clock

    def emit(self, event_type: EventType, data: EventData) -> Any:
        envelope = self.inner.emit(event_type, data)
        self._copy([(event_type, data)])
        return envelope

    def emit_many(
        self, events: Sequence[tuple[EventType, EventData]], *, at: datetime | None = None
    ) -> Any:
        emit_many = getattr(self.inner, "emit_many", None)
        if callable(emit_many):
            out = (
                emit_many(events, at=at) if at is not None else emit_many(events)
            )  # at: held through a storage fault
        else:
            out = [self.inner.emit(t, d) for t, d in events]
        self._copy(list(events))
        return out

    def _copy(self, events: list[tuple[EventType, EventData]]) -> None:
        at = self._clock()
        for event_type, data in events:
            try:
                plain = _plain(data)
                self._store.record(self._lane, str(event_type), plain, at)
                if plain.get("snapshot"):
                    # The console shows the latest vehicle's picture beside its lane.
                    self._store.put(
                        f"snapshot:{self._lane}",
                        {"ref": plain["snapshot"], "event": str(event_type)},
                    )
            except GatepostError as exc:
                log.error("shift ledger not written for %s: %s", event_type, exc)
                if self._on_fault is not None and isinstance(exc, OSError):
                    self._on_fault("console_ledger", exc)

    def __getattr__(self, name: str) -> Any:
        # Anything else (depth, pending, close…) is the outbox's own business.
        return getattr(self.inner, name)


def watch_lane(lane: Lane, store: ConsoleStore, clock: Callable[[], datetime]) -> LedgerSink:
    """Put the ledger between ``lane`` and its outbox (once; a second call returns the same wrapper)."""
    if isinstance(lane.sink, LedgerSink):
        return lane.sink
    sink = LedgerSink(lane.sink, store, lane.name, clock, on_fault=lane.storage.report)
    # While the ledger fails the lane is in a storage fault; this write says when it works again.
    lane.storage.watch(
        "console_ledger", lambda: store.put("storage_probe", {"at": format_ts(clock())})
    )
    lane.sink = sink
    return sink

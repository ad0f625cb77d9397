"""Pure alarm rules: facts in, raise/clear signals out. No I/O; the clock is an argument.

:func:`from_event` reads one committed event; :func:`from_device` reads a
device's availability and last health; :func:`from_occupancy` and
:func:`from_gaps` read the site's count and the open seq gaps;
:class:`BarrierWatch` remembers when each barrier opened so that a barrier
left up can be noticed on a later tick, when no event arrives at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from central.alarms.kinds import SITE_WIDE, AlarmKind, AlarmThresholds

FORGERY_REASONS = frozenset({"forged", "already_used", "unknown_key", "wrong_site"})


@dataclass(slots=True, frozen=True)
class Signal:
    """Raise (or refresh) or clear the one active alarm for ``(site, device, kind)``."""

    action: Literal["raise", "clear"]
    site: str
    device: str
    kind: AlarmKind
    at: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class DeviceFacts:
    """What central knows about one device at a tick."""

    site: str
    device: str
    online: bool
    last_seen: datetime | None
    health: Mapping[str, Any] | None


def from_event(
    site: str, device: str, event_type: str, data: Mapping[str, Any], at: datetime
) -> list[Signal]:
    """Alarm signals carried by one event (already validated by ingest)."""
    if event_type == "barrier_fault":
        return [
            Signal(
                "raise",
                site,
                device,
                AlarmKind.BARRIER_FAULT,
                at,
                {"expected": data.get("expected"), "detail": data.get("detail", "")},
            )
        ]
    if event_type == "incident_reported":
        kind = AlarmKind.FORCED_ENTRY if data.get("kind") == "forced_entry" else AlarmKind.INCIDENT
        detail = {
            k: data.get(k)
            for k in ("kind", "description", "guard", "plate")
            if data.get(k) is not None
        }
        return [Signal("raise", site, device, kind, at, detail)]
    if event_type == "ticket_rejected" and data.get("reason") in FORGERY_REASONS:
        return [
            Signal(
                "raise",
                site,
                device,
                AlarmKind.FORGED_OR_REUSED_TICKET,
                at,
                {k: data.get(k) for k in ("reason", "serial", "detail")},
            )
        ]
    if event_type == "entry_refused_full":
        return [
            Signal(
                "raise",
                site,
                SITE_WIDE,
                AlarmKind.LOT_FULL,
                at,
                {
                    "occupied": data.get("occupied"),
                    "capacity": data.get("capacity"),
                    "lane": device,
                },
            )
        ]
    if event_type == "local_access_refused":
        # Someone keeps trying the booth console / lane API / kiosk page without the right.
        detail = {
            k: data.get(k)
            for k in ("page", "count", "window_s", "reasons", "last_path", "last_peer")
        }
        return [Signal("raise", site, device, AlarmKind.LOCAL_ACCESS_REFUSED, at, detail)]
    if event_type == "outbox_backlog":
        return [
            Signal(
                "raise",
                site,
                device,
                AlarmKind.OUTBOX_BACKLOG,
                at,
                {"depth": data.get("depth"), "bound": data.get("bound")},
            )
        ]
    return []


def from_device(facts: DeviceFacts, now: datetime, limits: AlarmThresholds) -> list[Signal]:
    """Offline (Last Will or missed heartbeats), outbox backlog, clock skew and storage for one device."""
    site, device = facts.site, facts.device
    out: list[Signal] = []
    silent_s = (now - facts.last_seen).total_seconds() if facts.last_seen else None
    if not facts.online:
        out.append(
            Signal(
                "raise",
                site,
                device,
                AlarmKind.DEVICE_OFFLINE,
                now,
                {"cause": "last_will", "last_seen_s": _round(silent_s)},
            )
        )
        return out  # a stale health document says nothing about the device now
    if silent_s is not None and silent_s > limits.heartbeat_timeout_s:
        out.append(
            Signal(
                "raise",
                site,
                device,
                AlarmKind.DEVICE_OFFLINE,
                now,
                {"cause": "missed_heartbeats", "last_seen_s": _round(silent_s)},
            )
        )
        return out
    out.append(Signal("clear", site, device, AlarmKind.DEVICE_OFFLINE, now))
    health = facts.health or {}
    depth = _int(health.get("outbox_depth"))
    oldest = _int(health.get("oldest_unsent_s"))
    if depth is not None:
        if depth >= limits.outbox_raise_depth or (
            oldest is not None and depth > 0 and oldest >= limits.outbox_oldest_s
        ):
            out.append(
                Signal(
                    "raise",
                    site,
                    device,
                    AlarmKind.OUTBOX_BACKLOG,
                    now,
                    {"depth": depth, "oldest_unsent_s": oldest},
                )
            )
        elif depth <= limits.outbox_clear_depth:
            out.append(Signal("clear", site, device, AlarmKind.OUTBOX_BACKLOG, now))
    storage = health.get("storage")
    if isinstance(storage, str):  # a device too old to report storage says nothing about it
        if storage != "ok":
            out.append(
                Signal(
                    "raise",
                    site,
                    device,
                    AlarmKind.STORAGE_FAULT,
                    now,
                    {
                        "error": storage[:500],
                        "since": health.get("storage_since"),
                        "held": _int(health.get("storage_held")),
                        "lost": _int(health.get("storage_lost")),
                    },
                )
            )
        else:
            out.append(Signal("clear", site, device, AlarmKind.STORAGE_FAULT, now))
    skew = _int(health.get("clock_skew_ms"))
    if skew is not None:
        if abs(skew) > limits.clock_skew_max_ms:
            out.append(
                Signal(
                    "raise",
                    site,
                    device,
                    AlarmKind.CLOCK_SKEW,
                    now,
                    {"skew_ms": skew, "synced": bool(health.get("clock_synced"))},
                )
            )
        else:
            out.append(Signal("clear", site, device, AlarmKind.CLOCK_SKEW, now))
    return out


def from_occupancy(
    site: str, occupied: int, capacity: int | None, now: datetime, reserved: int = 0
) -> list[Signal]:
    """Full means a visitor would be refused: free spaces at or below those kept for residents."""
    if not capacity:
        return [Signal("clear", site, SITE_WIDE, AlarmKind.LOT_FULL, now)]
    if occupied >= capacity - max(0, reserved or 0):
        return [
            Signal(
                "raise",
                site,
                SITE_WIDE,
                AlarmKind.LOT_FULL,
                now,
                {"occupied": occupied, "capacity": capacity, "reserved": reserved or 0},
            )
        ]
    return [Signal("clear", site, SITE_WIDE, AlarmKind.LOT_FULL, now)]


def from_gaps(
    open_gaps: Mapping[tuple[str, str], list[tuple[int, int]]],
    known_devices: Iterable[tuple[str, str]],
    now: datetime,
) -> list[Signal]:
    """A seq_gap alarm per device with open gaps; a clear for every other known device."""
    out = [
        Signal(
            "raise",
            site,
            device,
            AlarmKind.SEQ_GAP,
            now,
            {"gaps": [list(g) for g in gaps[:20]], "missing": sum(b - a + 1 for a, b in gaps)},
        )
        for (site, device), gaps in open_gaps.items()
        if gaps
    ]
    out += [
        Signal("clear", site, device, AlarmKind.SEQ_GAP, now)
        for site, device in known_devices
        if not open_gaps.get((site, device))
    ]
    return out


class BarrierWatch:
    """Remembers when each barrier went up, to notice one left open with no further events.

    An opening is timed from when central received it, not from the device's
    ``ts``. A lane replaying its outbox after an outage (or a Pi whose clock is
    behind, or the demo's replayed past) delivers a ``barrier_opened`` dated
    minutes or days ago whose ``barrier_closed`` follows a moment later; timed
    on the device's clock it would be "held open" the instant it arrived. From
    its arrival, only a barrier that central hears nothing more about for
    ``barrier_open_max_s`` raises, and the device's own later events (the close,
    or a health report saying closed) end the watch.
    """

    def __init__(self) -> None:
        self._opened: dict[tuple[str, str], datetime] = {}

    def observe_event(
        self,
        site: str,
        device: str,
        event_type: str,
        at: datetime,
        received_at: datetime | None = None,
    ) -> None:
        """``at``: the device's time; ``received_at``: central's (defaults to ``at`` for callers without it)."""
        key = (site, device)
        if event_type in ("barrier_opened", "manual_raise"):
            self._opened.setdefault(key, received_at or at)
        elif event_type in ("barrier_closed", "manual_close"):
            self._opened.pop(key, None)

    def observe_health(self, site: str, device: str, barrier: str | None, now: datetime) -> None:
        """Health tells the barrier position even if an event was lost."""
        key = (site, device)
        if barrier == "open":
            self._opened.setdefault(key, now)
        elif barrier in ("closed", "closing"):
            self._opened.pop(key, None)

    def tick(
        self, devices: Iterable[tuple[str, str]], now: datetime, limits: AlarmThresholds
    ) -> list[Signal]:
        out: list[Signal] = []
        for site, device in devices:
            opened = self._opened.get((site, device))
            if opened is not None and (now - opened).total_seconds() > limits.barrier_open_max_s:
                out.append(
                    Signal(
                        "raise",
                        site,
                        device,
                        AlarmKind.BARRIER_HELD_OPEN,
                        now,
                        {"open_s": _round((now - opened).total_seconds())},
                    )
                )
            elif opened is None:
                out.append(Signal("clear", site, device, AlarmKind.BARRIER_HELD_OPEN, now))
        return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _round(value: float | None) -> int | None:
    return None if value is None else int(value)

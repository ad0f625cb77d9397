"""Site occupancy: how many cars are inside, derived from entries and exits.

Counters drift (a missed loop, a tailgater, a lane that replays a day of
events), so the count is clamped to 0..capacity, a guard can correct it, and
it is reconciled against the tickets still open. Central publishes the count
retained on ``gatepost/v1/{site}/config/occupancy``; entry lanes use it and
fall back to their own count when central is out of reach.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from central.db.dml import insert_ignore_rows
from central.db.models import OccupancySample, Site, SiteOccupancy
from central.ingest.clock import event_time
from central.ingest.tickets import open_tickets
from edge import wire
from edge.errors import PayloadError
from edge.wire import ConfigKind, Envelope, EventData, EventType

log = logging.getLogger(__name__)

OCCUPANCY_EVENTS = frozenset(
    {EventType.VEHICLE_ENTERED, EventType.VEHICLE_EXITED, EventType.OCCUPANCY_CORRECTED}
)


# --------------------------------------------------------------------------- pure rules


def clamp(occupied: int, capacity: int | None) -> int:
    """Never negative, never above capacity (when capacity is known)."""
    occupied = max(0, occupied)
    return occupied if capacity is None else min(occupied, capacity)


def step(
    occupied: int,
    capacity: int | None,
    corrected_at: datetime | None,
    envelope: Envelope,
    data: EventData,
) -> tuple[int, datetime | None]:
    """The count and correction time after one event.

    An entry or exit the device stamped before the last correction is already
    counted in that correction (the lane was catching up) and changes nothing.
    """
    if envelope.type == EventType.OCCUPANCY_CORRECTED and isinstance(data, wire.OccupancyCorrected):
        return clamp(data.occupied, capacity), event_time(envelope)
    if envelope.type not in (EventType.VEHICLE_ENTERED, EventType.VEHICLE_EXITED):
        return occupied, corrected_at
    if corrected_at is not None and event_time(envelope) <= corrected_at:
        return occupied, corrected_at
    delta = 1 if envelope.type == EventType.VEHICLE_ENTERED else -1
    return clamp(occupied + delta, capacity), corrected_at


@dataclass(slots=True, frozen=True)
class OccupancyView:
    """A site's count as published; plain data for listeners and the dashboard."""

    site: str
    occupied: int
    capacity: int | None
    reserved: int
    updated_at: datetime
    version: int


def view(row: SiteOccupancy) -> OccupancyView:
    return OccupancyView(
        row.site, row.occupied, row.capacity, row.reserved, row.updated_at, row.version
    )


def document(state: OccupancyView) -> tuple[str, bytes] | None:
    """The retained topic and payload for ``state``; None while the capacity is unknown.

    Publishing a count without a capacity would read as "capacity 0, full" to
    a lane, so nothing is published until a capacity is configured.
    """
    if state.capacity is None:
        return None
    stamp = wire.format_ts(state.updated_at)
    doc = wire.SiteConfig(
        kind=ConfigKind.OCCUPANCY,
        version=state.version,
        ts=stamp,
        data=wire.Occupancy(
            occupied=state.occupied, capacity=state.capacity, as_of=stamp
        ).model_dump(),
    )
    return wire.config_topic(state.site, ConfigKind.OCCUPANCY), doc.model_dump_json().encode()


# --------------------------------------------------------------------------- storage


def _rows(session: Session, sites: Iterable[str], now: datetime) -> dict[str, SiteOccupancy]:
    """The sites' occupancy rows, created if missing and locked for this transaction."""
    keys = sorted(set(sites))
    if not keys:
        return {}
    known = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(keys)))}
    insert_ignore_rows(
        session,
        SiteOccupancy,
        [
            {
                "site": k,
                "occupied": 0,
                "capacity": known[k].capacity if k in known else None,
                "reserved": known[k].reserved if k in known else 0,
                "updated_at": now,
                "version": 0,
            }
            for k in keys
        ],
    )
    query = (
        select(SiteOccupancy)
        .where(SiteOccupancy.site.in_(keys))
        .order_by(SiteOccupancy.site)
        .with_for_update()
    )
    return {row.site: row for row in session.scalars(query)}


def store(
    session: Session, items: Sequence[tuple[Envelope, EventData]], now: datetime
) -> list[OccupancyView]:
    """Fold the batch's entries, exits and corrections into the counts; return the changed sites."""
    relevant = sorted(
        ((env, data) for env, data in items if env.type in OCCUPANCY_EVENTS),
        key=lambda item: (event_time(item[0]), item[0].seq),
    )
    if not relevant:
        return []
    rows = _rows(session, (env.site for env, _ in relevant), now)
    changed: set[str] = set()
    for env, data in relevant:
        row = rows[env.site]
        occupied, corrected_at = step(row.occupied, row.capacity, row.corrected_at, env, data)
        if env.type == EventType.OCCUPANCY_CORRECTED:
            log.info(
                "occupancy corrected",
                extra={
                    "site": env.site,
                    "device": env.device,
                    "from": row.occupied,
                    "to": occupied,
                },
            )
        if (occupied, corrected_at) != (row.occupied, row.corrected_at):
            row.occupied, row.corrected_at = occupied, corrected_at
            changed.add(env.site)
    return _bump(rows, changed, now)


def _bump(
    rows: dict[str, SiteOccupancy], changed: Iterable[str], now: datetime
) -> list[OccupancyView]:
    out = []
    for site in sorted(changed):
        row = rows[site]
        row.version = wire.config_version(now, row.version)
        row.updated_at = now
        out.append(view(row))
    return out


def set_capacity(
    session: Session, site: str, capacity: int, reserved: int, now: datetime
) -> OccupancyView:
    """Configure a site's capacity (and reserved spaces); the count is clamped to it."""
    wire.check_id(site, "site")
    if capacity < 0 or not 0 <= reserved <= capacity:
        raise PayloadError(
            f"capacity {capacity} / reserved {reserved}: need 0 <= reserved <= capacity"
        )
    insert_ignore_rows(
        session, Site, [{"id": site, "name": site, "capacity": capacity, "reserved": reserved}]
    )
    row_site = session.get(Site, site, with_for_update=True)
    assert row_site is not None
    row_site.capacity, row_site.reserved = capacity, reserved
    row = _rows(session, [site], now)[site]
    row.capacity, row.reserved = capacity, reserved
    row.occupied = clamp(row.occupied, capacity)
    return _bump({site: row}, [site], now)[0]


def learn_capacity(
    session: Session, site: str, capacity: int, reserved: int, now: datetime
) -> OccupancyView | None:
    """Take a capacity a lane reports if central has none configured yet."""
    current = session.get(Site, site)
    if current is not None and current.capacity is not None:
        return None
    return set_capacity(session, site, capacity, min(reserved, capacity), now)


def correct(session: Session, site: str, occupied: int, now: datetime) -> OccupancyView:
    """A supervisor's correction made at central (a lane's arrives as an event instead)."""
    wire.check_id(site, "site")
    if occupied < 0:
        raise PayloadError(f"occupied {occupied} is negative")
    row = _rows(session, [site], now)[site]
    row.occupied = clamp(occupied, row.capacity)
    row.corrected_at = now
    return _bump({site: row}, [site], now)[0]


@dataclass(slots=True, frozen=True)
class Reconciliation:
    site: str
    counted: int
    open_tickets: int
    occupied: int

    @property
    def corrected(self) -> bool:
        return self.counted != self.occupied


def reconcile(
    session: Session, site: str, now: datetime, window: timedelta = timedelta(hours=24)
) -> tuple[Reconciliation, OccupancyView | None]:
    """Raise the count to the tickets still open from the last ``window``.

    A car holding an open ticket is inside, so the count cannot be lower;
    it can be higher (residents and staff enter on badges, without tickets).
    Older open tickets are treated as lost cards and do not count.
    """
    row = _rows(session, [site], now)[site]
    inside = open_tickets(session, site, now - window)
    target = clamp(max(row.occupied, inside), row.capacity)
    result = Reconciliation(site, row.occupied, inside, target)
    if not result.corrected:
        return result, None
    log.warning(
        "occupancy below open tickets; raised",
        extra={"site": site, "counted": row.occupied, "open_tickets": inside},
    )
    row.occupied = target
    return result, _bump({site: row}, [site], now)[0]


def restamp(session: Session, now: datetime) -> None:
    """Give every site's count a new version (central's time), e.g. when central starts.

    The database may have been restored from a backup since the last
    publish, and its versions then lie below what the lanes hold; the first
    republish after a start must outrank that, or lanes would keep ignoring
    the count until the next car moved it.
    """
    for row in session.scalars(select(SiteOccupancy).with_for_update()):
        row.version = wire.config_version(now, row.version)


def current(session: Session) -> list[OccupancyView]:
    return [
        view(row) for row in session.scalars(select(SiteOccupancy).order_by(SiteOccupancy.site))
    ]


def sample(session: Session, now: datetime, keep: timedelta = timedelta(days=8)) -> int:
    """Add one chart point per site and drop points older than ``keep``; return points added."""
    views = current(session)
    session.add_all(OccupancySample(site=v.site, at=now, occupied=v.occupied) for v in views)
    session.execute(delete(OccupancySample).where(OccupancySample.at < now - keep))
    return len(views)

"""The ticket lifecycle table, built from the lanes' events.

A ticket goes issued → quoted → paid (or lost / free) → exited. Events from
the entry and exit lanes can reach central in any order (each lane catches up
on its own), so every event sets only the columns it knows and the status
only ever moves forward: an exit that arrives before its issue still ends as
``exited`` with the entry filled in later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from central.db.dml import upsert_rows
from central.db.models import Ticket
from central.ingest.clock import event_time
from edge import wire
from edge.wire import Envelope, EventData, EventType

STATUS_RANK = {"issued": 1, "quoted": 2, "paid": 3, "lost": 3, "free": 3, "exited": 4}
"""How far along a ticket is; a status never moves to a lower rank."""

TICKET_EVENTS = frozenset(
    {
        EventType.TICKET_ISSUED,
        EventType.FEE_QUOTED,
        EventType.PAYMENT_CONFIRMED,
        EventType.LOST_TICKET,
        EventType.FREE_EXIT,
        EventType.VEHICLE_ENTERED,
        EventType.VEHICLE_EXITED,
    }
)


@dataclass(slots=True, frozen=True)
class TicketState:
    """A ticket row as plain data, so the lifecycle rules need no database."""

    serial: str
    site: str
    status: str
    entry_device: str | None = None
    entry_at: datetime | None = None
    exit_device: str | None = None
    exit_at: datetime | None = None
    minutes: int | None = None
    fee_minor: int | None = None
    currency: str | None = None
    payment_method: str | None = None
    vehicle_class: str | None = None


def serial_of(envelope: Envelope, data: EventData) -> str | None:
    """The ticket serial an event is about, or None if it is not about a ticket."""
    if envelope.type not in TICKET_EVENTS:
        return None
    return getattr(data, "serial", None)


def apply(state: TicketState | None, envelope: Envelope, data: EventData) -> TicketState | None:
    """The ticket after ``envelope``; None if the event says nothing about a ticket."""
    serial = serial_of(envelope, data)
    if serial is None:
        return state
    if state is None:
        state = TicketState(serial=serial, site=envelope.site, status="issued")
    at = event_time(envelope)
    kind = envelope.type
    if kind == EventType.TICKET_ISSUED and isinstance(data, wire.TicketIssued):
        return _advance(
            replace(
                state,
                entry_device=envelope.device,
                entry_at=_ts_or(data.entry_at, at),
                vehicle_class=data.vehicle_class,
            ),
            "issued",
        )
    if kind == EventType.FEE_QUOTED and isinstance(data, wire.FeeQuoted):
        return _advance(
            replace(
                state,
                minutes=data.minutes,
                fee_minor=data.fee_minor,
                currency=data.currency,
                vehicle_class=data.vehicle_class,
            ),
            "quoted",
        )
    if kind == EventType.PAYMENT_CONFIRMED and isinstance(data, wire.PaymentConfirmed):
        return _advance(
            replace(
                state,
                fee_minor=data.fee_minor,
                currency=data.currency,
                payment_method=data.method,
                minutes=data.minutes or state.minutes,
                vehicle_class=state.vehicle_class or data.vehicle_class,
            ),
            "paid",
        )
    if kind == EventType.LOST_TICKET and isinstance(data, wire.LostTicket):
        return _advance(replace(state, fee_minor=data.fee_minor, currency=data.currency), "lost")
    if kind == EventType.FREE_EXIT and isinstance(data, wire.FreeExit):
        return _advance(replace(state, fee_minor=0, payment_method="free"), "free")
    if kind == EventType.VEHICLE_ENTERED and isinstance(data, wire.VehiclePassed):
        if state.entry_at is not None:
            return state
        return replace(
            state,
            entry_device=envelope.device,
            entry_at=at,
            vehicle_class=state.vehicle_class or data.vehicle_class,
        )
    if kind == EventType.VEHICLE_EXITED and isinstance(data, wire.VehiclePassed):
        return _advance(
            replace(
                state,
                exit_device=envelope.device,
                exit_at=at,
                minutes=data.minutes if data.minutes is not None else state.minutes,
                fee_minor=data.fee_minor if data.fee_minor is not None else state.fee_minor,
            ),
            "exited",
        )
    return state


def _advance(state: TicketState, status: str) -> TicketState:
    if STATUS_RANK[status] >= STATUS_RANK.get(state.status, 0):
        return replace(state, status=status)
    return state


def _ts_or(text: str, fallback: datetime) -> datetime:
    try:
        return wire.parse_ts(text)
    except ValueError:
        return fallback


_COLUMNS = [f.name for f in fields(TicketState)]


def store(session: Session, items: Sequence[tuple[Envelope, EventData]]) -> list[TicketState]:
    """Fold the batch's ticket events into the tickets table; return the changed tickets.

    Events are applied in device-time order per serial. Runs inside the
    ingest transaction; rows are locked (PostgreSQL) so two workers folding
    events of the same ticket do not overwrite each other.
    """
    relevant = [(env, data) for env, data in items if serial_of(env, data) is not None]
    if not relevant:
        return []
    relevant.sort(key=lambda item: (event_time(item[0]), item[0].seq))
    serials = sorted({s for env, data in relevant if (s := serial_of(env, data)) is not None})
    _lock_sites(session, {env.site for env, _ in relevant})
    table = cast(Table, Ticket.__table__)
    found = session.connection().execute(
        select(table).where(table.c.serial.in_(serials)).with_for_update()
    )
    states: dict[str, TicketState | None] = {s: None for s in serials}
    for row in found.mappings():
        states[row["serial"]] = TicketState(**{name: row[name] for name in _COLUMNS})
    for env, data in relevant:
        serial = serial_of(env, data)
        assert serial is not None
        states[serial] = apply(states[serial], env, data)
    changed = [state for state in states.values() if state is not None]
    upsert_rows(
        session,
        Ticket,
        [{name: getattr(st, name) for name in _COLUMNS} for st in changed],
        key=["serial"],
    )
    return changed


def _lock_sites(session: Session, sites: set[str]) -> None:
    """Serialise ticket folding per site across workers (PostgreSQL; SQLite has one writer anyway).

    Row locks cannot cover a ticket row that does not exist yet, and two workers
    each inserting half of a ticket's history would overwrite each other.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for site in sorted(sites):
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"gatepost-tickets:{site}"},
        )


def open_tickets(session: Session, site: str, since: datetime) -> int:
    """Tickets of ``site`` issued since ``since`` whose car has not left: cars certainly inside."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(
                Ticket.site == site,
                Ticket.status.in_(("issued", "quoted", "paid")),
                Ticket.entry_at >= since,
            )
        )
        or 0
    )

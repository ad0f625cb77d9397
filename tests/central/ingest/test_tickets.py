"""The ticket lifecycle: issued → quoted → paid → exited, whatever order the lanes' events arrive in."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from central.db.models import Ticket
from central.db.session import make_sessions
from central.ingest import batch
from edge import wire
from edge.wire import EventType
from tests.central.ingest.test_occupancy import NOW, msg

ENTRY = NOW - timedelta(minutes=95)


def issued(serial: str = "A0001") -> wire.Envelope:
    data = wire.TicketIssued(
        serial=serial, entry_at=wire.format_ts(ENTRY), vehicle_class="car", medium="card", key_id=3
    )
    return wire.make_event("s1", "in-1", 1, data, EventType.TICKET_ISSUED, at=ENTRY)


def quoted(serial: str = "A0001") -> wire.Envelope:
    data = wire.FeeQuoted(
        serial=serial, minutes=95, fee_minor=1000, currency="CNY", vehicle_class="car"
    )
    return wire.make_event(
        "s1", "out-1", 1, data, EventType.FEE_QUOTED, at=NOW - timedelta(seconds=30)
    )


def paid(serial: str = "A0001") -> wire.Envelope:
    data = wire.PaymentConfirmed(
        serial=serial, fee_minor=1000, currency="CNY", method="cash", minutes=95, guard="g7"
    )
    return wire.make_event(
        "s1", "out-1", 2, data, EventType.PAYMENT_CONFIRMED, at=NOW - timedelta(seconds=20)
    )


def left(serial: str = "A0001") -> wire.Envelope:
    data = wire.VehiclePassed(serial=serial, minutes=95, fee_minor=1000)
    return wire.make_event(
        "s1", "out-1", 3, data, EventType.VEHICLE_EXITED, at=NOW - timedelta(seconds=10)
    )


def ticket(engine, serial: str = "A0001") -> Ticket:
    with make_sessions(engine)() as session:
        return session.scalars(select(Ticket).where(Ticket.serial == serial)).one()


def test_lifecycle_in_order(engine):
    sessions = make_sessions(engine)
    for env in (issued(), quoted(), paid(), left()):
        with sessions.begin() as session:
            batch.process(session, [msg(env)], NOW)
    row = ticket(engine)
    assert (row.status, row.entry_device, row.entry_at, row.exit_device) == (
        "exited",
        "in-1",
        ENTRY,
        "out-1",
    )
    assert (row.minutes, row.fee_minor, row.currency, row.payment_method, row.vehicle_class) == (
        95,
        1000,
        "CNY",
        "cash",
        "car",
    )
    assert row.exit_at == NOW - timedelta(seconds=10)


def test_exit_lane_events_before_the_entry_lane_catches_up(engine):
    sessions = make_sessions(engine)
    with sessions.begin() as session:
        batch.process(session, [msg(left()), msg(paid())], NOW)  # the entry lane was offline
    assert ticket(engine).status == "exited"
    with sessions.begin() as session:
        batch.process(session, [msg(issued())], NOW)
    row = ticket(engine)
    assert (row.status, row.entry_at, row.payment_method) == (
        "exited",
        ENTRY,
        "cash",
    )  # never moves back


def test_free_exit_and_lost_ticket(engine):
    sessions = make_sessions(engine)
    free = wire.make_event(
        "s1",
        "out-1",
        9,
        wire.FreeExit(serial="B1", reason="ambulance / 救护车", authorised_by="sup"),
        EventType.FREE_EXIT,
        at=NOW,
    )
    lost = wire.make_event(
        "s1",
        "out-1",
        10,
        wire.LostTicket(serial="B2", plate="沪A12345", fee_minor=5000, currency="CNY"),
        EventType.LOST_TICKET,
        at=NOW,
    )
    with sessions.begin() as session:
        report = batch.process(session, [msg(issued("B1")), msg(free), msg(lost)], NOW)
    assert {t.serial: t.status for t in report.tickets} == {"B1": "free", "B2": "lost"}
    assert (ticket(engine, "B1").fee_minor, ticket(engine, "B1").payment_method) == (0, "free")
    assert ticket(engine, "B2").fee_minor == 5000

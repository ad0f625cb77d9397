"""Occupancy from entries and exits: clamped, corrected, reconciled, published retained."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt

from central.db.session import make_sessions
from central.ingest import batch, occupancy
from edge import wire
from edge.wire import EventType
from tests.central.ingest.conftest import T0, entered, exited, start_worker, wait_until

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Msg:
    topic: str
    payload: bytes
    received_at: datetime = NOW


def msg(env: wire.Envelope) -> Msg:
    return Msg(wire.event_topic(env.site, env.device, env.type), env.to_json())


def corrected(seq: int, occupied: int, at: datetime) -> wire.Envelope:
    data = wire.OccupancyCorrected(
        occupied=occupied, reason="counted by hand / 人工清点", by="guard-7"
    )
    return wire.make_event("s1", "booth", seq, data, EventType.OCCUPANCY_CORRECTED, at=at)


def capacity(cap: int, reserved: int = 0) -> Msg:
    doc = wire.SiteConfig(
        kind=wire.ConfigKind.CAPACITY,
        version=1,
        ts=wire.format_ts(NOW),
        data={"capacity": cap, "reserved": reserved},
    )
    return Msg(wire.config_topic("s1", "capacity"), doc.model_dump_json().encode())


def apply(session_factory, *messages: Msg) -> batch.CommitReport:
    with session_factory.begin() as session:
        return batch.process(session, list(messages), NOW)


def state(session_factory) -> occupancy.OccupancyView:
    with session_factory() as session:
        (view,) = occupancy.current(session)
        return view


def test_clamp_never_negative_never_above_capacity():
    assert occupancy.clamp(-3, 10) == 0
    assert occupancy.clamp(12, 10) == 10
    assert occupancy.clamp(12, None) == 12


def test_entries_exits_clamping_and_correction(engine):
    sessions = make_sessions(engine)
    apply(sessions, capacity(3))
    apply(sessions, *(msg(entered("s1", "in-1", s)) for s in range(1, 6)))  # five in, capacity 3
    assert state(sessions).occupied == 3
    apply(sessions, *(msg(exited("s1", "out-1", s)) for s in range(1, 6)))  # five out
    assert state(sessions).occupied == 0  # clamped, never negative

    at = T0 + timedelta(minutes=30)
    apply(sessions, msg(corrected(1, 2, at)))
    view = state(sessions)
    assert view.occupied == 2
    # The entry lane catches up on an entry from before the correction: already counted by the guard.
    apply(sessions, msg(entered("s1", "in-1", 6, at=at - timedelta(minutes=1))))
    assert state(sessions).occupied == 2
    apply(sessions, msg(entered("s1", "in-1", 7, at=at + timedelta(minutes=1))))
    after = state(sessions)
    assert after.occupied == 3 and after.version > view.version


def test_reconcile_raises_count_to_open_tickets(engine):
    sessions = make_sessions(engine)
    apply(sessions, capacity(100))
    issued = [
        wire.make_event(
            "s1",
            "in-1",
            s,
            wire.TicketIssued(
                serial=f"T{s}",
                entry_at=wire.format_ts(NOW - timedelta(hours=1)),
                vehicle_class="car",
                medium="card",
                key_id=1,
            ),
            EventType.TICKET_ISSUED,
            at=NOW - timedelta(hours=1),
        )
        for s in range(1, 5)
    ]
    apply(sessions, *(msg(e) for e in issued))  # tickets issued, but the loop missed the cars
    apply(sessions, msg(entered("s1", "in-1", 5, at=NOW - timedelta(minutes=50))))
    assert state(sessions).occupied == 1
    with sessions.begin() as session:
        result, view = occupancy.reconcile(session, "s1", NOW)
    assert (result.counted, result.open_tickets, result.occupied) == (1, 4, 4)
    assert view is not None and view.occupied == 4
    with sessions.begin() as session:
        again, none = occupancy.reconcile(session, "s1", NOW)
    assert not again.corrected and none is None


def read_retained(port: int, topic: str, timeout: float = 5.0) -> bytes | None:
    """Connect like a lane that just booted and return the retained payload on ``topic``."""
    got: list[bytes] = []
    done = threading.Event()
    lane = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"lane-late-{threading.get_ident()}"
    )

    def on_message(_c, _u, m):
        if m.retain:
            got.append(m.payload)
            done.set()

    lane.on_message = on_message
    lane.on_connect = lambda c, *_: c.subscribe(topic, 1)
    lane.connect("127.0.0.1", port)
    lane.loop_start()
    try:
        done.wait(timeout)
    finally:
        lane.disconnect()
        lane.loop_stop()
    return got[0] if got else None


def test_occupancy_published_retained(broker, engine, publisher):
    worker = start_worker(broker.port, engine)
    try:
        publisher.flush([publisher.send(capacity(50).topic, capacity(50).payload, retain=True)])
        publisher.flush([publisher.event(entered("s1", "in-1", s)) for s in range(1, 4)])
        wait_until(lambda: worker.stats.events == 3, what="3 entries")
        topic = wire.config_topic("s1", "occupancy")

        def published() -> bool:
            payload = read_retained(broker.port, topic, timeout=1)
            return (
                payload is not None and wire.parse_site_config(topic, payload).data["occupied"] == 3
            )

        wait_until(published, timeout=10, what="retained occupancy 3")
        doc = wire.parse_site_config(topic, read_retained(broker.port, topic) or b"")
        occ = wire.Occupancy.model_validate(doc.data)
        assert (occ.occupied, occ.capacity) == (3, 50)
    finally:
        worker.stop()


def test_capacity_learned_from_lane_health_only_when_unset(engine):
    sessions = make_sessions(engine)
    health = wire.Health(
        ts=wire.format_ts(NOW),
        role="entry",
        version="1",
        uptime_s=1,
        outbox_depth=0,
        oldest_unsent_s=0,
        capacity=80,
    )
    apply(sessions, Msg(wire.health_topic("s1", "in-1"), health.model_dump_json().encode()))
    assert state(sessions).capacity == 80
    apply(sessions, capacity(60, 5))
    apply(sessions, Msg(wire.health_topic("s1", "in-1"), health.model_dump_json().encode()))
    view = state(sessions)
    assert (view.capacity, view.reserved) == (60, 5)

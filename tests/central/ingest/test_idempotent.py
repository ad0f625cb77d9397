"""Events are stored once by id, whatever the broker or the lane replays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from central.db.models import Device, Event
from tests.central.ingest.conftest import (
    T0,
    arrived,
    count,
    entered,
    quarantine_reasons,
    start_worker,
    wait_until,
)


def test_replayed_events_are_stored_once(broker, engine, publisher):
    worker = start_worker(broker.port, engine)
    try:
        events = [arrived("s1", "lane-1", seq) for seq in range(1, 51)]
        publisher.flush([publisher.event(e) for e in events])
        # The lane replays everything (its outbox was not told about the PUBACKs).
        publisher.flush([publisher.event(e) for e in events])
        wait_until(lambda: worker.stats.messages >= 100, what="100 messages processed")
        assert count(engine) == 50
        assert worker.stats.duplicates == 50
        assert quarantine_reasons(engine) == []
        with engine.connect() as conn:
            stored = conn.execute(
                select(Event.seq, Event.received_at, Event.ts).order_by(Event.seq)
            ).all()
            assert [s for s, _, _ in stored] == list(range(1, 51))
            assert {ts for _, _, ts in stored} == {T0}  # device time kept beside receive time
            assert all(received - ts > timedelta(days=1) for _, received, ts in stored)
            assert conn.execute(select(Device.last_seq)).scalar_one() == 50
    finally:
        worker.stop()


def test_same_seq_with_another_id_is_quarantined(broker, engine, publisher):
    worker = start_worker(broker.port, engine)
    try:
        first = entered("s1", "lane-1", 1)
        impostor = entered("s1", "lane-1", 1)
        publisher.flush([publisher.event(first)])
        wait_until(lambda: count(engine) == 1, what="first event")
        publisher.flush([publisher.event(impostor)])
        wait_until(lambda: len(quarantine_reasons(engine)) == 1, what="quarantine")
        assert quarantine_reasons(engine) == [
            f"seq 1 of s1/lane-1 already used by event {first.id}"
        ]
        with engine.connect() as conn:
            assert conn.execute(select(Event.id)).scalar_one() == first.id
    finally:
        worker.stop()

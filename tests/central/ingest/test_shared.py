"""Two ingest workers on one shared subscription: nothing lost, nothing stored twice."""

from __future__ import annotations

from sqlalchemy import func, select

from central.db.models import Event, SiteOccupancy, Ticket
from central.db.session import make_sessions
from central.ingest.gaps import open_gaps
from tests.central.ingest.conftest import (
    arrived,
    count,
    entered,
    exited,
    quarantine_reasons,
    start_worker,
    wait_until,
)
from tests.central.ingest.test_tickets import paid as paid_event

DEVICES = [f"lane-{i}" for i in range(1, 5)]
PER_DEVICE = 500


def test_two_workers_share_the_stream(broker, engine, publisher, acks):
    workers = [
        start_worker(
            broker.port, engine, client_id=f"central-shared-{i}", share_group="gatepost-ingest"
        )
        for i in (0, 1)
    ]
    try:
        infos = [
            publisher.event(arrived("s1", device, seq))
            for seq in range(1, PER_DEVICE + 1)
            for device in DEVICES
        ]
        publisher.flush(infos, timeout=60)
        total = len(DEVICES) * PER_DEVICE
        wait_until(
            lambda: sum(w.stats.messages for w in workers) >= total,
            timeout=60,
            what="every message processed",
        )
        assert count(engine) == total
        with engine.connect() as conn:
            assert conn.execute(select(func.count(func.distinct(Event.id)))).scalar_one() == total
            per_device = dict(
                conn.execute(select(Event.device, func.count()).group_by(Event.device)).all()
            )
        assert per_device == {d: PER_DEVICE for d in DEVICES}
        assert all(w.stats.events > 0 for w in workers), [
            w.stats for w in workers
        ]  # both took a share
        assert sum(w.stats.events for w in workers) == total
        assert sum(w.stats.duplicates for w in workers) == 0
        assert quarantine_reasons(engine) == []
        with make_sessions(engine)() as session:
            assert (
                open_gaps(session) == []
            )  # split streams open brief gaps; all closed once both committed
        # Each worker acks what it committed; the figure comes from the database, so the
        # highest ack a lane sees is its last seq even though no worker saw all of them.
        wait_until(
            lambda: all(acks.highest(d) == PER_DEVICE for d in DEVICES), timeout=10, what="acks"
        )
        assert all(w.stats.central_acks > 0 for w in workers)
    finally:
        for w in workers:
            w.stop()


def test_two_workers_fold_tickets_and_occupancy_without_lost_updates(broker, engine, publisher):
    workers = [
        start_worker(
            broker.port, engine, client_id=f"central-fold-{i}", share_group="gatepost-ingest"
        )
        for i in (0, 1)
    ]
    n = 150
    try:
        # Entries first: every car in.
        publisher.flush(
            [publisher.event(entered("s1", "in-1", s, serial=f"T{s}")) for s in range(1, n + 1)]
        )
        wait_until(lambda: sum(w.stats.events for w in workers) >= n, what="entries")
        # Then payments and exits for the same tickets from the exit lane, split across both workers.
        infos = []
        for s in range(1, n + 1):
            pay = paid_event(f"T{s}")
            pay = pay.model_copy(update={"seq": 2 * s - 1, "id": f"pay-{s:08d}"})
            infos.append(publisher.event(pay))
            infos.append(publisher.event(exited("s1", "out-1", 2 * s, serial=f"T{s}")))
        publisher.flush(infos)
        wait_until(lambda: sum(w.stats.events for w in workers) >= 3 * n, what="payments and exits")
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all()
            )
            methods = conn.execute(
                select(func.count()).where(Ticket.payment_method == "cash")
            ).scalar_one()
            entries = conn.execute(
                select(func.count()).where(Ticket.entry_device == "in-1")
            ).scalar_one()
            occupied = conn.execute(select(SiteOccupancy.occupied)).scalar_one()
        assert statuses == {"exited": n}
        assert methods == n and entries == n
        assert occupied == 0
        assert all(w.stats.events > 0 for w in workers)
    finally:
        for w in workers:
            w.stop()

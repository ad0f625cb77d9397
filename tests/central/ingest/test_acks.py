"""Central's acknowledgement: one ack per device per commit, the highest contiguous seq stored.

Judged on real Mosquitto and real SQLite/PostgreSQL: a paho client subscribed to
the devices' ack topics sees what a lane would see.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from central.db.models import Quarantined
from central.db.session import make_sessions
from central.ingest import batch
from central.ingest.gaps import open_gaps
from central.ingest.quarantine import Rejected
from edge import wire
from tests.central.ingest.conftest import T0, arrived, count, start_worker, wait_until


class _Msg:
    def __init__(self, topic: str, payload: bytes) -> None:
        self.topic, self.payload, self.received_at = topic, payload, T0


def _msg(env: wire.Envelope) -> _Msg:
    return _Msg(wire.event_topic(env.site, env.device, env.type), env.to_json())


def _commit(engine, messages) -> batch.CommitReport:
    with make_sessions(engine).begin() as session:
        return batch.process(session, messages, T0)


def test_ack_is_the_highest_contiguous_seq_not_the_highest_seen(engine):
    report = _commit(engine, [_msg(arrived("s1", "lane-1", s)) for s in (1, 2, 4, 5)])
    assert report.acks == {("s1", "lane-1"): 2}
    report = _commit(engine, [_msg(arrived("s1", "lane-1", 3))])
    assert report.acks == {("s1", "lane-1"): 5}


def test_a_replay_gets_the_ack_again(engine):
    events = [arrived("s1", "lane-1", s) for s in (1, 2, 3)]
    _commit(engine, [_msg(e) for e in events])
    report = _commit(engine, [_msg(events[0])])
    assert report.duplicates == 1 and report.events == []
    assert report.acks == {("s1", "lane-1"): 3}


def test_a_quarantined_event_counts_as_stored(engine):
    """Seq 2 breaks the contract (NUL in its text): quarantined with its seq, the ack passes it."""
    bad = wire.make_event(
        "s1", "kiosk-1", 2, wire.VisitorBlocked(name="a\x00b"), wire.EventType.VISITOR_BLOCKED
    )
    report = _commit(
        engine, [_msg(arrived("s1", "kiosk-1", 1)), _msg(bad), _msg(arrived("s1", "kiosk-1", 3))]
    )
    assert len(report.quarantined) == 1
    assert report.acks == {("s1", "kiosk-1"): 3}
    with make_sessions(engine)() as session:
        assert open_gaps(session) == []
        row = session.scalars(select(Quarantined)).one()
        assert (row.site, row.device, row.seq) == ("s1", "kiosk-1", 2)


def test_a_late_quarantined_event_closes_its_gap(engine):
    """Too large to read, but its seq is in the envelope's head: the gap it sat in closes."""
    _commit(engine, [_msg(arrived("s1", "lane-1", s)) for s in (1, 3)])
    env = arrived("s1", "lane-1", 2)
    head = env.to_json()[:-1]
    huge = head + b',"pad":"' + b"x" * (wire.MAX_PAYLOAD_BYTES + 10) + b'"}'
    report = _commit(engine, [_Msg(wire.event_topic("s1", "lane-1", env.type), huge)])
    assert "too large" in report.quarantined[0].reason
    assert report.acks == {("s1", "lane-1"): 3}
    assert [(g.from_seq, g.to_seq, g.opened) for g in report.gaps] == [(2, 2, False)]


def test_an_unnumbered_message_cannot_move_the_ack(engine):
    """Bytes with no readable seq: the gap stays open (alarmed) and the ack stops below it."""
    _commit(engine, [_msg(arrived("s1", "lane-1", s)) for s in (1, 3)])
    report = _commit(
        engine, [_Msg(wire.event_topic("s1", "lane-1", "vehicle_arrived"), b"\xff garbage")]
    )
    assert report.acks == {}
    assert Rejected("t", b"x", "r", T0).claim() is None
    report = _commit(engine, [_msg(arrived("s1", "lane-1", 4))])
    assert report.acks == {("s1", "lane-1"): 1}
    with make_sessions(engine)() as session:
        assert [(g.from_seq, g.to_seq) for g in open_gaps(session)] == [(2, 2)]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"v":1,"id":"x","seq":"7"}',
        b'{"seq":0}',
        b'{"seq":7.5}',
        b'{"seq":99999999999999999999}',
        b"{}",
    ],
)
def test_no_seq_is_claimed_from_a_malformed_number(payload: bytes):
    assert Rejected(wire.event_topic("s", "d", "x"), payload, "r", T0).claim() is None


def test_worker_publishes_one_ack_per_device_per_commit(broker, engine, publisher, acks):
    worker = start_worker(broker.port, engine, batch_max=1000, linger_s=0.3)
    try:
        devices = ["lane-1", "lane-2"]
        infos = [publisher.event(arrived("s1", d, s)) for s in range(1, 201) for d in devices]
        publisher.flush(infos)
        wait_until(lambda: count(engine) == 400, what="400 events")
        wait_until(
            lambda: all(acks.highest(d) == 200 for d in devices), timeout=10, what="acks up to 200"
        )
        # One ack per device per commit batch, not one per event.
        assert all(acks.count(d) <= worker.stats.batches for d in devices)
        assert sum(acks.count(d) for d in devices) < 400
        before = acks.count("lane-1")
        publisher.flush(
            [publisher.event(arrived("s1", "lane-1", 1, event_id=None))]
        )  # a new id, seq 1 reused
        publisher.flush([publisher.event(arrived("s1", "lane-9", 1))])
        wait_until(lambda: acks.highest("lane-9") == 1, timeout=10, what="lane-9's ack")
        wait_until(lambda: acks.count("lane-1") > before, timeout=10, what="lane-1 acked again")
        assert acks.highest("lane-1") == 200
    finally:
        worker.stop()


def test_acks_resume_after_a_central_restart(broker, engine, publisher, acks):
    events = [arrived("s1", "lane-1", s) for s in range(1, 51)]
    worker = start_worker(broker.port, engine)
    try:
        publisher.flush([publisher.event(e) for e in events[:20]])
        wait_until(lambda: acks.highest("lane-1") == 20, timeout=10, what="ack 20")
    finally:
        worker.stop()
    publisher.flush([publisher.event(e) for e in events[20:]])  # queued for central's session
    worker = start_worker(broker.port, engine)
    try:
        wait_until(lambda: acks.highest("lane-1") == 50, timeout=20, what="ack 50 after restart")
        publisher.flush([publisher.event(events[0])])  # a lane re-sending what it still holds
        n = acks.count("lane-1")
        wait_until(lambda: acks.count("lane-1") > n, timeout=10, what="the replay acknowledged")
    finally:
        worker.stop()


def _health(device: str, acked_through: int | None) -> _Msg:
    doc = wire.Health(
        ts=wire.format_ts(T0),
        role="entry",
        version="t",
        uptime_s=1,
        outbox_depth=0,
        oldest_unsent_s=0,
        outbox_acked_through=acked_through,
    )
    return _Msg(wire.health_topic("s1", device), doc.model_dump_json().encode())


def test_after_a_restore_the_ack_passes_gaps_the_lane_can_no_longer_fill(engine):
    """Central's database came back from a backup holding seqs 1..5; the lane had been
    acknowledged up to 10 (deleted) and now sends 11, 12. Gap 6..10 can never fill: it stays
    open (alarmed), but the ack must still reach 12, or the lane's outbox grows for ever."""
    _commit(engine, [_msg(arrived("s1", "lane-1", s)) for s in range(1, 6)])  # the backup
    report = _commit(engine, [_msg(arrived("s1", "lane-1", s)) for s in (11, 12)])
    assert report.acks == {("s1", "lane-1"): 5}  # before the lane has said what it still holds
    _commit(engine, [_health("lane-1", 10)])
    report = _commit(engine, [_msg(arrived("s1", "lane-1", 13))])
    assert report.acks == {("s1", "lane-1"): 13}
    with make_sessions(engine)() as session:
        assert [(g.from_seq, g.to_seq) for g in open_gaps(session)] == [(6, 10)]


def test_a_lane_still_holding_a_gap_keeps_the_ack_below_it(engine):
    _commit(engine, [_health("lane-1", 3)])
    report = _commit(engine, [_msg(arrived("s1", "lane-1", s)) for s in (1, 2, 3, 6, 7)])
    assert report.acks == {("s1", "lane-1"): 3}  # 4 and 5 are still in its outbox: wait for them

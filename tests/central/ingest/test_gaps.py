"""A skipped seq opens a gap; the late event closes it."""

from __future__ import annotations

from sqlalchemy import select

from central.db.models import SeqGap
from central.ingest.gaps import SeqRange, advance
from central.ingest.hooks import CommitHooks
from tests.central.ingest.conftest import arrived, count, start_worker, wait_until


def test_advance_is_pure_and_orders_seqs():
    step = advance(3, [7, 4, 5])
    assert step.last_seq == 7
    assert step.new_gaps == [SeqRange(6, 6)]
    assert step.late == []
    late = advance(7, [6, 2])
    assert (late.last_seq, late.new_gaps, late.late) == (7, [], [2, 6])
    assert advance(0, [1]).new_gaps == []
    assert advance(0, [4]).new_gaps == [SeqRange(1, 3)]  # a new device must start at 1


def test_gap_recorded_then_closed_when_late_events_arrive(broker, engine, publisher):
    hooks = CommitHooks()
    seen = []
    hooks.add(lambda report: seen.extend(report.gaps))
    worker = start_worker(broker.port, engine, hooks=hooks)
    try:
        events = {seq: arrived("s1", "lane-2", seq) for seq in range(1, 11)}
        publisher.flush([publisher.event(events[s]) for s in (1, 2, 3, 7, 8, 9, 10)])
        wait_until(lambda: count(engine) == 7, what="7 events")
        with engine.connect() as conn:
            gap = conn.execute(select(SeqGap)).one()
        assert (gap.site, gap.device, gap.from_seq, gap.to_seq, gap.closed_at) == (
            "s1",
            "lane-2",
            4,
            6,
            None,
        )
        wait_until(lambda: len(seen) == 1, timeout=5, what="the listener told of the gap")
        assert [(g.from_seq, g.to_seq, g.opened) for g in seen] == [(4, 6, True)]

        publisher.flush([publisher.event(events[5]), publisher.event(events[4])])
        wait_until(lambda: count(engine) == 9, what="9 events")
        with engine.connect() as conn:
            assert conn.execute(select(SeqGap.closed_at)).scalar_one() is None  # 6 still missing

        publisher.flush([publisher.event(events[6])])
        wait_until(lambda: count(engine) == 10, what="10 events")
        with engine.connect() as conn:
            closed = conn.execute(select(SeqGap.closed_at)).scalar_one()
        assert closed is not None and closed >= gap.opened_at
        wait_until(lambda: len(seen) == 2, timeout=5, what="the listener told of the close")
        assert [(g.from_seq, g.to_seq, g.opened) for g in seen] == [(4, 6, True), (4, 6, False)]
    finally:
        worker.stop()

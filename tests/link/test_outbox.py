"""The outbox on its own: durability, seq, crash safety, the bound policy, speed."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge import wire
from edge.errors import OutboxFull, PayloadError
from edge.link.outbox import Outbox, OutboxError
from edge.wire import EventType, parse_event

ROOT = Path(__file__).resolve().parents[2]


def paid(serial: str = "A1", fee: int = 1500) -> wire.PaymentConfirmed:
    return wire.PaymentConfirmed(serial=serial, fee_minor=fee, currency="CNY", method="cash")


def arrived() -> wire.VehicleArrived:
    return wire.VehicleArrived(lane_role="entry")


def backlog(depth: int) -> wire.OutboxBacklog:
    return wire.OutboxBacklog(depth=depth, bound=10)


def test_emit_returns_the_stored_envelope_in_seq_order(tmp_path):
    with Outbox(tmp_path / "o.db", "site-a", "lane-1") as box:
        envs = [box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}")) for i in range(3)]
        rows = box.pending(10)
    assert [e.seq for e in envs] == [1, 2, 3]
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].topic == "gatepost/v1/site-a/lane-1/event/payment_confirmed"
    envelope, data = parse_event(rows[2].topic, rows[2].payload)
    assert envelope == envs[2]
    assert data == paid("S2")
    assert rows[0].critical


def test_seq_strictly_increases_across_reopen_even_when_emptied(tmp_path):
    path = tmp_path / "o.db"
    with Outbox(path, "site-a", "lane-1") as box:
        for _ in range(5):
            box.emit(EventType.PAYMENT_CONFIRMED, paid())
        assert box.mark_sent([r.seq for r in box.pending(10)]) == 5
        assert box.depth == 5 and box.unacked == 5  # the broker has them; central has not said so
        assert box.confirm(5) == 5
        assert box.depth == 0 and box.unacked == 0
    with Outbox(path, "site-a", "lane-1") as box:
        assert box.depth == 0
        assert box.emit(EventType.PAYMENT_CONFIRMED, paid()).seq == 6
        assert box.last_seq == 6


def test_rows_survive_reopen_until_central_confirms_them(tmp_path):
    path = tmp_path / "o.db"
    with Outbox(path, "site-a", "lane-1") as box:
        for i in range(4):
            box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}"))
        assert box.mark_sent([1, 2, 3, 4]) == 4
        assert box.mark_sent([2]) == 0  # a second PUBACK for the same row changes nothing
        assert box.confirm(1) == 1
        assert (
            box.confirm(1) == 0 and box.confirm(0) == 0
        )  # a repeated or lower ack deletes nothing
        assert (box.depth, box.unacked, box.confirmed) == (3, 3, 1)
    with Outbox(path, "site-a", "lane-1") as box:  # sent but unconfirmed rows are still rows
        assert box.depth == 3 and box.unacked == 0
        assert [r.seq for r in box.pending(10)] == [2, 3, 4]
        assert [r.seq for r in box.pending(10, after=2)] == [3, 4]


def test_an_ack_beyond_the_last_seq_deletes_nothing(tmp_path):
    with Outbox(tmp_path / "o.db", "site-a", "lane-1") as box:
        for i in range(3):
            box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}"))
        with pytest.raises(PayloadError):
            box.confirm(4)  # another outbox's figure: these rows are not in central
        assert box.depth == 3 and box.confirmed == 0


def test_coalescing_never_rewrites_a_row_left_by_an_earlier_run(tmp_path):
    """A row from before a restart may be in central already: a rewrite would give its seq a new id."""
    path = tmp_path / "o.db"
    with Outbox(path, "site-a", "lane-1", bound=10) as box:
        first = box.emit_telemetry(EventType.OUTBOX_BACKLOG, backlog(1))
        for i in range(7):
            box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}"))
    with Outbox(path, "site-a", "lane-1", bound=10) as box:
        assert box.near_full
        again = box.emit_telemetry(EventType.OUTBOX_BACKLOG, backlog(2))
        assert again.seq != first.seq and box.coalesced == 0


def test_bad_payload_is_refused_and_consumes_no_seq(tmp_path):
    with Outbox(tmp_path / "o.db", "site-a", "lane-1") as box:
        with pytest.raises(PayloadError):
            box.emit(EventType.TICKET_ISSUED, paid())  # wrong model for the type
        with pytest.raises(PayloadError):
            box.emit_telemetry(EventType.PAYMENT_CONFIRMED, paid())  # critical is never droppable
        assert box.depth == 0
        assert box.emit(EventType.PAYMENT_CONFIRMED, paid()).seq == 1


def test_invalid_ids_and_bound_are_config_errors(tmp_path):
    with pytest.raises(PayloadError):
        Outbox(tmp_path / "o.db", "Site A", "lane-1")
    with pytest.raises(OutboxError):
        Outbox(tmp_path / "o.db", "site-a", "lane-1", bound=1)


def test_a_corrupt_outbox_is_an_error_never_a_silent_reset(tmp_path):
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutboxError):
        Outbox(path, "site-a", "lane-1")
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_bound_policy_keeps_critical_coalesces_and_refuses_telemetry(tmp_path):
    changes: list[bool] = []
    box = Outbox(tmp_path / "o.db", "site-a", "lane-1", bound=10, on_near_full=changes.append)
    # Below the high-water mark telemetry is appended like anything else.
    first = box.emit_telemetry(EventType.OUTBOX_BACKLOG, backlog(1))
    for i in range(6):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}"))
    assert not box.near_full and changes == []
    box.emit(EventType.PAYMENT_CONFIRMED, paid("S6"))  # 8 rows = 80 % of 10
    assert box.near_full and changes == [True]

    # Near full: telemetry of the same key replaces the unsent row, keeping its seq.
    again = box.emit_telemetry(EventType.OUTBOX_BACKLOG, backlog(9))
    assert again.seq == first.seq and box.depth == 8 and box.coalesced == 1
    row = next(r for r in box.pending(20) if r.seq == first.seq)
    assert json.loads(row.payload)["data"]["depth"] == 9

    # Critical events go past the bound, never dropped.
    for i in range(10):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(f"X{i}"))
    assert box.depth == 18

    # Telemetry with nothing to coalesce into is refused at the bound.
    with pytest.raises(OutboxFull):
        box.emit_telemetry(EventType.VEHICLE_ARRIVED, arrived())
    assert box.dropped == 1 and box.depth == 18

    # Sent but not acknowledged by central: still counted, still near full.
    box.mark_sent([r.seq for r in box.pending(20)])
    assert box.depth == 18 and box.unacked == 18 and box.near_full

    # Central's ack draining below 70 % clears the flag, once.
    box.confirm(12)
    assert box.depth == 6 and not box.near_full and changes == [True, False]
    box.close()


def test_coalescing_never_rewrites_a_row_already_handed_to_the_forwarder(tmp_path):
    box = Outbox(tmp_path / "o.db", "site-a", "lane-1", bound=10)
    first = box.emit_telemetry(EventType.OUTBOX_BACKLOG, backlog(1))
    for i in range(8):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}"))
    box.pending(1)  # seq 1 may now be in flight
    newer = box.emit_telemetry(EventType.OUTBOX_BACKLOG, backlog(2))
    assert newer.seq != first.seq and box.depth == 10
    box.close()


def test_oldest_unsent_age_follows_the_clock(tmp_path):
    now = [datetime(2026, 11, 27, 8, 0, tzinfo=UTC)]
    box = Outbox(tmp_path / "o.db", "site-a", "lane-1", clock=lambda: now[0])
    assert box.oldest_unsent_age_s() == 0.0
    box.emit(EventType.PAYMENT_CONFIRMED, paid())
    now[0] += timedelta(seconds=42)
    box.emit(EventType.PAYMENT_CONFIRMED, paid())
    assert box.oldest_unsent_age_s() == pytest.approx(42)
    assert box.oldest_unsent_age_s(now[0] - timedelta(hours=1)) == 0.0  # clock stepped back
    box.mark_sent([1])
    assert box.oldest_unsent_age_s() == pytest.approx(42)  # the broker's PUBACK ends nothing
    box.confirm(1)
    assert box.oldest_unsent_age_s() == 0.0
    box.close()


def test_every_returned_emit_survives_sigkill(tmp_path):
    path = tmp_path / "o.db"
    child = textwrap.dedent(
        f"""
        import sys
        from edge.link.outbox import Outbox
        from edge.wire import EventType, PaymentConfirmed
        box = Outbox({str(path)!r}, "site-a", "lane-1")
        while True:
            env = box.emit(EventType.PAYMENT_CONFIRMED,
                           PaymentConfirmed(serial="S", fee_minor=100, currency="CNY", method="cash"))
            sys.stdout.write(f"{{env.seq}} {{env.id}}\\n")
            sys.stdout.flush()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    returned: list[tuple[int, str]] = []
    assert proc.stdout is not None
    while len(returned) < 300:
        line = proc.stdout.readline()
        assert line, "child died early"
        seq, event_id = line.split()
        returned.append((int(seq), event_id))
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    with Outbox(path, "site-a", "lane-1") as box:
        stored = {r.seq: json.loads(r.payload)["id"] for r in box.pending(1_000_000)}
        assert all(stored.get(seq) == event_id for seq, event_id in returned)
        assert sorted(stored) == list(range(1, len(stored) + 1))  # no holes
        assert box.emit(EventType.PAYMENT_CONFIRMED, paid()).seq == len(stored) + 1


def _p99_ms(action, n: int) -> float:
    timings = []
    for i in range(n):
        start = time.perf_counter()
        action(i)
        timings.append(time.perf_counter() - start)
    timings.sort()
    return timings[int(n * 0.99)] * 1000


def test_emit_is_fast_enough_for_the_card_to_relay_budget(tmp_path):
    """emit() p99 < 5 ms here (a lane's card→relay budget is 10 ms, this write included).

    Other work sharing the disk moves fsync latency, so each round also times
    a bare fsync'd SQLite insert, interleaved with the emits: the outbox must
    cost little over that floor, and meet 5 ms whenever the floor allows it.
    """
    box = Outbox(tmp_path / "o.db", "site-a", "lane-1")
    bare = sqlite3.connect(tmp_path / "bare.db", isolation_level=None)
    bare.execute("PRAGMA journal_mode=WAL")
    bare.execute("PRAGMA synchronous=FULL")
    bare.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, payload BLOB)")
    payload = b"x" * 300

    def bare_insert(i: int) -> None:
        bare.execute("BEGIN IMMEDIATE")
        bare.execute("INSERT INTO t (payload) VALUES (?)", (payload,))
        bare.execute("COMMIT")

    rounds = []
    for _ in range(5):
        floor = _p99_ms(bare_insert, 100)
        emit = _p99_ms(lambda i: box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}")), 100)
        rounds.append((emit, floor))
    emit_p99, floor_p99 = min(rounds)
    assert emit_p99 <= 2 * floor_p99 + 1.0, (
        f"emit p99 {emit_p99:.2f} ms vs bare insert {floor_p99:.2f} ms"
    )
    if floor_p99 < 2.5:
        assert emit_p99 < 5.0, f"emit p99 {emit_p99:.2f} ms on a quiet disk"
    # The write really is synchronous=FULL in WAL mode.
    assert box._emit_db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._emit_db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    bare.close()
    box.close()


def test_closed_outbox_refuses_writes(tmp_path):
    box = Outbox(tmp_path / "o.db", "site-a", "lane-1")
    box.close()
    with pytest.raises(OutboxError):
        box.emit(EventType.PAYMENT_CONFIRMED, paid())


def test_emit_many_is_one_all_or_nothing_write(tmp_path):
    with Outbox(tmp_path / "o.db", "site-a", "lane-1") as box:
        decision = wire.BadgeAccepted(badge="0012345678", holder_class="resident", direction="in")
        opened = wire.BarrierMoved(cause="badge")
        envs = box.emit_many(
            [(EventType.BADGE_ACCEPTED, decision), (EventType.BARRIER_OPENED, opened)]
        )
        assert [e.seq for e in envs] == [1, 2] and box.depth == 2
        with pytest.raises(PayloadError):  # the second one is malformed: neither is stored
            box.emit_many(
                [(EventType.BADGE_ACCEPTED, decision), (EventType.BARRIER_OPENED, decision)]
            )
        assert box.depth == 2 and box.emit(EventType.BARRIER_OPENED, opened).seq == 3
        assert box.emit_many([]) == []


def test_acked_through_is_what_central_confirmed_and_the_outbox_let_go(tmp_path):
    with Outbox(tmp_path / "o.db", "site-a", "lane-1") as box:
        assert box.acked_through() == 0
        for i in range(4):
            box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}"))
        assert box.acked_through() == 0
        box.confirm(3)
        assert box.acked_through() == 3
        box.confirm(4)
        assert box.acked_through() == 4 == box.last_seq


def test_every_seq_handed_out_is_a_row_until_confirmed_even_past_the_bound(tmp_path):
    """Coalesced and refused telemetry leave no hole: central's contiguous ack never waits on a
    seq that will not come."""
    with Outbox(tmp_path / "o.db", "site-a", "lane-1", bound=10) as box:
        for i in range(30):
            try:
                if (
                    i % 3 and i % 2
                ):  # a key of its own: nothing to coalesce into, refused at the bound
                    box.emit_telemetry(EventType.VEHICLE_ARRIVED, arrived(), key=f"k{i}")
                elif i % 3:
                    box.emit_telemetry(EventType.OUTBOX_BACKLOG, backlog(i))
                else:
                    box.emit(EventType.PAYMENT_CONFIRMED, paid(f"S{i}"))
            except OutboxFull:
                pass
        assert box.coalesced > 0 and box.dropped > 0
        assert [r.seq for r in box.pending(100)] == list(range(1, box.last_seq + 1))

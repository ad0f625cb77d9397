"""The lane's local state: used serials survive a restart, are stored with their payment and
survive an upgrade; the count never goes negative."""

from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from edge.errors import ConfigError
from edge.lane.occupancy import Occupancy
from edge.lane.used_tickets import UsedTickets
from edge.link.outbox import Outbox, OutboxError
from edge.wire import BarrierMoved, EventType, FeeQuoted, FreeExit, PaymentConfirmed
from tests.lane.conftest import ROOT


def test_used_serials_and_lane_state_survive_a_reopen(tmp_path):
    now = datetime(2026, 3, 2, tzinfo=UTC)
    store = UsedTickets(tmp_path / "lane.sqlite3")
    assert store.mark("S1", now, 250, "cash") is True
    assert store.mark("S1", now, 0, "none") is False  # the first use stands
    store.put("barrier", "open")
    store.close()
    again = UsedTickets(tmp_path / "lane.sqlite3", retention_days=30)
    assert again.is_used("S1") and not again.is_used("S2")
    assert again.get("barrier") == "open" and again.get("missing", "x") == "x"
    assert again.purge(now + timedelta(days=31)) == 1 and again.count() == 0


def test_occupancy_clamps_and_keeps_reserved_spaces_for_residents():
    lot = Occupancy(capacity=10, reserved=2, occupied=7)
    assert not lot.is_full("visitor")
    lot.entered()
    assert lot.is_full("visitor") and not lot.is_full("resident")
    for _ in range(20):
        lot.exited()
    assert lot.snapshot().occupied == 0  # a missed entry never makes the count negative
    with pytest.raises(ConfigError):
        Occupancy(capacity=5, reserved=6)
    with pytest.raises(ConfigError):
        lot.correct(-1)


# --------------------------------------------------------------------------- used marks in the outbox's transaction


def _payment(serial: str, fee: int = 300) -> PaymentConfirmed:
    return PaymentConfirmed(serial=serial, fee_minor=fee, currency="CNY", method="cash", minutes=40)


def test_a_payment_and_its_used_mark_are_stored_in_one_transaction(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite3", "demo", "exit-1")
    store = UsedTickets(tmp_path / "lane-state.sqlite3", outbox=outbox)
    try:
        assert store.shares_outbox and store.used_path == outbox.path
        paid, _opened = outbox.emit_many(
            [
                (EventType.PAYMENT_CONFIRMED, _payment("S1")),
                (EventType.BARRIER_OPENED, BarrierMoved(cause="paid", serial="S1")),
            ]
        )
        assert store.is_used("S1") and not store.is_used("S2")
        outbox.emit(
            EventType.FEE_QUOTED,
            FeeQuoted(serial="S2", minutes=5, fee_minor=0, currency="CNY", vehicle_class="car"),
        )
        assert not store.is_used("S2")  # a quote lets nothing out
        outbox.emit(
            EventType.FREE_EXIT, FreeExit(serial="S3", reason="ambulance", authorised_by="s001")
        )
        with sqlite3.connect(outbox.path) as db:
            rows = db.execute(
                "SELECT serial, used_at, fee_minor, method FROM used_ticket ORDER BY serial"
            ).fetchall()
        assert (
            rows[0] == ("S1", paid.ts, 300, "cash")
            and rows[1][0::2] == ("S3", 0)
            and rows[1][3] == "free"
        )
        assert store.mark("S1", datetime.now(UTC), 0, "none") is False  # the first use stands
    finally:
        store.close()
        outbox.close()


def test_a_used_mark_the_disk_refuses_stores_no_payment_either(tmp_path):
    outbox = Outbox(tmp_path / "outbox.sqlite3", "demo", "exit-1")
    store = UsedTickets(tmp_path / "lane-state.sqlite3", outbox=outbox)
    try:
        with sqlite3.connect(outbox.path) as db:  # the used table refuses every write from now on
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON used_ticket BEGIN SELECT RAISE(ABORT, 'disk'); END"
            )
        with pytest.raises(OutboxError, match="payment_confirmed"):
            outbox.emit_many(
                [
                    (EventType.PAYMENT_CONFIRMED, _payment("S1")),
                    (EventType.BARRIER_OPENED, BarrierMoved(cause="paid", serial="S1")),
                ]
            )
        assert outbox.depth == 0 and outbox.pending() == [] and not store.is_used("S1")
        quoted = outbox.emit(
            EventType.FEE_QUOTED,
            FeeQuoted(serial="S1", minutes=5, fee_minor=0, currency="CNY", vehicle_class="car"),
        )
        assert quoted.seq == 1 and outbox.depth == 1  # the outbox goes on; nothing half-written
    finally:
        store.close()
        outbox.close()


KILLED_AFTER_PAYMENT = """
import os, signal, sys
from edge.lane.used_tickets import UsedTickets
from edge.link.outbox import Outbox
from edge.wire import EventType, PaymentConfirmed
outbox = Outbox(sys.argv[1] + "/outbox.sqlite3", "demo", "exit-1")
UsedTickets(sys.argv[1] + "/lane-state.sqlite3", outbox=outbox)
outbox.emit(EventType.PAYMENT_CONFIRMED,
            PaymentConfirmed(serial="K1", fee_minor=500, currency="CNY", method="cash"))
os.kill(os.getpid(), signal.SIGKILL)  # the power goes the instant the payment is durable
"""


def test_a_process_killed_right_after_a_payment_comes_back_with_the_ticket_used(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_PAYMENT, str(tmp_path)],
        check=False,
        cwd=ROOT,
        timeout=30,
    )
    assert proc.returncode == -signal.SIGKILL
    outbox = Outbox(tmp_path / "outbox.sqlite3", "demo", "exit-1")
    store = UsedTickets(tmp_path / "lane-state.sqlite3", outbox=outbox)
    try:
        assert [row.event_type for row in outbox.pending()] == ["payment_confirmed"]
        assert store.is_used("K1")
    finally:
        store.close()
        outbox.close()


def test_an_upgraded_lane_keeps_the_used_tickets_of_its_old_state_file(tmp_path, caplog):
    old = UsedTickets(tmp_path / "lane-state.sqlite3")  # the layout before: everything in one file
    assert old.mark("OLD1", datetime(2026, 3, 1, 8, tzinfo=UTC), 250, "cash")
    old.put("barrier", "open")
    old.close()
    with sqlite3.connect(
        tmp_path / "lane-state.sqlite3"
    ) as db:  # as the old code wrote times: isoformat()
        db.execute(
            "INSERT INTO used_ticket VALUES ('OLD2', '2025-01-01T08:00:00+00:00', 0, 'none')"
        )
    outbox = Outbox(tmp_path / "outbox.sqlite3", "demo", "exit-1")
    caplog.set_level(logging.WARNING, logger="gatepost.lane.store")
    store = UsedTickets(tmp_path / "lane-state.sqlite3", retention_days=400, outbox=outbox)
    try:
        assert store.is_used("OLD1") and store.is_used("OLD2") and store.count() == 2
        assert store.get("barrier") == "open"  # the lane state stays where it was
        assert "moved 2 used ticket(s)" in caplog.text
        with sqlite3.connect(tmp_path / "lane-state.sqlite3") as db:
            assert (
                db.execute("SELECT name FROM sqlite_master WHERE name = 'used_ticket'").fetchone()
                is None
            )
        # The old isoformat time was rewritten to the wire format: purge compares like with like.
        assert store.purge(datetime(2026, 3, 1, tzinfo=UTC)) == 1 and not store.is_used("OLD2")
    finally:
        store.close()
    again = UsedTickets(
        tmp_path / "lane-state.sqlite3", outbox=outbox
    )  # a second start moves nothing
    try:
        assert again.is_used("OLD1") and again.count() == 1
    finally:
        again.close()
        outbox.close()

"""Storage faults fail safe (DESIGN.md §4): real lanes on real files, the disk made to refuse.

Found in the field: an outbox on a 512 KiB filesystem filled up after a car
passed; writing ``vehicle_entered``/``barrier_closed`` failed and the lane
skipped the close, leaving the arm up over an empty lane. Here each way a
write can fail is made real, and each time:

* the arm comes down once the lane is clear (judged by the simulated arm that
  the MockFactory relays drive, not by what the lane says);
* no ticket is issued and no badge passes while storage fails (the site's
  default), and the pole display says why;
* the lane reports the fault (``storage``, as health carries it);
* once storage recovers, every event held in memory is in the outbox, in the
  order it happened, none lost, and the lane issues tickets again.

Write sites of a lane, and how each is made to fail:

========================  ====================================  ==============================
site                      what writes there                     injected by
========================  ====================================  ==============================
outbox append             every event (``Outbox.emit_many``)    SQLite authorizer denying
                                                                INSERT on the outbox connection;
                                                                a full 512 KiB tmpfs; ext4 gone
                                                                read-only
outbox companion          used-ticket marks, in the payment's   authorizer denying INSERT into
                          own transaction                       ``used_ticket`` only
lane state                barrier position, clock high-water    authorizer on the lane-state
                          mark, occupancy (``UsedTickets.put``)  connection
used mark (fallback)      ``UsedTickets.ensure_used``           covered by the companion case:
                                                                an exit whose payment is held
                                                                never reaches it
snapshots                 a JPEG per transit event              the folder replaced by a file
                                                                mid-run (every save fails)
console ledger            the booth's copy of each event        tests/console/
                                                                test_console_storage_fault.py
========================  ====================================  ==============================

The agent's health and central's alarm (real broker, real ingest) are in
``tests/lane/test_storage_faults_agent.py``; the kiosk's write sites in
``tests/kiosk/test_kiosk_storage_faults.py``.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.lane import messages
from edge.lane.effects import Effect, Emit, Show, WriteCard
from edge.lane.machine import (
    ArmingChanged,
    BadgeRead,
    CardPlaced,
    LaneRefused,
    OpenBarrier,
    PaymentReceived,
    PresenceChanged,
    StorageFailed,
    StorageRecovered,
    TicketWritten,
)
from edge.sim.site import SimulatedLane, build_sim_lane
from edge.ticket import new_serial
from edge.wire import EventType
from tests.lane.clock import StepClock
from tests.lane.conftest import build_machine
from tests.lane.sim import lane_config, sim_profile, wait_for
from tests.support.services import IN_CI

RESIDENT = "0A1B2C3D4E"  # on the simulated site's whitelist
STAFF = "0B0B0B0B0B"  # another one (the reader does not repeat a badge it just read)


# --------------------------------------------------------------------------- the pure machine


def test_machine_refuses_tickets_money_and_badges_while_storage_fails_and_takes_them_back_after(
    tariff,
):
    lane = build_machine("entry", tariff, StepClock())
    lane.handle(StorageFailed("outbox: database or disk is full"))
    effects = lane.handle(ArmingChanged(True))
    assert Show(messages.STORAGE_FAULT) in effects
    effects = lane.handle(CardPlaced("04A1B2"))
    assert not any(isinstance(e, WriteCard) for e in effects), (
        "a ticket was started while storage fails"
    )
    effects = lane.handle(BadgeRead(RESIDENT))
    assert not any(isinstance(e, OpenBarrier) for e in effects)
    assert [e.data.reason for e in effects if isinstance(e, Emit)] == [
        "storage fault: records cannot be saved"
    ]
    assert lane.status().storage_fault == "outbox: database or disk is full"
    effects = lane.handle(StorageRecovered())
    assert Show(messages.PLACE_CARD) in effects
    assert any(isinstance(e, WriteCard) for e in lane.handle(CardPlaced("04A1B2")))


def test_machine_lets_badges_through_a_storage_fault_only_when_the_site_says_so(tariff):
    lane = build_machine("entry", tariff, StepClock(), storage_fault_badges=True)
    lane.handle(StorageFailed("lane_state: disk I/O error"))
    lane.handle(ArmingChanged(True))
    assert any(isinstance(e, OpenBarrier) for e in lane.handle(BadgeRead(RESIDENT)))


def test_machine_refuses_payments_at_an_exit_while_storage_fails(tariff):
    lane = build_machine("exit", tariff, StepClock())
    lane.handle(StorageFailed("outbox: attempt to write a readonly database"))
    with pytest.raises(LaneRefused, match="records cannot be saved"):
        lane.handle(PaymentReceived("cash"))


def test_machine_withheld_opening_ends_with_the_arm_commanded_down_and_the_transit_void(tariff):
    clock = StepClock()
    lane = build_machine("entry", tariff, clock)
    lane.handle(ArmingChanged(True))
    lane.handle(CardPlaced("04A1B2"))
    effects = lane.handle(TicketWritten(lane.transit.serial or "", 1))
    assert any(isinstance(e, OpenBarrier) for e in effects)
    # The service could not store ticket_issued/barrier_opened and did not raise the arm.
    effects = lane.handle(StorageFailed("outbox: database or disk is full", open_withheld=True))
    closed = [
        e for e in effects if isinstance(e, Emit) and e.event_type == EventType.BARRIER_CLOSED
    ]
    assert closed and closed[0].data.cause == "storage_fault"
    assert not lane.barrier_open and lane.phase == "waiting" and lane.transit.serial is None
    assert Show(messages.STORAGE_FAULT) in effects
    lane.handle(PresenceChanged(True))  # nobody was let in: nothing is counted
    assert lane.occupancy.snapshot().occupied == 0


def test_the_stateful_machine_tests_feed_storage_faults_and_check_the_open_arm_invariant():
    """tests/lane/test_machine_stateful.py drives storage faults among every other input, on every lane kind."""
    from tests.lane import test_machine_stateful as stateful

    for name in ("storage_fails", "storage_recovers"):
        assert hasattr(getattr(stateful.LaneRules, name), "hypothesis_stateful_rule"), name
    assert hasattr(
        stateful.LaneRules.arm_never_left_up_over_an_empty_lane, "hypothesis_stateful_invariant"
    )
    assert issubclass(stateful.StorageBadgesExitRules, stateful.LaneRules)
    assert stateful.StorageBadgesExitRules().lane.settings.storage_fault_badges is True


# --------------------------------------------------------------------------- helpers for real lanes


def deny_writes(db: sqlite3.Connection, table: str | None = None) -> None:
    """Make SQLite refuse INSERT/UPDATE/DELETE (on ``table``, or any) on this connection: a real SQLite error."""
    writes = (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE)

    def authorizer(
        action: int, arg1: str | None, arg2: str | None, dbname: str | None, source: str | None
    ) -> int:
        if action in writes and (table is None or arg1 == table):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    db.set_authorizer(authorizer)


def allow_writes(db: sqlite3.Connection) -> None:
    db.set_authorizer(None)


class Recorder:
    """Every event the lane decided, in order, whether it went to disk or into the hold."""

    def __init__(self, sim: SimulatedLane) -> None:
        self.effects: list[Effect] = []
        self.before = len(sim.outbox.pending(limit=10_000))
        """Rows already stored when recording began (the start-up recovery's)."""
        self._lock = threading.Lock()
        before = sim.lane.on_effect

        def observe(effect: Effect) -> None:
            if before is not None:
                before(effect)
            with self._lock:
                self.effects.append(effect)

        sim.lane.on_effect = observe

    def events(self) -> list[tuple[str, dict]]:
        with self._lock:
            return [
                (e.event_type.value, e.data.model_dump(mode="json"))
                for e in self.effects
                if isinstance(e, Emit)
            ]

    def count(self, effect: Effect) -> int:
        with self._lock:
            return sum(1 for e in self.effects if e == effect)

    def types(self) -> list[str]:
        return [t for t, _ in self.events()]


def stored_events(sim: SimulatedLane) -> list[tuple[int, str, dict]]:
    import json

    return [
        (row.seq, row.event_type, json.loads(row.payload)["data"])
        for row in sim.outbox.pending(limit=10_000)
    ]


def arm_down(sim: SimulatedLane) -> bool:
    """The simulated arm (moved by the MockFactory relay pins) is down and the driver agrees."""
    return sim.mechanics.position <= 0.0 and sim.barrier.state == "closed"


def arm_up(sim: SimulatedLane) -> bool:
    return sim.mechanics.position >= 1.0 and sim.barrier.state == "open"


def assert_held_events_arrived_in_order(sim: SimulatedLane, recorder: Recorder) -> None:
    """Everything decided is in the outbox, in the order decided, seqs without a gap, none twice."""
    wait_for(
        lambda: sim.lane.storage.held == 0 and sim.lane.status().storage_fault is None,
        timeout=10,
        what="storage recovered and the hold written",
    )
    rows = stored_events(sim)
    seqs = [seq for seq, _, _ in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"seq gap or repeat: {seqs}"
    stored = [
        (t, {k: v for k, v in d.items() if v is not None}) for _, t, d in rows[recorder.before :]
    ]
    decided = [(t, {k: v for k, v in d.items() if v is not None}) for t, d in recorder.events()]
    assert stored == decided, "the outbox is not exactly the events decided, in order"


def refusal_shown(sim: SimulatedLane, recorder: Recorder, before: int) -> bool:
    return recorder.count(Show(messages.STORAGE_FAULT)) > before


def badge_and_open(sim: SimulatedLane) -> object:
    assert sim.rdm6300 is not None  # these lanes have a badge reader
    car = sim.vehicle()
    car.arrive()
    sim.rdm6300.present(RESIDENT)
    wait_for(lambda: arm_up(sim), what="the resident's barrier up")
    return car


def refused_while_failing(sim: SimulatedLane, recorder: Recorder) -> None:
    """A second car gets no ticket and no badge pass; the display says why."""
    assert sim.rdm6300 is not None  # these lanes have a badge reader
    car = sim.vehicle()
    car.arrive()
    wait_for(
        lambda: sim.text.last and sim.text.last[0] == messages.STORAGE_FAULT.zh,
        what="storage fault shown",
    )
    assert sim.display.rows and "记录故障" in "".join(sim.display.rows).replace(
        " ", ""
    )  # the pole display
    assert messages.STORAGE_FAULT.zh in sim.text.said  # and the voice
    shown = recorder.count(Show(messages.STORAGE_FAULT))
    card = sim.place_card()
    wait_for(lambda: refusal_shown(sim, recorder, shown), what="the card refused")
    shown = recorder.count(Show(messages.STORAGE_FAULT))
    sim.rdm6300.present(STAFF)
    wait_for(lambda: refusal_shown(sim, recorder, shown), what="the badge refused")
    assert not any(isinstance(e, WriteCard) for e in recorder.effects), "a ticket was started"
    assert "ticket_issued" not in recorder.types()
    assert card.user_memory == type(card)().user_memory, "the card was written"
    assert arm_down(sim)
    assert sim.lane.storage.status()["storage"] != "ok"
    sim.pn532.remove_card()


# --------------------------------------------------------------------------- injected SQLite errors


@pytest.mark.parametrize("site", ["outbox", "lane_state"])
def test_injected_sqlite_error_while_a_car_passes_still_closes_the_barrier(lanes, site):
    entry = lanes("entry", camera=False)
    entry.lane.storage.probe_interval_s = 0.1
    recorder = Recorder(entry)
    car = badge_and_open(entry)
    db = entry.outbox._emit_db if site == "outbox" else entry.store._db
    deny_writes(db)
    car.drive_through()
    wait_for(lambda: arm_down(entry), what="the arm down over the empty lane")
    wait_for(lambda: entry.lane.status().storage_fault, what="the storage fault known")
    assert site in entry.lane.status().extra["storage_error"]
    if site == "outbox":
        assert entry.lane.storage.held >= 2  # vehicle_entered and barrier_closed, in memory
    refused_while_failing(entry, recorder)

    allow_writes(db)
    assert_held_events_arrived_in_order(entry, recorder)
    assert entry.lane.storage.status()["storage"] == "ok"
    wait_for(
        lambda: entry.text.last and entry.text.last[0] == messages.PLACE_CARD.zh,
        what="lane open again",
    )
    entry.place_card()
    wait_for(lambda: arm_up(entry), what="a ticket issued after recovery")
    assert "ticket_issued" in [t for _, t, _ in stored_events(entry)]


def test_payment_whose_record_fails_does_not_raise_and_its_used_mark_is_written_on_recovery(lanes):
    exit_ = lanes("exit", camera=False)
    exit_.lane.storage.probe_interval_s = 0.1
    recorder = Recorder(exit_)
    entered = datetime.now(UTC) - timedelta(minutes=50)
    ticket = exit_.codec.make(new_serial("entry-1", entered), entered, "car")
    car = exit_.vehicle()
    car.arrive()
    exit_.place_card(exit_.codec.encode_card(ticket))
    wait_for(lambda: exit_.payments.due is not None, what="fee due")
    deny_writes(
        exit_.outbox._emit_db, table="used_ticket"
    )  # the companion's insert fails: all rolls back
    shown = recorder.count(Show(messages.STORAGE_FAULT))
    exit_.lane.payment_received("cash", by="g001")
    wait_for(lambda: refusal_shown(exit_, recorder, shown), what="the storage fault shown")
    assert arm_down(exit_), "the barrier rose on a payment that is not on disk"
    assert not exit_.store.is_used(ticket.serial)
    with pytest.raises(LaneRefused):
        exit_.lane.payment_received(
            "cash", by="g001"
        )  # no second payment while nothing can be recorded
    exit_.lane.manual_raise(
        "paid cash, records failing", by="g001"
    )  # the guard lets the driver out
    wait_for(lambda: arm_up(exit_), what="the guard's raise")
    car.drive_through()
    wait_for(lambda: arm_down(exit_), what="the arm down after the car")

    allow_writes(exit_.outbox._emit_db)
    assert_held_events_arrived_in_order(exit_, recorder)
    assert exit_.store.is_used(ticket.serial), (
        "the held payment's used mark was not written with it"
    )
    types = [t for _, t, _ in stored_events(exit_)]
    assert types.count("payment_confirmed") == 1 and "manual_raise" in types


# --------------------------------------------------------------------------- real filesystems


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], check=False, capture_output=True, text=True, timeout=30)


def _need_mount(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode == 0:
        return
    reason = (
        f"{what} not permitted here ({result.stderr.strip() or result.returncode}); run as root"
    )
    if IN_CI:
        pytest.fail(f"{reason}: CI must run these as root", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs, as on the lane where the arm stayed up."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    _need_mount(
        _mount("-t", "tmpfs", "-o", "size=512k", "gatepost-test", str(mount_point)),
        "mount -t tmpfs",
    )
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Fill the filesystem to the last block; the ballast file is returned for the recovery."""
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return ballast


def test_a_full_512k_filesystem_closes_the_barrier_refuses_tickets_and_catches_up_when_space_returns(
    tiny_disk, tariff
):
    entry = build_sim_lane(
        "entry",
        tiny_disk,
        tariff=tariff,
        camera=False,
        profile=sim_profile("pi4_lane"),
        lane=lane_config(),
    )
    try:
        entry.lane.storage.probe_interval_s = 0.1
        recorder = Recorder(entry)
        car = badge_and_open(entry)
        ballast = fill(tiny_disk)
        car.drive_through()
        wait_for(lambda: arm_down(entry), what="the arm down on a full disk")
        wait_for(lambda: entry.lane.status().storage_fault, what="the storage fault known")
        assert "full" in (entry.lane.status().storage_fault or "")
        held = entry.lane.storage.held
        assert held >= 2
        refused_while_failing(entry, recorder)
        assert entry.lane.storage.held > held

        ballast.unlink()
        assert_held_events_arrived_in_order(entry, recorder)
        types = [t for _, t, _ in stored_events(entry)]
        assert types[types.index("badge_accepted") :].count("vehicle_entered") == 1
        assert "badge_rejected" in types and "ticket_issued" not in types
    finally:
        entry.close()


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A small ext4 on a loop device, mounted ``errors=remount-ro`` as a lane's SD card is."""
    image = tmp_path / "sd.img"
    mount_point = tmp_path / "sd"
    mount_point.mkdir()
    with open(image, "wb") as out:
        out.truncate(8 * 1024 * 1024)
    made = subprocess.run(
        ["mkfs.ext4", "-q", "-F", str(image)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    _need_mount(made, "mkfs.ext4")
    _need_mount(
        _mount("-o", "loop,errors=remount-ro", str(image), str(mount_point)), "mount -o loop (ext4)"
    )
    device = subprocess.run(
        ["findmnt", "-no", "SOURCE", str(mount_point)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    try:
        yield mount_point, os.path.basename(device)
    finally:
        subprocess.run(
            ["umount", "-l", str(mount_point)], check=False, capture_output=True, timeout=30
        )


def test_a_filesystem_gone_read_only_closes_the_barrier_and_keeps_every_event_for_the_journal(
    ext4_disk, tariff, caplog
):
    """The filesystem turns read-only under the running lane.

    ``mount -o remount,ro`` is refused by the kernel while SQLite holds its files
    open for writing (checked below), so the test does what happens on a Pi: an
    ext4 error makes the kernel remount it read-only (``errors=remount-ro``).
    That cannot be undone while mounted, so there is no recovery here: the
    events stay held, and when the agent stops each is logged whole.
    """
    mount_point, device = ext4_disk
    entry = build_sim_lane(
        "entry",
        mount_point,
        tariff=tariff,
        camera=False,
        profile=sim_profile("pi4_lane"),
        lane=lane_config(),
    )
    try:
        entry.lane.storage.probe_interval_s = 0.1
        recorder = Recorder(entry)
        busy = _mount("-o", "remount,ro", str(mount_point))
        assert busy.returncode != 0, (
            "remount ro with SQLite's files open: expected the kernel to refuse"
        )
        car = badge_and_open(entry)
        trigger = Path(f"/sys/fs/ext4/{device}/trigger_fs_error")
        if not trigger.exists():
            _need_mount(
                subprocess.CompletedProcess([], 1, "", "no ext4 trigger_fs_error"),
                "ext4 error trigger",
            )
        trigger.write_text("gatepost storage fault test")
        options = (
            subprocess.run(
                ["findmnt", "-no", "OPTIONS", str(mount_point)],
                check=False,
                capture_output=True,
                text=True,
                timeout=30,
            )
            .stdout.strip()
            .split(",")
        )
        assert {"ro", "emergency_ro"} & set(options), options  # newer kernels say emergency_ro
        car.drive_through()
        wait_for(lambda: arm_down(entry), what="the arm down on a read-only filesystem")
        wait_for(lambda: entry.lane.status().storage_fault, what="the storage fault known")
        refused_while_failing(entry, recorder)
        held = entry.lane.storage.held
        assert held >= 4
    finally:
        caplog.clear()
        entry.close()
    lost = [r for r in caplog.records if "event never written" in r.getMessage()]
    assert len(lost) == held, "an event held through the fault vanished without a log line"


def test_a_snapshot_the_disk_refuses_mid_run_is_a_storage_fault_and_the_arm_still_closes(
    lanes, tmp_path
):
    """The snapshot folder is written after each transit event; when it stops taking files (here:
    made read-only for the process by replacing it with a file) the lane stops issuing tickets."""
    from edge.lane.snapshots import Snapshots

    folder = tmp_path / "snaps"
    sim = lanes("entry", camera=True, start=False)
    sim.lane.snapshots = Snapshots(sim.lane.camera, folder, keep=50, probe_s=30)
    sim.lane.start()
    sim.lane.storage.probe_interval_s = 0.1
    recorder = Recorder(sim)
    car = badge_and_open(sim)
    sim.lane.snapshots.wait_idle(5)
    parked = tmp_path / "snaps-away"
    folder.rename(parked)
    folder.write_text(
        "no longer a folder"
    )  # every save now fails with an OSError (NotADirectoryError)
    car.drive_through()
    wait_for(lambda: arm_down(sim), what="the arm down after the car")
    wait_for(
        lambda: sim.lane.status().storage_fault, what="the snapshot failure is a storage fault"
    )
    assert "snapshots" in (sim.lane.status().extra["storage_error"] or "")
    refused_while_failing(sim, recorder)
    folder.unlink()
    parked.rename(folder)
    assert_held_events_arrived_in_order(sim, recorder)


def test_the_safety_reopen_over_a_vehicle_is_never_withheld_for_a_failed_write(lanes):
    """A car rolls under an arm that is coming down just as the disk refuses writes: the arm goes back up."""
    from edge.hw.gpio import activate, deactivate

    entry = lanes(
        "entry", camera=False, barrier={"travel_s": 1.5, "travel_timeout_s": 5.0}
    )  # a slow arm, to be caught moving
    entry.lane.storage.probe_interval_s = 0.1
    car = badge_and_open(entry)
    recorder = Recorder(entry)
    car.drive_through()
    wait_for(lambda: entry.mechanics.direction == -1, what="the arm coming down")
    deny_writes(entry.outbox._emit_db)
    activate(entry.lane.safety_loop)  # something under the falling arm
    wait_for(lambda: entry.lane.status().storage_fault, what="the storage fault known")
    wait_for(lambda: arm_up(entry), what="the arm back up over the vehicle")
    # The barrier's own interlock reverses too; the lane's safety re-open must also reach the relay.
    wait_for(
        lambda: OpenBarrier("safety") in recorder.effects,
        what="the lane's safety re-open carried out",
    )
    deactivate(entry.lane.safety_loop)
    wait_for(lambda: arm_down(entry), timeout=15, what="the arm down once the lane is clear")
    allow_writes(entry.outbox._emit_db)
    wait_for(lambda: entry.lane.status().storage_fault is None, timeout=15, what="recovered")

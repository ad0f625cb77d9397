"""Transit snapshots through the real lane and the simulated camera source."""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import cv2
import pytest

from edge.hw.camera import Camera
from edge.hw.gpio import activate, deactivate
from edge.lane.machine import BadgeRead
from edge.lane.snapshots import Snapshots
from edge.sim.camera_source import SimulatedCameraSource
from tests.lane.sim import events_of, wait_for


def with_snapshots(lanes, role: str, folder: Path, **kwargs):
    """A simulated lane with its camera and a snapshot worker, started."""
    keep = kwargs.pop("keep", 50)
    sim = lanes(role, camera=True, start=False, **kwargs)
    sim.lane.snapshots = Snapshots(sim.lane.camera, folder, keep=keep, probe_s=0.05)
    sim.lane.start()
    return sim


def badge_transit(sim, badge: str = "0A1B2C3D4E") -> None:
    car = sim.vehicle()
    car.arrive()
    sim.rdm6300.present(badge)
    wait_for(lambda: sim.barrier.state == "open", what="badge raises the barrier")
    sim.rdm6300.remove()
    car.drive_through()
    wait_for(
        lambda: sim.barrier.state == "closed" and sim.lane.status().phase == "idle",
        what="closed again",
    )


def test_each_entry_transit_stores_its_snapshots_and_names_them_in_the_events(lanes, tmp_path):
    folder = tmp_path / "snaps"
    entry = with_snapshots(lanes, "entry", folder)
    badge_transit(entry)
    assert entry.lane.snapshots.wait_idle(15)
    accepted = events_of(entry.outbox, "badge_accepted")[0]
    entered = events_of(entry.outbox, "vehicle_entered")[0]
    for event in (accepted, entered):
        name = event["snapshot"]
        assert name and name.endswith(".jpg") and "/" not in name and "0A1B2C3D4E" in name
        image = cv2.imread(str(folder / name))
        assert image is not None and image.shape == (240, 320, 3)
    assert accepted["snapshot"] != entered["snapshot"]
    assert entry.lane.status().extra["snapshots"] == "ok"
    # A card entry: the ticket_issued event gets one too.
    car = entry.vehicle()
    car.arrive()
    entry.place_card()
    wait_for(lambda: entry.barrier.state == "open", what="ticket issued")
    issued = events_of(entry.outbox, "ticket_issued")[0]
    assert issued["snapshot"] and issued["serial"] in issued["snapshot"]
    entry.pn532.remove_card()
    car.drive_through()
    wait_for(lambda: entry.barrier.state == "closed", what="closed")
    assert entry.lane.snapshots.wait_idle(15)
    assert (folder / issued["snapshot"]).is_file()


def test_exit_fee_quote_at_the_loop_gets_a_snapshot_but_a_console_quote_does_not(lanes, tmp_path):
    folder = tmp_path / "snaps"
    exit_ = with_snapshots(lanes, "exit", folder)
    ticket = exit_.codec.make(
        "SERSNAP001", exit_.lane.machine.now() - timedelta(minutes=126), "car"
    )
    car = exit_.vehicle()
    car.arrive()
    exit_.place_card(exit_.codec.encode_card(ticket))
    wait_for(lambda: exit_.lane.status().phase == "awaiting_payment", what="fee due")
    quoted = events_of(exit_.outbox, "fee_quoted")[0]
    assert quoted["snapshot"] and "SERSNAP001" in quoted["snapshot"]
    exit_.pn532.remove_card()
    car.leave()
    wait_for(lambda: exit_.lane.status().phase == "idle", what="driver backed away")
    exit_.lane.lost_ticket("粤B12345")  # at the booth console, no vehicle at the loop
    lost = events_of(exit_.outbox, "fee_quoted")[1]
    assert lost["snapshot"] is None
    assert exit_.lane.snapshots.wait_idle(15)
    assert (folder / quoted["snapshot"]).is_file()


def test_an_unplugged_camera_leaves_snapshot_none_says_so_and_recovers(lanes, tmp_path, caplog):
    entry = with_snapshots(lanes, "entry", tmp_path / "snaps")
    source = entry.camera_source
    source.unplug()
    wait_for(
        lambda: entry.lane.status().extra["snapshots"].startswith("error"),
        what="camera error noticed",
    )
    assert "camera returned no frame" in entry.lane.status().extra["camera"]
    caplog.set_level(logging.WARNING, logger="gatepost.lane")
    badge_transit(entry)
    assert [e["snapshot"] for e in events_of(entry.outbox, "badge_accepted")] == [None]
    assert [e["snapshot"] for e in events_of(entry.outbox, "vehicle_entered")] == [None]
    assert "no snapshot for badge_accepted" in caplog.text
    source.plug()
    wait_for(lambda: entry.lane.status().extra["snapshots"] == "ok", what="camera back")
    badge_transit(
        entry, "0B0B0B0B0B"
    )  # another badge: the reader debounces a repeat of the same one
    assert events_of(entry.outbox, "badge_accepted")[1]["snapshot"]


def test_an_unwritable_snapshot_folder_leaves_snapshot_none_and_the_lane_works(lanes, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    entry = with_snapshots(lanes, "entry", blocker / "snaps")
    wait_for(
        lambda: entry.lane.status().extra["snapshots"].startswith("error: snapshot folder"),
        what="folder error noticed",
    )
    badge_transit(entry)
    assert events_of(entry.outbox, "badge_accepted")[0]["snapshot"] is None
    assert events_of(entry.outbox, "vehicle_entered")[0]["snapshot"] is None


class GatedCameraSource(SimulatedCameraSource):
    """A camera whose every frame waits until the test opens the gate (a stuck USB or RTSP camera).

    ``finished`` is set when a frame was handed out: if the lane waited for the
    camera, it is set before the lane's decision returns; the gate's own deadline
    keeps a regression from hanging the suite.
    """

    def __init__(self) -> None:
        super().__init__(320, 240, seed=7)
        self.gate = threading.Event()
        self.finished = threading.Event()

    def read(self):
        self.gate.wait(timeout=30)
        frame = super().read()
        self.finished.set()
        return frame


def test_a_slow_camera_never_delays_the_barrier(lanes, tmp_path):
    folder = tmp_path / "snaps"
    entry = lanes("entry", camera=False, start=False)
    source = GatedCameraSource()
    slow = Camera(source)
    entry.lane.camera = slow
    entry.lane.snapshots = Snapshots(slow, folder, probe_s=30)
    entry.lane.start()
    activate(entry.lane.arming_loop)
    wait_for(lambda: entry.lane.status().phase == "waiting", what="waiting")
    effects = entry.lane.submit(BadgeRead("0A1B2C3D4E"))  # decision, event, relay: all in this call
    # The order, not a stopwatch: the barrier's decision came back while no frame had been taken.
    assert not source.finished.is_set(), "the lane waited for the camera before opening the barrier"
    assert any(type(e).__name__ == "OpenBarrier" for e in effects)
    name = events_of(entry.outbox, "badge_accepted")[0]["snapshot"]
    assert name and not (folder / name).exists()  # still being taken
    source.gate.set()
    assert entry.lane.snapshots.wait_idle(15)
    assert (folder / name).is_file()
    deactivate(entry.lane.arming_loop)


def test_snapshots_are_pruned_by_count_and_age(tmp_path):
    folder = tmp_path / "snaps"
    folder.mkdir()
    old = folder / "20200101T000000000Z-vehicle_entered-OLD.jpg"
    old.write_bytes(b"\xff\xd8old")
    os.utime(old, (time.time() - 40 * 86400, time.time() - 40 * 86400))
    (folder / "tmpcut.part").write_bytes(b"half a jpeg")
    (folder / "notes.txt").write_text("not ours")
    snaps = Snapshots(
        Camera(SimulatedCameraSource(160, 120, seed=3)),
        folder,
        keep=3,
        max_age_s=30 * 86400,
        probe_s=30,
    )
    snaps.start()
    try:
        wait_for(lambda: not old.exists(), what="old snapshot pruned at start")
        assert not (folder / "tmpcut.part").exists() and (folder / "notes.txt").exists()
        from datetime import UTC, datetime

        names = []
        for i in range(6):
            name = snaps.reference("vehicle_entered", f"SER{i}", datetime.now(UTC))
            assert name is not None
            names.append(name)
            snaps.capture(name)
            assert snaps.wait_idle(15)
            time.sleep(0.01)  # distinct modification times
        kept = sorted(p.name for p in folder.glob("*.jpg"))
        assert kept == sorted(names[-3:])
        assert snaps.saved == 6
    finally:
        snaps.stop()


@pytest.mark.parametrize("hint", ["../../etc/passwd", "粤B12345", "a b/c", None])
def test_snapshot_names_are_always_safe_file_names(tmp_path, hint):
    from datetime import UTC, datetime

    snaps = Snapshots(Camera(SimulatedCameraSource(160, 120, seed=4)), tmp_path, probe_s=30)
    now = datetime.now(UTC)
    first = snaps.reference("badge_accepted", hint, now)
    second = snaps.reference("badge_accepted", hint, now)
    assert first and second and first != second  # same millisecond, still unique
    for name in (first, second):
        assert "/" not in name and not name.startswith(".") and len(name) <= 80
        assert Path(name).name == name

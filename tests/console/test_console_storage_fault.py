"""The booth console's own store failing is a storage fault of its lanes (DESIGN.md §4).

The console copies every lane event into its shift ledger (SQLite). When that
write fails, the lane must hear it like any other storage fault: the arm still
comes down once the car is through, no ticket is issued, and the booth page
(``lane_view``) carries the fault and the lane's message in both languages.
The write is made to fail by a SQLite authorizer on the console store's own
connection; lifting it is the recovery.
"""

from __future__ import annotations

import pytest

from edge.lane import messages
from edge.lane.effects import WriteCard
from tests.lane.sim import wait_for
from tests.lane.test_storage_faults import (
    RESIDENT,
    Recorder,
    allow_writes,
    arm_down,
    arm_up,
    deny_writes,
)


def test_a_failing_shift_ledger_puts_the_lane_in_a_storage_fault_shown_on_the_booth_console(
    make_post,
):
    post = make_post(("entry-1",), serve=False)
    sim = post.lanes["entry-1"]
    if sim.rdm6300 is None:
        pytest.skip(
            f"{sim.profile.board.name}: no badge reader for the resident who starts the shift's records"
        )
    lane = sim.lane
    lane.storage.probe_interval_s = 0.1
    recorder = Recorder(sim)
    car = sim.vehicle()
    car.arrive()
    sim.rdm6300.present(RESIDENT)
    wait_for(lambda: arm_up(sim), what="the resident's barrier up")
    deny_writes(post.store._db)
    car.drive_through()
    wait_for(lambda: arm_down(sim), what="the arm down after the car")
    wait_for(lambda: lane.status().storage_fault, what="the ledger's failure is a storage fault")
    view = post.booth.lane_view(lane)
    assert "console_ledger" in (view["storage_error"] or "")
    assert view["message"] == {
        "key": "storage_fault",
        "zh": messages.STORAGE_FAULT.zh,
        "en": messages.STORAGE_FAULT.en,
    }

    second = sim.vehicle()
    second.arrive()
    wait_for(
        lambda: sim.text.last and sim.text.last[0] == messages.STORAGE_FAULT.zh,
        what="refusal shown",
    )
    sim.place_card()
    wait_for(
        lambda: (
            sum(
                1 for e in recorder.effects if getattr(e, "message", None) == messages.STORAGE_FAULT
            )
            >= 2
        ),
        what="the card refused",
    )
    assert not any(isinstance(e, WriteCard) for e in recorder.effects)

    allow_writes(post.store._db)
    wait_for(lambda: lane.status().storage_fault is None, timeout=15, what="recovered")
    assert post.booth.lane_view(lane)["storage_error"] is None
    # The lane's own record never failed: every event is in its outbox.
    stored = [row.event_type for row in sim.outbox.pending(limit=1000)][recorder.before :]
    assert stored == recorder.types()


def test_a_guard_signs_on_and_raises_by_hand_during_an_outbox_fault_and_the_records_follow_in_order(
    make_post,
):
    """Records failing must not lock the guard out: the sign-on and the raise are held, then written in order."""
    post = make_post(("exit-1",), serve=False)
    sim = post.lanes["exit-1"]
    lane = sim.lane
    lane.storage.probe_interval_s = 0.1
    recorder = Recorder(sim)
    deny_writes(sim.outbox._emit_db)
    car = sim.vehicle()
    car.arrive()  # vehicle_arrived cannot be written: the lane is in a storage fault
    wait_for(lambda: lane.status().storage_fault, what="storage fault known")
    duty = post.booth.sign_on("req-signon-0001", staff_id="g001", pin="1234")
    assert duty["ok"] and lane.status().guard_on_duty
    lane.manual_raise("records failing: letting the car out", by=duty["duty"]["guard"])
    wait_for(lambda: arm_up(sim), what="the guard's raise")
    car.drive_through()
    wait_for(lambda: arm_down(sim), what="the arm down after the car")
    allow_writes(sim.outbox._emit_db)
    wait_for(
        lambda: lane.status().storage_fault is None and lane.storage.held == 0,
        timeout=15,
        what="recovered",
    )
    stored = [row.event_type for row in sim.outbox.pending(limit=1000)][recorder.before :]
    decided = recorder.types()
    assert "guard_signed_on" in stored and "manual_raise" in stored
    assert [t for t in stored if t != "guard_signed_on"] == decided, (
        "lane events lost or out of order"
    )
    assert stored.index("guard_signed_on") < stored.index("manual_raise")

"""Whole lanes through the real drivers: PN532 and RDM6300 emulators on ptys, mock pins, outbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from edge.errors import ConfigError
from edge.hw.gpio import make_pin_factory
from edge.lane.assemble import assemble_lane
from edge.lane.occupancy import Occupancy
from edge.sim.capture import screen_of
from edge.sim.site import board_profile
from tests.lane.sim import event_types, events_of, wait_for


def later(minutes: float):
    return lambda: datetime.now(UTC) + timedelta(minutes=minutes)


def test_round_trip_card_written_at_entry_and_paid_at_exit(lanes):
    occupancy = Occupancy(capacity=50)
    entry = lanes("entry", occupancy=occupancy)
    exit_ = lanes("exit", occupancy=occupancy, clock=later(49.5))  # ~50 started minutes
    car = entry.vehicle()
    car.arrive()
    wait_for(
        lambda: entry.text.last and "请将卡放在读卡区" in entry.text.last[0],
        what="place card prompt",
    )
    card = entry.place_card()
    wait_for(lambda: entry.barrier.state == "open", what="entry barrier open")
    car.drive_through()
    wait_for(lambda: entry.barrier.state == "closed", what="entry barrier closed")
    types = event_types(entry.outbox)
    assert (
        types.index("ticket_issued")
        < types.index("barrier_opened")
        < types.index("vehicle_entered")
    )
    assert occupancy.snapshot().occupied == 1
    issued = events_of(entry.outbox, "ticket_issued")[0]

    # the same physical card, now at the exit station
    entry.pn532.remove_card()
    out = exit_.vehicle()
    out.arrive()
    exit_.pn532.place_card(card)
    wait_for(lambda: exit_.payments.due is not None, what="fee due")
    assert exit_.text.last[0] == "您的车计费停车50分钟,请交停车费2.50元"
    assert exit_.text.last[1] == "Parking time 50 min, please pay 2.50 CNY"
    assert (
        "".join(screen_of(exit_.display.captured))
        .replace(" ", "")
        .startswith("您的车计费停车50分钟")
    )
    assert exit_.barrier.state == "closed"  # nothing moves before the guard confirms
    exit_.buttons.confirm_payment.pin.drive_low()  # the guard presses 收费确认 in the booth
    exit_.buttons.confirm_payment.pin.drive_high()
    wait_for(lambda: exit_.barrier.state == "open", what="exit barrier open")
    out.drive_through()
    wait_for(lambda: exit_.barrier.state == "closed", what="exit barrier closed")
    paid = events_of(exit_.outbox, "payment_confirmed")[0]
    assert (
        paid["serial"] == issued["serial"] and paid["fee_minor"] == 250 and paid["method"] == "cash"
    )
    assert paid["guard"] == "booth button"
    assert exit_.store.is_used(issued["serial"])
    assert occupancy.snapshot().occupied == 0

    # the same card again: already used, the barrier stays down
    exit_.pn532.remove_card()
    time.sleep(0.4)  # the station counts a card back within 0.3 s as never having left
    again = exit_.vehicle()
    again.arrive()
    exit_.pn532.place_card(card)
    wait_for(lambda: events_of(exit_.outbox, "ticket_rejected"), what="replay refused")
    assert events_of(exit_.outbox, "ticket_rejected")[0]["reason"] == "already_used"
    assert exit_.barrier.state == "closed"


def test_a_board_that_cannot_run_the_lane_is_refused_and_leaves_nothing_open():
    zero = board_profile("pi_zero_2w_lane")  # no printer: no paper tickets
    factory = make_pin_factory("mock")
    with pytest.raises(ConfigError, match="printer"):
        assemble_lane(zero, role="entry", medium="paper", simulate=True, pin_factory=factory)
    # The failed assembly released its pins: the same pins on the same factory are free again.
    assembly = assemble_lane(zero, role="entry", medium="card", simulate=True, pin_factory=factory)
    try:
        assert assembly.parts.barrier.model == "hold" and assembly.parts.printer is None
    finally:
        assembly.close()

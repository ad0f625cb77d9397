"""The pure lane machine: rules of the entry and exit lane, without hardware."""

from __future__ import annotations

from datetime import timedelta

import pytest

from edge.lane import messages
from edge.lane.machine import (
    ArmingChanged,
    BadgeRead,
    BarrierFaulted,
    BarrierReached,
    CardPlaced,
    CloseBarrier,
    Emit,
    IssueRequested,
    LaneMachine,
    LaneRefused,
    LaneSettings,
    LostTicketClaimed,
    ManualClose,
    ManualRaise,
    MarkUsed,
    OpenBarrier,
    OverrideFull,
    PaymentReceived,
    Phase,
    PresenceChanged,
    PrintTicket,
    ReadCard,
    Recover,
    RequestPayment,
    Show,
    Tick,
    TicketInvalid,
    TicketPresented,
    TicketWriteFailed,
    TicketWritten,
    WriteCard,
)
from edge.lane.occupancy import Occupancy
from edge.ticket import Ticket
from edge.wire import EventType, RejectReason
from tests.lane.conftest import build_machine


def events(effects: list) -> list[EventType]:
    return [e.event_type for e in effects if isinstance(e, Emit)]


def shown(effects: list) -> list[str]:
    return [e.message.key for e in effects if isinstance(e, Show)]


def ticket(clock, minutes_ago: float, serial: str = "1M8D6MSC3-HD1QPYAJ") -> Ticket:
    return Ticket(serial, "demo", clock.now - timedelta(minutes=minutes_ago), "entry-1", "car", 1)


def test_entry_card_is_written_then_barrier_opens_after_the_events(tariff, clock):
    lane = build_machine("entry", tariff, clock)
    arrived = lane.handle(ArmingChanged(True))
    assert events(arrived) == [EventType.VEHICLE_ARRIVED]
    assert shown(arrived) == ["place_card"]
    write = lane.handle(CardPlaced("04a1b2c3"))
    assert len(write) == 1 and isinstance(write[0], WriteCard)
    effects = lane.handle(TicketWritten(write[0].serial, key_id=1))
    assert events(effects) == [EventType.TICKET_ISSUED, EventType.BARRIER_OPENED]
    kinds = [type(e).__name__ for e in effects]
    assert kinds == [
        "Emit",
        "Emit",
        "OpenBarrier",
        "Show",
    ]  # events first, then the relay, then the text
    assert lane.phase == Phase.OPEN
    # car crosses the safety loop: vehicle_entered, count +1, close after it has cleared
    assert lane.handle(ArmingChanged(False)) == []
    assert lane.handle(PresenceChanged(True)) == []
    passed = lane.handle(PresenceChanged(False))
    assert events(passed) == [EventType.VEHICLE_ENTERED, EventType.BARRIER_CLOSED]
    assert isinstance(passed[-1], CloseBarrier)
    assert lane.occupancy.snapshot().occupied == 1
    assert lane.phase == Phase.IDLE


def test_card_lifted_mid_write_never_opens_and_the_next_placement_rewrites(tariff, clock):
    lane = build_machine("entry", tariff, clock)
    lane.handle(ArmingChanged(True))
    first = lane.handle(CardPlaced("04a1"))[0]
    failed = lane.handle(TicketWriteFailed("card left the field after page 7"))
    assert shown(failed) == ["card_lifted"] and not any(isinstance(e, OpenBarrier) for e in failed)
    # a late "written" for the abandoned serial does not open either
    assert lane.handle(TicketWritten(first.serial, 1)) == []
    second = lane.handle(CardPlaced("04a1"))[0]
    assert isinstance(second, WriteCard)
    assert EventType.TICKET_ISSUED in events(lane.handle(TicketWritten(second.serial, 1)))


def test_lot_full_refuses_visitors_shows_redirect_and_guard_can_override(tariff, clock):
    lane = build_machine("entry", tariff, clock, capacity=10, reserved=2, occupied=8)
    effects = lane.handle(ArmingChanged(True))
    assert events(effects) == [EventType.VEHICLE_ARRIVED, EventType.ENTRY_REFUSED_FULL]
    assert shown(effects) == ["lot_full"]
    assert messages.LOT_FULL.zh == "区内暂无车位,请停靠对面车场,多谢合作!"
    assert lane.handle(CardPlaced("04a1")) == [Show(messages.LOT_FULL)]  # no ticket issued
    with pytest.raises(LaneRefused):
        lane.handle(OverrideFull("   "))
    override = lane.handle(OverrideFull("VIP guest of unit 3-502", by="guard7"))
    assert events(override) == [EventType.ENTRY_REFUSED_FULL]
    assert (
        override[0].data.override is True and override[0].data.reason == "VIP guest of unit 3-502"
    )
    assert isinstance(lane.handle(CardPlaced("04a1"))[0], WriteCard)


def test_resident_badge_passes_a_full_lot_with_no_ticket(tariff, clock):
    lane = build_machine("entry", tariff, clock, capacity=5, occupied=5)
    lane.handle(ArmingChanged(True))
    effects = lane.handle(BadgeRead("0a1b2c3d4e"))
    assert events(effects) == [EventType.BADGE_ACCEPTED, EventType.BARRIER_OPENED]
    assert effects[0].data.holder_class == "resident"
    unknown = build_machine("entry", tariff, clock)
    unknown.handle(ArmingChanged(True))
    rejected = unknown.handle(BadgeRead("FFFFFFFFFF"))
    assert events(rejected) == [EventType.BADGE_REJECTED]
    assert unknown.phase == Phase.WAITING


def test_badge_without_a_vehicle_on_the_loop_does_nothing(tariff, clock):
    lane = build_machine("entry", tariff, clock)
    assert lane.handle(BadgeRead("0A1B2C3D4E")) == []
    assert lane.handle(CardPlaced("04a1")) == []


def test_paper_entry_prints_after_the_badge_grace_or_on_the_button(tariff, clock):
    lane = build_machine("entry", tariff, clock, medium="paper")
    lane.handle(ArmingChanged(True))
    assert lane.handle(Tick()) == []  # too early: a resident may still badge
    clock.advance(seconds=2.5)
    effects = lane.handle(Tick())
    assert isinstance(effects[0], PrintTicket)
    other = build_machine("entry", tariff, clock, medium="paper")
    other.handle(ArmingChanged(True))
    assert isinstance(other.handle(IssueRequested())[0], PrintTicket)


def test_exit_quotes_the_exact_sentence_and_waits_for_payment(tariff, clock):
    lane = build_machine("exit", tariff, clock)
    lane.handle(ArmingChanged(True))
    assert isinstance(lane.handle(CardPlaced("04a1"))[0], ReadCard)
    effects = lane.handle(TicketPresented(ticket(clock, 50), "card"))
    assert events(effects) == [EventType.FEE_QUOTED]
    sentence = next(e.message for e in effects if isinstance(e, Show))
    assert sentence.zh == "您的车计费停车50分钟,请交停车费2.50元"
    assert sentence.en == "Parking time 50 min, please pay 2.50 CNY"
    assert any(isinstance(e, RequestPayment) and e.fee_minor == 250 for e in effects)
    assert not any(isinstance(e, OpenBarrier) for e in effects)
    assert lane.status().fee_due_minor == 250
    paid = lane.handle(PaymentReceived("cash", by="guard7"))
    assert events(paid) == [EventType.PAYMENT_CONFIRMED, EventType.BARRIER_OPENED]
    assert MarkUsed("1M8D6MSC3-HD1QPYAJ", 250, "cash") in paid
    with pytest.raises(LaneRefused):
        lane.handle(PaymentReceived("cash"))  # nothing due any more


def test_zero_fee_exit_opens_at_once(tariff, clock):
    lane = build_machine("exit", tariff, clock)
    lane.handle(ArmingChanged(True))
    effects = lane.handle(TicketPresented(ticket(clock, 12), "paper"))
    assert events(effects) == [
        EventType.FEE_QUOTED,
        EventType.PAYMENT_CONFIRMED,
        EventType.BARRIER_OPENED,
    ]
    assert [e for e in effects if isinstance(e, Emit)][1].data.method == "none"
    opened = next(i for i, e in enumerate(effects) if isinstance(e, OpenBarrier))
    assert all(isinstance(e, Emit) for e in effects[:opened])  # one durable batch, then the relay
    assert any(isinstance(e, MarkUsed) for e in effects[opened:])


def test_used_forged_and_future_tickets_are_refused_and_leave_the_barrier_closed(tariff, clock):
    lane = build_machine("exit", tariff, clock)
    lane.handle(ArmingChanged(True))
    used = lane.handle(TicketPresented(ticket(clock, 50), "card", already_used=True))
    assert (
        events(used) == [EventType.TICKET_REJECTED]
        and used[0].data.reason == RejectReason.ALREADY_USED
    )
    forged = lane.handle(TicketInvalid(RejectReason.FORGED, None, "bad tag"))
    assert events(forged) == [EventType.TICKET_REJECTED]
    future = lane.handle(TicketPresented(ticket(clock, -30), "card"))
    assert future[0].data.reason == RejectReason.FROM_FUTURE
    assert lane.phase == Phase.WAITING and not lane.barrier_open


def test_clock_a_little_behind_the_ticket_gives_a_zero_stay_not_a_negative_one(tariff, clock):
    lane = build_machine("exit", tariff, clock)
    lane.handle(ArmingChanged(True))
    effects = lane.handle(TicketPresented(ticket(clock, -2), "card"))  # entry 2 min "in the future"
    assert effects[0].data.minutes == 0 and effects[0].data.fee_minor == 0


def test_clock_stepping_backwards_is_reported_not_a_crash(tariff, clock):
    lane = build_machine("exit", tariff, clock)
    lane.handle(ArmingChanged(True))
    clock.advance(hours=-3)
    lane.handle(TicketPresented(ticket(clock, 10), "card"))
    assert lane.status().clock_trusted is False
    lane.set_clock_sync(True)
    assert lane.status().clock_trusted is True
    restarted = build_machine("exit", tariff, clock)
    restarted.handle(Recover(last_seen=clock.now + timedelta(hours=1)))
    assert restarted.status().clock_stepped_back is True


def test_lost_ticket_charges_the_tariff_fee_and_notes_the_plate(tariff, clock):
    lane = build_machine("exit", tariff, clock)
    lane.handle(ArmingChanged(True))
    with pytest.raises(LaneRefused):
        lane.handle(LostTicketClaimed(plate=""))
    effects = lane.handle(LostTicketClaimed(plate="粤B12345"))
    assert events(effects)[:2] == [EventType.LOST_TICKET, EventType.FEE_QUOTED]
    assert effects[0].data.plate == "粤B12345"
    assert not any(isinstance(e, MarkUsed) for e in effects)


def test_manual_raise_needs_a_reason_and_is_audited(tariff, clock):
    lane = build_machine("entry", tariff, clock)
    with pytest.raises(LaneRefused):
        lane.handle(ManualRaise(""))
    assert lane.barrier_open is False
    effects = lane.handle(ManualRaise("ambulance", by="guard7"))
    assert events(effects) == [EventType.MANUAL_RAISE, EventType.BARRIER_OPENED]
    lane.handle(PresenceChanged(True))
    with pytest.raises(LaneRefused):
        lane.handle(ManualClose("test"))  # never on a vehicle
    closed = lane.handle(PresenceChanged(False))
    assert events(closed) == [EventType.VEHICLE_ENTERED, EventType.BARRIER_CLOSED]
    with pytest.raises(LaneRefused):
        lane.handle(ManualClose(" "))
    assert events(lane.handle(ManualClose("barrier test"))) == [
        EventType.MANUAL_CLOSE,
        EventType.BARRIER_CLOSED,
    ]


def test_safety_reopen_when_a_vehicle_rolls_under_a_closing_arm(tariff, clock):
    lane = build_machine("entry", tariff, clock)
    lane.handle(ManualRaise("delivery"))
    lane.handle(BarrierReached("open"))
    lane.handle(PresenceChanged(True))
    closing = lane.handle(PresenceChanged(False))
    assert isinstance(closing[-1], CloseBarrier)
    reopen = lane.handle(PresenceChanged(True))  # a second car follows before the arm is down
    assert events(reopen) == [EventType.BARRIER_OPENED] and reopen[0].data.cause == "safety"
    final = lane.handle(PresenceChanged(False))
    assert isinstance(final[-1], CloseBarrier)


def test_barrier_fault_puts_the_lane_out_of_service_until_it_closes(tariff, clock):
    lane = build_machine("entry", tariff, clock)
    lane.handle(ArmingChanged(True))
    effects = lane.handle(BarrierFaulted("open", "open limit not reached in 6 s"))
    assert events(effects) == [EventType.BARRIER_FAULT] and shown(effects) == ["out_of_service"]
    assert lane.handle(CardPlaced("04a1")) == [Show(messages.OUT_OF_SERVICE)]
    assert lane.status().out_of_service
    lane.handle(ManualClose("reset after fault"))
    lane.handle(BarrierReached("closed"))
    assert lane.phase == Phase.WAITING and not lane.status().out_of_service


def test_open_barrier_with_nobody_passing_closes_after_the_timeout(tariff, clock):
    lane = build_machine("entry", tariff, clock)
    lane.handle(ManualRaise("test"))
    clock.advance(seconds=61)
    effects = lane.handle(Tick())
    assert events(effects) == [EventType.BARRIER_CLOSED] and effects[0].data.cause == "timeout"


def test_recovery_commands_a_close_but_never_onto_a_vehicle(tariff, clock):
    lane = build_machine("exit", tariff, clock)
    lane.handle(PresenceChanged(True))
    assert lane.handle(Recover(barrier_was_open=True)) == []
    effects = lane.handle(PresenceChanged(False))
    assert events(effects) == [EventType.BARRIER_CLOSED] and effects[0].data.cause == "cleared"


def test_close_delay_waits_after_the_loop_clears_and_never_closes_on_a_returning_car(tariff, clock):
    lane = LaneMachine(
        LaneSettings(role="entry", close_delay_s=1.0),
        clock=clock,
        occupancy=Occupancy(10),
        quoter=lambda *a: None,
        serials=lambda now: "S1",
        whitelist={"0A1B2C3D4E": "resident"},
    )
    lane.handle(ArmingChanged(True))
    lane.handle(BadgeRead("0A1B2C3D4E"))
    lane.handle(ArmingChanged(False))
    lane.handle(PresenceChanged(True))
    passed = lane.handle(PresenceChanged(False))
    assert events(passed) == [EventType.VEHICLE_ENTERED]  # not closed yet
    assert lane.next_deadline() == clock.now + timedelta(seconds=1)
    clock.advance(seconds=0.5)
    assert lane.handle(Tick()) == []
    lane.handle(PresenceChanged(True))  # something back on the loop before the delay ran out
    clock.advance(seconds=1)
    assert lane.handle(Tick()) == []  # due, but a vehicle is there: wait for it
    assert lane.next_deadline() is None
    closed = lane.handle(PresenceChanged(False))
    assert events(closed) == [EventType.BARRIER_CLOSED]

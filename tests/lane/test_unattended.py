"""Unattended lanes: nobody signed on at the booth (badges_only and refuse_all)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from edge.hw.gpio import activate, deactivate
from edge.lane import messages
from edge.lane.machine import (
    ArmingChanged,
    BadgeRead,
    CardPlaced,
    CloseBarrier,
    Emit,
    GuardChanged,
    IssueRequested,
    LaneMachine,
    LaneRefused,
    LaneSettings,
    LostTicketClaimed,
    ManualClose,
    ManualRaise,
    OpenBarrier,
    OverrideFull,
    PaymentReceived,
    PrintTicket,
    ReadCard,
    RequestPayment,
    Show,
    Tick,
    TicketPresented,
    WriteCard,
)
from edge.lane.occupancy import Occupancy
from edge.tariff import Tariff, quote
from edge.tariff.money import format_money
from edge.ticket import Ticket, new_serial
from tests.lane.clock import StepClock
from tests.lane.conftest import WHITELIST
from tests.lane.sim import event_types, events_of, settled, wait_for
from tests.support.browser import lane_script

VISITOR_CARD = "04A1B2C3"


def machine(
    role: str,
    tariff: Tariff,
    clock: StepClock,
    *,
    mode: str = "badges_only",
    medium: str = "card",
    guard: str | None = None,
    occupied: int = 0,
) -> LaneMachine:
    return LaneMachine(
        LaneSettings(role=role, medium=medium, unattended_mode=mode),  # type: ignore[arg-type]
        clock=clock,
        occupancy=Occupancy(10, 0, occupied),
        quoter=lambda entry, exit, cls, lost: quote(tariff, entry, exit, cls, lost),
        serials=lambda now: new_serial(f"{role}-1", now),
        whitelist=WHITELIST,
        guard_on_duty=guard,
    )


def kinds(effects: list) -> list[type]:
    return [type(e) for e in effects]


def emitted(effects: list) -> list[str]:
    return [e.event_type.value for e in effects if isinstance(e, Emit)]


def shown(effects: list) -> list[str]:
    return [e.message.key for e in effects if isinstance(e, Show)]


def ticket(clock: StepClock, minutes: int) -> TicketPresented:
    entry_at = clock.now - timedelta(minutes=minutes)
    return TicketPresented(Ticket("SER00001", "demo", entry_at, "entry-1", "car", 1), "card")


# --------------------------------------------------------------------------- badges_only


def test_unattended_entry_gives_a_visitor_no_ticket_and_says_why(tariff, clock):
    lane = machine("entry", tariff, clock)
    arrived = lane.handle(ArmingChanged(True))
    assert shown(arrived) == ["unattended_badges_only"]
    effects = lane.handle(CardPlaced(VISITOR_CARD))
    assert WriteCard not in kinds(effects) and OpenBarrier not in kinds(effects)
    assert shown(effects) == ["unattended_badges_only"]
    assert messages.UNATTENDED_BADGES_ONLY.zh == "无人值守,仅限业主卡通行"
    assert "residents' badges only" in messages.UNATTENDED_BADGES_ONLY.en
    assert lane.status().attended is False and lane.status().guard_on_duty is None


def test_unattended_entry_still_lets_badges_and_whitelisted_cards_through(tariff, clock):
    lane = machine("entry", tariff, clock)
    lane.handle(ArmingChanged(True))
    effects = lane.handle(BadgeRead("0A1B2C3D4E"))
    assert emitted(effects)[:2] == ["badge_accepted", "barrier_opened"] and OpenBarrier in kinds(
        effects
    )
    other = machine("entry", tariff, clock)
    other.handle(ArmingChanged(True))
    effects = other.handle(CardPlaced("04aabbccdd"))  # a staff card UID on the whitelist
    assert "badge_accepted" in emitted(effects) and OpenBarrier in kinds(effects)


def test_unattended_paper_entry_never_prints_and_the_button_says_why(tariff, clock):
    lane = machine("entry", tariff, clock, medium="paper")
    lane.handle(ArmingChanged(True))
    clock.advance(seconds=30)
    assert lane.next_deadline() is None
    assert PrintTicket not in kinds(lane.handle(Tick()))
    effects = lane.handle(IssueRequested())
    assert PrintTicket not in kinds(effects) and shown(effects) == ["unattended_badges_only"]
    # A guard signs on while the car waits: the paper ticket follows after the usual delay.
    assert shown(lane.handle(GuardChanged("g-li"))) == ["welcome"]
    clock.advance(seconds=3)
    assert PrintTicket in kinds(lane.handle(Tick()))


def test_unattended_exit_with_a_fee_due_cannot_be_paid_until_a_guard_signs_on(tariff, clock):
    lane = machine("exit", tariff, clock)
    lane.handle(ArmingChanged(True))
    assert kinds(lane.handle(CardPlaced(VISITOR_CARD))) == [
        ReadCard
    ]  # badges_only still reads tickets
    effects = lane.handle(ticket(clock, 126))
    assert emitted(effects) == ["fee_quoted"]
    assert RequestPayment not in kinds(effects) and OpenBarrier not in kinds(effects)
    assert shown(effects) == ["fee_due_unattended"]
    text = effects[-1].message
    due = quote(tariff, clock.now - timedelta(minutes=126), clock.now, "car", False)
    amount = format_money(due.fee_minor, due.currency)
    assert due.fee_minor > 0 and effects[0].data.fee_minor == due.fee_minor
    assert text.zh == f"停车126分钟应交{amount}元,无人值守请按对讲"
    assert text.en == f"126 min, {amount} {due.currency} due. Unattended: please use the intercom."
    with pytest.raises(LaneRefused) as refused:
        lane.handle(PaymentReceived("cash", by="someone"))
    assert "nobody is on duty" in str(refused.value) and "无人值守" in refused.value.zh
    assert lane.status().phase == "awaiting_payment"
    signed_on = lane.handle(GuardChanged("g-wang"))
    assert RequestPayment in kinds(signed_on) and shown(signed_on) == ["fee_due"]
    paid = lane.handle(PaymentReceived("cash", by="g-wang"))
    assert "payment_confirmed" in emitted(paid) and OpenBarrier in kinds(paid)


def test_unattended_exit_lets_a_free_stay_out(tariff, clock):
    """Decision: a verified ticket inside the grace period passes (nothing to pay, nobody trapped)."""
    lane = machine("exit", tariff, clock)
    lane.handle(ArmingChanged(True))
    lane.handle(CardPlaced(VISITOR_CARD))
    effects = lane.handle(ticket(clock, 5))
    assert emitted(effects)[:3] == ["fee_quoted", "payment_confirmed", "barrier_opened"]
    assert OpenBarrier in kinds(effects)


def test_guard_signing_off_withdraws_a_pending_payment(tariff, clock):
    lane = machine("exit", tariff, clock, guard="g-wang")
    lane.handle(ArmingChanged(True))
    lane.handle(CardPlaced(VISITOR_CARD))
    assert RequestPayment in kinds(lane.handle(ticket(clock, 126)))
    effects = lane.handle(GuardChanged(None))
    assert (
        shown(effects) == ["fee_due_unattended"]
        and effects[0].__class__.__name__ == "CancelPayment"
    )
    with pytest.raises(LaneRefused):
        lane.handle(PaymentReceived("epay", reference="x"))


@pytest.mark.parametrize(
    "action",
    [
        ManualRaise("ambulance"),
        ManualClose("test"),
        OverrideFull("guest of 3-502"),
    ],
)
def test_console_actions_need_a_guard_on_duty(tariff, clock, action):
    lane = machine("entry", tariff, clock, occupied=10)
    lane.handle(ArmingChanged(True))
    with pytest.raises(LaneRefused) as refused:
        lane.handle(action)
    assert "needs a guard signed on" in str(refused.value)
    assert refused.value.zh.startswith("岗亭无人值守")
    assert lane.status().barrier == "closed"


def test_lost_ticket_needs_a_guard_on_duty(tariff, clock):
    lane = machine("exit", tariff, clock)
    with pytest.raises(LaneRefused, match="needs a guard"):
        lane.handle(LostTicketClaimed("粤B12345"))


# --------------------------------------------------------------------------- refuse_all


def test_refuse_all_refuses_badges_and_whitelisted_cards_too(tariff, clock):
    lane = machine("entry", tariff, clock, mode="refuse_all")
    assert shown(lane.handle(ArmingChanged(True))) == ["unattended_closed"]
    effects = lane.handle(BadgeRead("0A1B2C3D4E"))
    assert OpenBarrier not in kinds(effects) and emitted(effects) == ["badge_rejected"]
    assert effects[0].data.reason == "unattended: lane refuses all"
    assert shown(effects) == ["unattended_closed"]
    effects = lane.handle(CardPlaced("04AABBCCDD"))
    assert OpenBarrier not in kinds(effects) and emitted(effects) == ["badge_rejected"]
    effects = lane.handle(CardPlaced(VISITOR_CARD))
    assert WriteCard not in kinds(effects) and shown(effects) == ["unattended_closed"]


def test_refuse_all_exit_does_not_even_read_a_free_ticket(tariff, clock):
    lane = machine("exit", tariff, clock, mode="refuse_all")
    lane.handle(ArmingChanged(True))
    assert shown(lane.handle(CardPlaced(VISITOR_CARD))) == ["unattended_closed"]
    effects = lane.handle(ticket(clock, 5))  # a QR ticket read by the camera
    assert OpenBarrier not in kinds(effects) and emitted(effects) == []


def test_refuse_all_opens_only_for_centrals_audited_remote_raise(tariff, clock):
    lane = machine("entry", tariff, clock, mode="refuse_all")
    lane.handle(ArmingChanged(True))
    with pytest.raises(LaneRefused):
        lane.handle(ManualRaise("let me in"))
    with pytest.raises(LaneRefused, match="needs a reason"):
        lane.handle(ManualRaise("  ", by="supervisor", request_id="req-1", remote=True))
    effects = lane.handle(
        ManualRaise("fire brigade", by="supervisor", request_id="req-2", remote=True)
    )
    assert emitted(effects)[:2] == ["manual_raise", "barrier_opened"]
    raise_event = effects[0].data
    assert (raise_event.by, raise_event.request_id, raise_event.reason) == (
        "supervisor",
        "req-2",
        "fire brigade",
    )
    assert shown(effects) == ["remote_open"] and OpenBarrier in kinds(effects)
    assert CloseBarrier not in kinds(effects)


# --------------------------------------------------------------------------- through the real lane


def test_booth_button_with_nobody_on_duty_moves_nothing_and_logs(lanes, caplog):
    exit_ = lanes("exit", camera=False)
    exit_.lane.set_guard_on_duty(None)
    ticket_ = exit_.codec.make(
        "SERBOOTH01", exit_.lane.machine.now() - timedelta(minutes=126), "car"
    )
    car = exit_.vehicle()
    car.arrive()
    exit_.place_card(exit_.codec.encode_card(ticket_))
    wait_for(lambda: exit_.lane.status().phase == "awaiting_payment", what="fee due")
    assert exit_.text.last[0].endswith("无人值守请按对讲")
    assert exit_.payments.due is None  # nothing asked of the booth: nobody is there
    caplog.set_level(logging.WARNING, logger="gatepost.lane")
    button = exit_.factory.pin(exit_.profile.board.pins.buttons.confirm_payment)
    button.drive_low()  # pressed (pull-up button)
    button.drive_high()
    wait_for(lambda: "booth button confirm_payment refused" in caplog.text, what="refusal logged")
    assert "岗亭无人值守" in caplog.text
    settled(exit_.lane)  # the refused press and anything queued behind it have run
    assert exit_.barrier.state == "closed" and "payment_confirmed" not in event_types(exit_.outbox)
    api = lane_script(exit_.lane)
    answer = api.post("/api/lane/confirm-payment", json={"method": "cash"})
    assert answer.status_code == 409 and answer.json()["error_zh"].startswith("岗亭无人值守")
    assert api.post("/api/lane/manual-raise", json={"reason": "ambulance"}).status_code == 409
    assert exit_.barrier.state == "closed"
    exit_.lane.set_guard_on_duty("g-zhao")
    wait_for(lambda: exit_.payments.due is not None, what="fee handed to the booth")
    assert api.post("/api/lane/confirm-payment", json={"method": "cash"}).status_code == 200
    wait_for(lambda: exit_.barrier.state == "open", what="paid, raised")
    assert (
        events_of(exit_.outbox, "payment_confirmed")[0]["guard"] == "token:script"
    )  # who acted: the token


def test_unattended_entry_refuses_a_visitor_card_on_the_real_lane(lanes):
    entry = lanes("entry", camera=False)
    entry.lane.set_guard_on_duty(None)
    assert entry.lane.status().attended is False
    activate(entry.lane.arming_loop)
    wait_for(lambda: entry.lane.status().phase == "waiting", what="waiting")
    entry.place_card()
    wait_for(
        lambda: entry.text.last and entry.text.last[0].startswith("无人值守"), what="message shown"
    )
    settled(entry.lane)  # the card's refusal and anything queued behind it have run
    assert entry.barrier.state == "closed" and "ticket_issued" not in event_types(entry.outbox)
    entry.pn532.remove_card()
    entry.rdm6300.present("0A1B2C3D4E")
    wait_for(lambda: entry.barrier.state == "open", what="resident badge still passes")
    entry.rdm6300.remove()
    deactivate(entry.lane.arming_loop)


@pytest.mark.parametrize("bad", ["", "   ", "x" * 65, 42])
def test_guard_name_must_be_sensible(lanes, bad):
    entry = lanes("entry", camera=False)
    with pytest.raises(LaneRefused) as refused:
        entry.lane.set_guard_on_duty(bad)
    assert refused.value.zh
    assert entry.lane.status().guard_on_duty == "booth"  # unchanged

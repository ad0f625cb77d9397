"""Random input sequences against the pure lane machine (hypothesis stateful testing).

Whatever order loops, cards, badges, payments, faults, guard actions and time
arrive in, two promises hold: the barrier is never told to close while a
vehicle is under it, and every raise is preceded by its event and by the
access or money decision that justified it.
"""

from __future__ import annotations

from datetime import timedelta

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from edge.lane.machine import (
    ArmingChanged,
    BadgeRead,
    BarrierFaulted,
    BarrierReached,
    CardPlaced,
    CloseBarrier,
    Emit,
    IssueRequested,
    LaneRefused,
    LostTicketClaimed,
    ManualClose,
    ManualRaise,
    OpenBarrier,
    OverrideFull,
    PaymentReceived,
    PresenceChanged,
    PrintTicket,
    Recover,
    Tick,
    TicketInvalid,
    TicketPresented,
    TicketWriteFailed,
    TicketWritten,
    WriteCard,
)
from edge.tariff import load_tariff
from edge.ticket import Ticket
from edge.wire import EventType, RejectReason
from tests.lane.clock import StepClock
from tests.lane.conftest import TARIFF_PATH, build_machine

TARIFF = load_tariff(TARIFF_PATH)
JUSTIFY = {EventType.BADGE_ACCEPTED, EventType.TICKET_ISSUED, EventType.PAYMENT_CONFIRMED,
           EventType.MANUAL_RAISE}
BADGES = st.sampled_from(["0A1B2C3D4E", "04AABBCCDD", "FFFFFFFFFF", "", "ZZ"])


class LaneRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = StepClock()
        self.lane = build_machine("entry", TARIFF, self.clock, capacity=3, reserved=1)
        self.opens = 0
        self.last_write: str | None = None

    def feed(self, item: object) -> None:
        presence_before = self.lane.presence
        try:
            effects = self.lane.handle(item)  # type: ignore[arg-type]
        except LaneRefused:
            return
        emitted: list[Emit] = []
        for effect in effects:
            if isinstance(effect, Emit):
                emitted.append(effect)
            if isinstance(effect, WriteCard | PrintTicket):
                self.last_write = effect.serial
            if isinstance(effect, CloseBarrier):
                assert not self.lane.presence, f"close commanded with a vehicle present after {item}"
                assert not (presence_before and isinstance(item, PresenceChanged) and item.active)
                assert emitted and emitted[-1].event_type == EventType.BARRIER_CLOSED
            if isinstance(effect, OpenBarrier):
                self.opens += 1
                assert emitted and emitted[-1].event_type == EventType.BARRIER_OPENED
                justified = {e.event_type for e in emitted} & JUSTIFY
                assert justified or emitted[-1].data.cause == "safety", f"raise without a reason: {item}"
                assert not isinstance(item, TicketInvalid | BadgeRead) or justified
                if isinstance(item, TicketPresented) and item.already_used:
                    raise AssertionError("a used ticket opened the barrier")

    @rule(active=st.booleans())
    def arming(self, active: bool) -> None:
        self.feed(ArmingChanged(active))

    @rule(active=st.booleans())
    def presence(self, active: bool) -> None:
        self.feed(PresenceChanged(active))

    @rule(uid=st.sampled_from(["04A1B2", "0A1B2C3D4E", "04AABBCCDD"]))
    def card(self, uid: str) -> None:
        self.feed(CardPlaced(uid))

    @rule(ok=st.booleans(), stale=st.booleans())
    def write_result(self, ok: bool, stale: bool) -> None:
        serial = "OLD-SERIAL" if stale or self.last_write is None else self.last_write
        self.feed(TicketWritten(serial, 1) if ok else TicketWriteFailed("lifted"))

    @rule()
    def ticket_button(self) -> None:
        self.feed(IssueRequested())

    @rule(badge=BADGES)
    def badge(self, badge: str) -> None:
        self.feed(BadgeRead(badge))

    @rule(minutes=st.integers(-600, 3000), used=st.booleans())
    def ticket(self, minutes: int, used: bool) -> None:
        entry = self.clock.now - timedelta(minutes=minutes)
        self.feed(TicketPresented(Ticket("SER1", "demo", entry, "entry-1", "car", 1), "card", used))

    @rule(reason=st.sampled_from(list(RejectReason)))
    def invalid(self, reason: RejectReason) -> None:
        self.feed(TicketInvalid(reason, None, "x"))

    @rule(method=st.sampled_from(["cash", "epay"]))
    def pay(self, method: str) -> None:
        self.feed(PaymentReceived(method))  # type: ignore[arg-type]

    @rule(plate=st.sampled_from(["", "粤B12345", "X" * 20]))
    def lost(self, plate: str) -> None:
        self.feed(LostTicketClaimed(plate))

    @rule(reason=st.sampled_from(["", "  ", "ambulance"]))
    def manual_raise(self, reason: str) -> None:
        self.feed(ManualRaise(reason))

    @rule(reason=st.sampled_from(["", "test"]))
    def manual_close(self, reason: str) -> None:
        self.feed(ManualClose(reason))

    @rule(reason=st.sampled_from(["", "guest"]))
    def override(self, reason: str) -> None:
        self.feed(OverrideFull(reason))

    @rule(position=st.sampled_from(["open", "closed"]))
    def reached(self, position: str) -> None:
        self.feed(BarrierReached(position))  # type: ignore[arg-type]

    @rule(expected=st.sampled_from(["open", "closed"]))
    def fault(self, expected: str) -> None:
        self.feed(BarrierFaulted(expected, "travel timeout"))  # type: ignore[arg-type]

    @rule(seconds=st.sampled_from([-7200, -3, 0.5, 1, 2, 61, 7200]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)
        self.feed(Tick())

    @rule(was_open=st.booleans())
    def restart(self, was_open: bool) -> None:
        self.feed(Recover(barrier_was_open=was_open))

    @invariant()
    def count_is_sane(self) -> None:
        snap = self.lane.occupancy.snapshot()
        assert snap.occupied >= 0
        assert self.lane.status().phase in set(type(self.lane.phase))


class ExitLaneRules(LaneRules):
    def __init__(self) -> None:
        super().__init__()
        # The exit lane also waits 1 s after the loop clears before closing.
        self.lane = build_machine("exit", TARIFF, self.clock, capacity=3, close_delay_s=1.0)


_settings = settings(max_examples=1000, stateful_step_count=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
TestEntryLaneStateful = LaneRules.TestCase
TestEntryLaneStateful.settings = _settings
TestExitLaneStateful = ExitLaneRules.TestCase
TestExitLaneStateful.settings = _settings

"""Random input sequences against the pure lane machine (hypothesis stateful testing).

Whatever order loops, cards, badges, payments, faults, guard actions and time
arrive in, two promises hold: the barrier is never told to close while a
vehicle is under it, and every raise is preceded by its event and by the
access or money decision that justified it.

Guards sign on and off at random too. While nobody is on duty the lane never
raises for anything but a whitelisted badge or card, a verified ticket with
nothing to pay (``badges_only`` only), central's remote raise, the safety
re-open over a vehicle, or the end of a ticket write begun while a guard was
on duty; it never starts issuing a ticket, and every booth action is refused.
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
    GuardChanged,
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


BOOTH_ACTIONS = (PaymentReceived, LostTicketClaimed, OverrideFull, ManualClose)


class LaneRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = StepClock()
        self.lane = build_machine("entry", TARIFF, self.clock, capacity=3, reserved=1)
        self.opens = 0
        self.last_write: str | None = None

    def feed(self, item: object) -> None:
        presence_before = self.lane.presence
        unattended = self.lane.guard_on_duty is None
        try:
            effects = self.lane.handle(item)  # type: ignore[arg-type]
        except LaneRefused:
            return
        if unattended:
            booth = isinstance(item, BOOTH_ACTIONS) or (isinstance(item, ManualRaise) and not item.remote)
            assert not booth, f"booth action {item} carried out with nobody on duty"
        emitted: list[Emit] = []
        for effect in effects:
            if isinstance(effect, Emit):
                emitted.append(effect)
            if isinstance(effect, WriteCard | PrintTicket):
                assert not unattended, f"ticket issued with nobody on duty after {item}"
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
                if unattended and emitted[-1].data.cause != "safety":
                    self.check_unattended_open(item, emitted)

    def check_unattended_open(self, item: object, emitted: list[Emit]) -> None:
        """Nobody on duty: only a badge, a free verified exit or central's raise may open."""
        refuse_all = self.lane.settings.unattended_mode == "refuse_all"
        allowed = False
        for event in emitted:
            if event.event_type == EventType.BADGE_ACCEPTED:
                allowed = not refuse_all
            elif event.event_type == EventType.PAYMENT_CONFIRMED:
                allowed = not refuse_all and event.data.method == "none" and event.data.fee_minor == 0
            elif event.event_type == EventType.TICKET_ISSUED:
                # A card write the guard started before signing off completes (issued while attended).
                allowed = isinstance(item, TicketWritten) and item.serial == self.last_write
            elif event.event_type == EventType.MANUAL_RAISE:
                allowed = isinstance(item, ManualRaise) and item.remote and event.data.request_id is not None
        assert allowed, f"unattended ({self.lane.settings.unattended_mode}) lane raised for {item}: " \
                        f"{[e.event_type.value for e in emitted]}"

    @rule(guard=st.sampled_from([None, None, "g-li", "booth"]))
    def guard_changes(self, guard: str | None) -> None:
        self.feed(GuardChanged(guard))

    @rule(reason=st.sampled_from(["", "fire brigade"]))
    def remote_raise(self, reason: str) -> None:
        self.feed(ManualRaise(reason, by="supervisor", request_id="req-000001", remote=True))

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


class UnattendedExitRules(LaneRules):
    def __init__(self) -> None:
        super().__init__()
        self.lane = build_machine("exit", TARIFF, self.clock, capacity=3, guard=None)


class RefuseAllEntryRules(LaneRules):
    def __init__(self) -> None:
        super().__init__()
        self.lane = build_machine("entry", TARIFF, self.clock, capacity=3, reserved=1,
                                  unattended_mode="refuse_all", guard=None)


class RefuseAllExitRules(LaneRules):
    def __init__(self) -> None:
        super().__init__()
        self.lane = build_machine("exit", TARIFF, self.clock, capacity=3, close_delay_s=1.0,
                                  unattended_mode="refuse_all", guard=None)


_settings = settings(max_examples=1000, stateful_step_count=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
_fewer = settings(_settings, max_examples=200)
TestEntryLaneStateful = LaneRules.TestCase
TestEntryLaneStateful.settings = _settings
TestExitLaneStateful = ExitLaneRules.TestCase
TestExitLaneStateful.settings = _settings
TestUnattendedExitStateful = UnattendedExitRules.TestCase
TestUnattendedExitStateful.settings = _fewer
TestRefuseAllEntryStateful = RefuseAllEntryRules.TestCase
TestRefuseAllEntryStateful.settings = _fewer
TestRefuseAllExitStateful = RefuseAllExitRules.TestCase
TestRefuseAllExitStateful.settings = _fewer

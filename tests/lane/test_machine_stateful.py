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

Storage fails and recovers at random too (``StorageFailed`` / ``StorageRecovered``,
as the lane service feeds them, including the decision whose record could not be
written and whose raise the service withheld). While storage fails the lane
issues no ticket, quotes and takes no money, and raises only for the guard's or
central's raise, the safety re-open, or a badge when the site allows badges in a
storage fault. Whatever happens, the arm is never left up over an empty lane
longer than its open timeout (plus the close delay).
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
    Phase,
    PresenceChanged,
    PrintTicket,
    Recover,
    StorageFailed,
    StorageRecovered,
    Tick,
    TicketInvalid,
    TicketPresented,
    TicketWriteFailed,
    TicketWritten,
    WriteCard,
)
from edge.tariff import load_tariff
from edge.ticket import Ticket
from edge.wire import BarrierMoved, EventType, ManualAction, PaymentConfirmed, RejectReason
from tests.lane.clock import StepClock
from tests.lane.conftest import TARIFF_PATH, build_machine

TARIFF = load_tariff(TARIFF_PATH)
JUSTIFY = {
    EventType.BADGE_ACCEPTED,
    EventType.TICKET_ISSUED,
    EventType.PAYMENT_CONFIRMED,
    EventType.MANUAL_RAISE,
}
BADGES = st.sampled_from(["0A1B2C3D4E", "04AABBCCDD", "FFFFFFFFFF", "", "ZZ"])


BOOTH_ACTIONS = (PaymentReceived, LostTicketClaimed, OverrideFull, ManualClose)
NEEDS_A_RECORD = {
    EventType.TICKET_ISSUED,
    EventType.FEE_QUOTED,
    EventType.PAYMENT_CONFIRMED,
    EventType.LOST_TICKET,
    EventType.FREE_EXIT,
}
"""Events of a transit the lane must not start while it cannot write its records."""


class LaneRules(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = StepClock()
        self.lane = build_machine("entry", TARIFF, self.clock, capacity=3, reserved=1)
        self.opens = 0
        self.last_write: str | None = None
        self.last_opened = False
        self.clear_up_since: datetime | None = None
        self.latest = self.clock.now
        """The latest time the clock has shown: a step back (no RTC on a Pi) restarts wall-clock timers."""

    def feed(self, item: object) -> None:
        presence_before = self.lane.presence
        unattended = self.lane.guard_on_duty is None
        storage_failing = self.lane.storage_fault is not None
        self.last_opened = False
        try:
            effects = self.lane.handle(item)  # type: ignore[arg-type]
        except LaneRefused:
            return
        if unattended:
            booth = isinstance(item, BOOTH_ACTIONS) or (
                isinstance(item, ManualRaise) and not item.remote
            )
            assert not booth, f"booth action {item} carried out with nobody on duty"
        emitted: list[Emit] = []
        for effect in effects:
            if isinstance(effect, Emit):
                emitted.append(effect)
                assert not (storage_failing and effect.event_type in NEEDS_A_RECORD), (
                    f"{effect.event_type} while storage fails, after {item}"
                )
            if isinstance(effect, WriteCard | PrintTicket):
                assert not storage_failing, f"ticket started while storage fails after {item}"
                assert not unattended, f"ticket issued with nobody on duty after {item}"
                self.last_write = effect.serial
            if isinstance(effect, CloseBarrier):
                assert not self.lane.presence, (
                    f"close commanded with a vehicle present after {item}"
                )
                assert not (presence_before and isinstance(item, PresenceChanged) and item.active)
                assert emitted and emitted[-1].event_type == EventType.BARRIER_CLOSED
            if isinstance(effect, OpenBarrier):
                self.opens += 1
                self.last_opened = not storage_failing
                assert emitted and emitted[-1].event_type == EventType.BARRIER_OPENED
                opened = emitted[-1].data
                assert isinstance(opened, BarrierMoved)
                if storage_failing and opened.cause != "safety":
                    kinds = {e.event_type for e in emitted}
                    badge = (
                        EventType.BADGE_ACCEPTED in kinds
                        and self.lane.settings.storage_fault_badges
                    )
                    assert badge or EventType.MANUAL_RAISE in kinds, (
                        f"raised while storage fails for {item}"
                    )
                justified = {e.event_type for e in emitted} & JUSTIFY
                assert justified or opened.cause == "safety", f"raise without a reason: {item}"
                assert not isinstance(item, TicketInvalid | BadgeRead) or justified
                if isinstance(item, TicketPresented) and item.already_used:
                    raise AssertionError("a used ticket opened the barrier")
                if unattended and opened.cause != "safety":
                    self.check_unattended_open(item, emitted)

    def check_unattended_open(self, item: object, emitted: list[Emit]) -> None:
        """Nobody on duty: only a badge, a free verified exit or central's raise may open."""
        refuse_all = self.lane.settings.unattended_mode == "refuse_all"
        allowed = False
        for event in emitted:
            if event.event_type == EventType.BADGE_ACCEPTED:
                allowed = not refuse_all
            elif event.event_type == EventType.PAYMENT_CONFIRMED:
                paid = event.data
                assert isinstance(paid, PaymentConfirmed)
                allowed = not refuse_all and paid.method == "none" and paid.fee_minor == 0
            elif event.event_type == EventType.TICKET_ISSUED:
                # A card write the guard started before signing off completes (issued while attended).
                allowed = isinstance(item, TicketWritten) and item.serial == self.last_write
            elif event.event_type == EventType.MANUAL_RAISE:
                action = event.data
                assert isinstance(action, ManualAction)
                allowed = (
                    isinstance(item, ManualRaise) and item.remote and action.request_id is not None
                )
        assert allowed, (
            f"unattended ({self.lane.settings.unattended_mode}) lane raised for {item}: "
            f"{[e.event_type.value for e in emitted]}"
        )

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

    @rule(during_last=st.booleans())
    def storage_fails(self, during_last: bool) -> None:
        """The disk refuses a write: of the last decision (its raise withheld), or of anything later."""
        withheld = during_last and self.last_opened and self.lane.storage_fault is None
        self.feed(StorageFailed("outbox: database or disk is full", open_withheld=withheld))

    @rule()
    def storage_recovers(self) -> None:
        self.feed(StorageRecovered())

    @invariant()
    def arm_never_left_up_over_an_empty_lane(self) -> None:
        lane = self.lane
        clear_and_up = (
            lane.barrier_open
            and not lane.presence
            and not lane.arming
            and lane.phase != Phase.OUT_OF_SERVICE
        )  # out of service: only the guard acts
        latest, self.latest = self.latest, max(self.latest, self.clock.now)
        if not clear_and_up:
            self.clear_up_since = None
            return
        assert lane.next_deadline() is not None, (
            "arm up over an empty lane with nothing due to close it"
        )
        if self.clear_up_since is None:
            # Counted from the latest time the clock had shown: after a step back, only time past it counts.
            self.clear_up_since = max(self.clock.now, latest)
        limit = lane.settings.open_timeout_s + lane.settings.close_delay_s
        assert (self.clock.now - self.clear_up_since).total_seconds() <= limit, (
            f"arm up over an empty lane for longer than {limit} s (storage fault: {lane.storage_fault})"
        )

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


class StorageBadgesExitRules(LaneRules):
    """An exit lane whose site lets residents' badges through a storage fault."""

    def __init__(self) -> None:
        super().__init__()
        self.lane = build_machine(
            "exit", TARIFF, self.clock, capacity=3, close_delay_s=1.0, storage_fault_badges=True
        )


class RefuseAllEntryRules(LaneRules):
    def __init__(self) -> None:
        super().__init__()
        self.lane = build_machine(
            "entry",
            TARIFF,
            self.clock,
            capacity=3,
            reserved=1,
            unattended_mode="refuse_all",
            guard=None,
        )


class RefuseAllExitRules(LaneRules):
    def __init__(self) -> None:
        super().__init__()
        self.lane = build_machine(
            "exit",
            TARIFF,
            self.clock,
            capacity=3,
            close_delay_s=1.0,
            unattended_mode="refuse_all",
            guard=None,
        )


_settings = settings(
    max_examples=1000,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_fewer = settings(_settings, max_examples=200)
TestEntryLaneStateful = LaneRules.TestCase
TestEntryLaneStateful.settings = _settings
TestExitLaneStateful = ExitLaneRules.TestCase
TestExitLaneStateful.settings = _settings
TestUnattendedExitStateful = UnattendedExitRules.TestCase
TestUnattendedExitStateful.settings = _fewer
TestStorageBadgesExitStateful = StorageBadgesExitRules.TestCase
TestStorageBadgesExitStateful.settings = _fewer
TestRefuseAllEntryStateful = RefuseAllEntryRules.TestCase
TestRefuseAllEntryStateful.settings = _fewer
TestRefuseAllExitStateful = RefuseAllExitRules.TestCase
TestRefuseAllExitStateful.settings = _fewer

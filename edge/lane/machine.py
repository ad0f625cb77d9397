"""The lane's decisions, with no I/O: inputs in, effects out.

:class:`LaneMachine` is the whole rule book of one gate lane (DESIGN.md §1):
who may pass, what is charged, when the barrier moves and what is said. It
reads a clock it is given and returns :class:`Effect` values; the lane service
(:mod:`edge.lane.lane`) carries them out in order. Because of that split the
machine can be driven through thousands of random input sequences in a test
(see ``tests/lane/test_machine_stateful.py``) without a pin or a serial port.

Rules the machine guarantees, whatever the input order:

* it never asks the barrier to close while the safety loop / photo-eye
  reports a vehicle (the close waits until the vehicle is gone);
* every barrier movement is preceded, in the same effect list, by its event
  (``barrier_opened`` / ``barrier_closed``) and by the access or money event
  that justified it, so the service writes them to the outbox first;
* only an explicit, valid allow opens the barrier: a badge on the whitelist,
  a ticket issued and verified, a fee paid or zero, a guard's manual raise
  with a reason. Everything else leaves it closed.

Clock policy (Pis have no RTC; DESIGN.md §6): a ticket whose entry time is more
than ``future_tolerance_s`` after "now" is refused as ``from_future`` (the
guard then uses the lost-ticket path, which is audited); within the tolerance
the stay counts as zero minutes, never negative. A wall clock seen going
backwards more than two seconds marks the clock untrusted until an external
sync says otherwise; :meth:`LaneMachine.status` reports it.

Unattended lanes (no guard signed on at the booth; ``guard_on_duty is None``)
follow ``LaneSettings.unattended_mode``:

* ``badges_only`` — whitelisted badges and cards pass; a visitor at the entry
  gets no ticket and is told to call the guard; at the exit a verified ticket
  whose stay is free (grace period, zero tariff) passes, because nobody has to
  take money and trapping a car inside helps no one, while a fee due cannot be
  paid (the driver is told to call the guard; the fee stays pending, so a
  guard who signs on can take it at once);
* ``refuse_all`` — nothing opens, badges included (they are logged as
  rejected), except central's audited remote raise with a reason.

In both modes payment confirmations and every booth action (manual raise or
close, lost ticket, overriding a full lot) are refused with
:class:`LaneRefused`: with nobody on duty nobody can be accountable for them.
A ticket already being written when the guard signs off is finished and let
in: that decision was taken while someone was on duty.

Storage faults (DESIGN.md §4, safety before bookkeeping) are inputs too:
:class:`StorageFailed` and :class:`StorageRecovered`. While storage fails the
barrier still closes once the lane is clear (closing never depends on a write),
but the lane starts no transit that needs a durable record: no ticket is issued,
no fee is quoted or taken, no lost ticket is handled, and residents' badges
pass only when ``LaneSettings.storage_fault_badges`` says so. The guard's
manual raise and close still work (the service holds their events in memory
until storage recovers). The pole display says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Never, NoReturn

from edge.errors import GatepostError, QuoteError
from edge.lane import messages
from edge.lane.effects import (
    CancelPayment,
    CloseBarrier,
    Effect,
    Emit,
    MarkUsed,
    OpenBarrier,
    PrintTicket,
    ReadCard,
    RequestPayment,
    Show,
    WriteCard,
)
from edge.lane.inputs import (
    ArmingChanged,
    BacklogChanged,
    BadgeRead,
    BarrierFaulted,
    BarrierReached,
    CardPlaced,
    GuardChanged,
    IssueRequested,
    LaneInput,
    LostTicketClaimed,
    ManualClose,
    ManualRaise,
    Medium,
    OverrideFull,
    PaymentReceived,
    PresenceChanged,
    ReaderFailed,
    Recover,
    StorageFailed,
    StorageRecovered,
    Tick,
    TicketInvalid,
    TicketPresented,
    TicketWriteFailed,
    TicketWritten,
)
from edge.lane.messages import Message
from edge.lane.occupancy import Occupancy
from edge.lane.ports import QuoteLike, Quoter
from edge.wire import (
    BadgeAccepted,
    BadgeRejected,
    BarrierFault,
    BarrierMoved,
    Direction,
    EntryRefusedFull,
    EventType,
    FeeQuoted,
    LineItem,
    LostTicket,
    ManualAction,
    OutboxBacklog,
    PaymentConfirmed,
    ReaderFault,
    RejectReason,
    TicketIssued,
    TicketRejected,
    VehicleArrived,
    VehiclePassed,
    format_ts,
)

log = logging.getLogger("gatepost.lane")

Role = Literal["entry", "exit"]
UnattendedMode = Literal["badges_only", "refuse_all"]
CLOCK_STEP_TOLERANCE = timedelta(seconds=2)


class LaneRefused(GatepostError, ValueError):
    """A guard or API request the lane will not carry out (no reason given, wrong moment).

    ``zh`` is the same refusal for the booth console's Chinese display.
    """

    def __init__(self, message: str, zh: str = "操作被拒绝") -> None:
        self.zh = zh
        super().__init__(message)


class Phase(StrEnum):
    IDLE = "idle"  # no vehicle at the lane, barrier closed (or closing)
    WAITING = "waiting"  # vehicle on the arming loop, waiting for card / badge / ticket
    REFUSED_FULL = "refused_full"  # entry: lot full, redirect shown, guard may override
    ISSUING = "issuing"  # entry: a ticket is being written / printed
    CHECKING = "checking"  # exit: a card is being read
    AWAITING_PAYMENT = "awaiting_payment"  # exit: fee shown, waiting on the payment port
    OPEN = "open"  # barrier raised for one vehicle to pass
    OUT_OF_SERVICE = "out_of_service"  # barrier fault: only the guard's manual actions work


# --------------------------------------------------------------------------- settings and state


@dataclass(slots=True, frozen=True)
class LaneSettings:
    """What differs between lanes; fixed at start (from the agent config)."""

    role: Role
    currency: str = "CNY"
    medium: Medium = "card"
    language: messages.Language = "zh"
    vehicle_class: str = "car"
    issue_delay_s: float = 2.0
    """Paper lanes print this long after arrival, leaving a resident time to badge first."""
    future_tolerance_s: float = 300.0
    open_timeout_s: float = 60.0
    """A raised barrier with nobody passing and no car waiting closes after this long."""
    close_delay_s: float = 0.0
    """Wait this long after the safety loop clears before closing (a long vehicle's tail)."""
    unattended_mode: UnattendedMode = "badges_only"
    """What the lane lets through while no guard is signed on (see the module docstring)."""
    storage_fault_badges: bool = False
    """Whether whitelisted badges still pass while storage fails (their events held in memory)."""


@dataclass(slots=True)
class Transit:
    """The one vehicle the lane is currently dealing with."""

    serial: str | None = None
    badge: str | None = None
    vehicle_class: str = "car"
    minutes: int | None = None
    fee_minor: int | None = None
    pending_entry_at: datetime | None = None
    manual: bool = False


@dataclass(slots=True)
class _Pending:
    serial: str
    fee_minor: int
    minutes: int
    vehicle_class: str
    mark_used: bool


@dataclass
class LaneStatus:
    phase: Phase
    role: Role
    barrier: str
    presence: bool
    vehicle_waiting: bool
    out_of_service: bool
    fault: str | None
    message: str | None
    fee_due_minor: int | None
    currency: str
    serial: str | None
    minutes: int | None
    clock_trusted: bool
    clock_stepped_back: bool
    occupied: int
    capacity: int
    guard_on_duty: str | None = None
    attended: bool = True
    unattended_mode: str = "badges_only"
    backlog_alarm: bool = False
    storage_fault: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


class LaneMachine:
    """The pure state machine of one entry or exit lane.

    ``whitelist`` maps badge ids and whitelisted card UIDs (upper-case hex) to a
    holder class ("resident", "staff", "monthly"). ``serials(now)`` makes a new
    ticket serial; ``quoter`` prices a stay from the site tariff.
    ``guard_on_duty`` is who is signed on at the booth; ``None`` starts the lane
    unattended. The default keeps a lane without a sign-on console attended.
    """

    def __init__(
        self,
        settings: LaneSettings,
        *,
        clock: Callable[[], datetime],
        occupancy: Occupancy,
        quoter: Quoter,
        serials: Callable[[datetime], str],
        whitelist: Mapping[str, str] | None = None,
        guard_on_duty: str | None = "booth",
    ) -> None:
        self.settings = settings
        self.guard_on_duty = guard_on_duty
        self.backlog_alarm = False
        self.storage_fault: str | None = None
        """Why the lane cannot write its records, or None (set by StorageFailed / StorageRecovered)."""
        self._clock = clock
        self.occupancy = occupancy
        self._quoter = quoter
        self._serials = serials
        self.whitelist: dict[str, str] = {k.upper(): v for k, v in (whitelist or {}).items()}
        self.phase = Phase.IDLE
        self.presence = False
        self.arming = False
        self.barrier_open = False  # last commanded position
        self.barrier_moving = False
        self.close_pending = False
        self.fault: str | None = None
        self.message: Message | None = None
        self.transit = Transit(vehicle_class=settings.vehicle_class)
        self.passing = False
        self._close_at: datetime | None = None
        self._pending: _Pending | None = None
        self._phase_since: datetime | None = None
        self._last_now: datetime | None = None
        self.clock_stepped_back = False
        self.clock_synced = False

    # ----------------------------------------------------------------- time

    def now(self) -> datetime:
        """The clock, watched for backward steps (which never make a stay negative)."""
        now = self._clock()
        if self._last_now is not None and now < self._last_now - CLOCK_STEP_TOLERANCE:
            if not self.clock_stepped_back:
                log.warning(
                    "clock stepped backwards", extra={"from": str(self._last_now), "to": str(now)}
                )
            self.clock_stepped_back = True
        if self._last_now is None or now > self._last_now:
            self._last_now = now
        return now

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock the machine was given (the lane's stores stamp with the same one)."""
        return self._clock

    @property
    def last_seen(self) -> datetime | None:
        return self._last_now

    def set_clock_sync(self, synced: bool) -> None:
        """The link measured skew against central; a good sync also clears a backward step."""
        self.clock_synced = synced
        if synced:
            self.clock_stepped_back = False
            self._last_now = None

    @property
    def clock_trusted(self) -> bool:
        return not self.clock_stepped_back

    def next_deadline(self) -> datetime | None:
        """When a :class:`Tick` could change something (close delay, paper issue delay, open timeout)."""
        deadlines = [self._close_at] if self._close_at is not None else []
        since = self._phase_since
        if since is not None:
            if (
                self.phase == Phase.WAITING
                and self.settings.role == "entry"
                and self.settings.medium == "paper"
                and self.attended
                and self.storage_fault is None
            ):
                deadlines.append(since + timedelta(seconds=self.settings.issue_delay_s))
            elif self.phase == Phase.OPEN and not self.passing:
                deadlines.append(since + timedelta(seconds=self.settings.open_timeout_s))
        return min(deadlines) if deadlines else None

    # ----------------------------------------------------------------- dispatch

    def handle(self, item: LaneInput) -> list[Effect]:
        """Apply one input; return the effects to carry out, in order.

        Raises :class:`LaneRefused` for a guard request that cannot be honoured;
        the state is then unchanged.
        """
        # A match on the classes, not handler names built from strings: mypy narrows ``item`` in
        # each case, and an input added to LaneInput without a case here (or a renamed class) is a
        # type error at ``_unknown_input``, not a refusal at run time.
        match item:
            case ArmingChanged():
                return self._on_ArmingChanged(item)
            case PresenceChanged():
                return self._on_PresenceChanged(item)
            case CardPlaced():
                return self._on_CardPlaced(item)
            case IssueRequested():
                return self._on_IssueRequested(item)
            case TicketWritten():
                return self._on_TicketWritten(item)
            case TicketWriteFailed():
                return self._on_TicketWriteFailed(item)
            case OverrideFull():
                return self._on_OverrideFull(item)
            case BadgeRead():
                return self._on_BadgeRead(item)
            case TicketInvalid():
                return self._on_TicketInvalid(item)
            case TicketPresented():
                return self._on_TicketPresented(item)
            case PaymentReceived():
                return self._on_PaymentReceived(item)
            case LostTicketClaimed():
                return self._on_LostTicketClaimed(item)
            case ManualRaise():
                return self._on_ManualRaise(item)
            case ManualClose():
                return self._on_ManualClose(item)
            case BarrierReached():
                return self._on_BarrierReached(item)
            case BarrierFaulted():
                return self._on_BarrierFaulted(item)
            case ReaderFailed():
                return self._on_ReaderFailed(item)
            case Tick():
                return self._on_Tick(item)
            case Recover():
                return self._on_Recover(item)
            case GuardChanged():
                return self._on_GuardChanged(item)
            case BacklogChanged():
                return self._on_BacklogChanged(item)
            case StorageFailed():
                return self._on_StorageFailed(item)
            case StorageRecovered():
                return self._on_StorageRecovered(item)
            case _:
                _unknown_input(item)

    # ----------------------------------------------------------------- helpers

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self._phase_since = self.now()

    def _show(self, message: Message) -> Show:
        self.message = message
        return Show(message)

    def _open(self, cause: str, serial: str | None = None) -> list[Effect]:
        """Raise the barrier for the current transit: event first, then the relay."""
        self.barrier_open = True
        self.barrier_moving = True
        self.close_pending = False
        self._close_at = None
        self.passing = self.presence
        return [
            Emit(EventType.BARRIER_OPENED, BarrierMoved(cause=cause, serial=serial)),
            OpenBarrier(cause),
        ]

    def _close(self, cause: str) -> list[Effect]:
        """Lower the barrier, or remember to once the vehicle under it has gone."""
        self._close_at = None
        if self.presence:
            self.close_pending = True
            return []
        if not self.barrier_open and not self.barrier_moving and not self.close_pending:
            return []
        self.close_pending = False
        self._close_at = None
        self.barrier_open = False
        self.barrier_moving = True
        return [
            Emit(EventType.BARRIER_CLOSED, BarrierMoved(cause=cause, serial=self.transit.serial)),
            CloseBarrier(cause),
        ]

    def _direction(self) -> Direction:
        return Direction.IN if self.settings.role == "entry" else Direction.OUT

    def _reset_transit(self) -> None:
        self.transit = Transit(vehicle_class=self.settings.vehicle_class)
        self._pending = None

    def _settle(self) -> list[Effect]:
        """Back to waiting or idle once the current business is over (barrier stays as is)."""
        self._reset_transit()
        if self.arming:
            self._enter(Phase.WAITING)
        else:
            self._enter(Phase.IDLE)
        return []

    @property
    def attended(self) -> bool:
        return self.guard_on_duty is not None

    def _closed_to_all(self) -> bool:
        return not self.attended and self.settings.unattended_mode == "refuse_all"

    def _unattended_message(self) -> Message:
        if self.settings.unattended_mode == "refuse_all":
            return messages.UNATTENDED_CLOSED
        return messages.UNATTENDED_BADGES_ONLY

    def _idle_message(self) -> Message:
        if self.storage_fault is not None:
            return messages.STORAGE_FAULT
        return messages.OUTBOX_BACKLOG if self.backlog_alarm else messages.WELCOME

    def _require_storage(self, what: str, what_zh: str) -> None:
        if self.storage_fault is not None:
            log.warning("refused while storage fails: %s", what)
            raise LaneRefused(
                f"records cannot be saved ({self.storage_fault}): {what} is refused until storage "
                f"recovers",
                f"记录无法保存(存储故障):暂停{what_zh}",
            )

    def _require_guard(self, what: str, what_zh: str) -> None:
        if not self.attended:
            log.warning("refused with nobody on duty: %s", what)
            raise LaneRefused(
                f"nobody is on duty at the booth: {what} needs a guard signed on",
                f"岗亭无人值守:{what_zh}须由当班人员签到后操作",
            )

    def _refuse_in_service(self) -> list[Effect] | None:
        if self.phase == Phase.OUT_OF_SERVICE:
            return [self._show(messages.OUT_OF_SERVICE)]
        return None

    @staticmethod
    def _reason(text: str, what: str) -> str:
        reason = (text or "").strip()
        if not reason:
            raise LaneRefused(f"{what} needs a reason", "请填写原因")
        if len(reason) > 500:
            raise LaneRefused(f"{what} reason is longer than 500 characters", "原因过长(最多500字)")
        return reason

    # ----------------------------------------------------------------- vehicle detection

    def _on_ArmingChanged(self, item: ArmingChanged) -> list[Effect]:
        if item.active == self.arming:
            return []
        self.arming = item.active
        if item.active:
            if self.phase == Phase.IDLE:
                return self._arrive()
            return []
        # The vehicle left the arming loop without being let through: drop its business.
        if self.phase in (Phase.WAITING, Phase.REFUSED_FULL):
            self._reset_transit()
            self._enter(Phase.IDLE)
            return [self._show(self._idle_message())]
        if self.phase == Phase.AWAITING_PAYMENT and self._pending is not None:
            serial = self._pending.serial
            self._reset_transit()
            self._enter(Phase.IDLE)
            return [CancelPayment(serial), self._show(self._idle_message())]
        return []

    def _arrive(self) -> list[Effect]:
        effects: list[Effect] = [
            Emit(EventType.VEHICLE_ARRIVED, VehicleArrived(lane_role=self.settings.role))
        ]
        self._reset_transit()
        if self.settings.role == "entry" and self.occupancy.is_full("visitor"):
            snap = self.occupancy.snapshot()
            effects.append(
                Emit(
                    EventType.ENTRY_REFUSED_FULL,
                    EntryRefusedFull(occupied=snap.occupied, capacity=snap.capacity),
                )
            )
            effects.append(self._show(messages.LOT_FULL))
            self._enter(Phase.REFUSED_FULL)
            return effects
        self._enter(Phase.WAITING)
        if self.storage_fault is not None:
            effects.append(self._show(messages.STORAGE_FAULT))
        elif self._closed_to_all() or (not self.attended and self.settings.role == "entry"):
            effects.append(self._show(self._unattended_message()))
        elif self.settings.role == "entry" and self.settings.medium == "paper":
            effects.append(self._show(messages.WELCOME))
            if self.settings.issue_delay_s <= 0:
                effects += self._issue_paper()
        else:
            effects.append(self._show(messages.PLACE_CARD))
        return effects

    def _on_PresenceChanged(self, item: PresenceChanged) -> list[Effect]:
        if item.active == self.presence:
            return []
        self.presence = item.active
        if item.active:
            if self.phase == Phase.OPEN:
                self.passing = True
            if not self.barrier_open and self.barrier_moving:
                # Safety re-open: something arrived under an arm that is coming down.
                reopen = self._open("safety")
                self.close_pending = True
                return reopen
            return []
        effects: list[Effect] = []
        if self.phase == Phase.OPEN and self.passing:
            effects += self._passed()
        elif self.close_pending:
            effects += self._close("cleared")
        return effects

    def _passed(self) -> list[Effect]:
        """The vehicle crossed the safety loop: record the transit, close, count."""
        transit = self.transit
        event = (
            EventType.VEHICLE_ENTERED if self.settings.role == "entry" else EventType.VEHICLE_EXITED
        )
        effects: list[Effect] = [
            Emit(
                event,
                VehiclePassed(
                    serial=transit.serial,
                    badge=transit.badge,
                    vehicle_class=transit.vehicle_class,
                    minutes=transit.minutes,
                    fee_minor=transit.fee_minor,
                ),
            )
        ]
        if self.settings.role == "entry":
            self.occupancy.entered()
        else:
            self.occupancy.exited()
        self.passing = False
        if self.settings.close_delay_s > 0:
            self._close_at = self.now() + timedelta(seconds=self.settings.close_delay_s)
        else:
            effects += self._close("passed")
        self._settle()
        if self.arming:
            self.phase = Phase.IDLE
            effects += self._arrive()
        return effects

    # ----------------------------------------------------------------- entry: tickets

    def _on_CardPlaced(self, item: CardPlaced) -> list[Effect]:
        if (refused := self._refuse_in_service()) is not None:
            return refused
        uid = item.uid.upper()
        if self.phase not in (Phase.WAITING, Phase.REFUSED_FULL) or not self.arming:
            log.info(
                "card ignored: no vehicle waiting", extra={"uid": uid, "phase": str(self.phase)}
            )
            return []
        if uid in self.whitelist:
            if self._closed_to_all():
                return self._badge_refused_closed(uid)
            if self._storage_refuses_badges():
                return self._badge_refused_storage(uid)
            return self._badge_pass(uid, self.whitelist[uid])
        if self.phase == Phase.REFUSED_FULL:
            return [self._show(messages.LOT_FULL)]
        if self.storage_fault is not None:
            log.info("card refused: storage failing", extra={"uid": uid})
            return [self._show(messages.STORAGE_FAULT)]
        if self._closed_to_all() or (not self.attended and self.settings.role == "entry"):
            log.info(
                "card refused: lane unattended",
                extra={"uid": uid, "mode": self.settings.unattended_mode},
            )
            return [self._show(self._unattended_message())]
        if self.settings.role == "exit":
            self._enter(Phase.CHECKING)
            return [ReadCard(uid)]
        if self.settings.medium != "card":
            return []
        now = self.now()
        serial = self._serials(now)
        self.transit.serial = serial
        self.transit.pending_entry_at = now
        self._enter(Phase.ISSUING)
        return [WriteCard(serial, now, self.transit.vehicle_class)]

    def _issue_paper(self) -> list[Effect]:
        if self.storage_fault is not None:
            log.info("paper ticket refused: storage failing")
            return [self._show(messages.STORAGE_FAULT)]
        now = self.now()
        serial = self._serials(now)
        self.transit.serial = serial
        self.transit.pending_entry_at = now
        self._enter(Phase.ISSUING)
        return [PrintTicket(serial, now, self.transit.vehicle_class)]

    def _on_IssueRequested(self, item: IssueRequested) -> list[Effect]:
        if (refused := self._refuse_in_service()) is not None:
            return refused
        if self.settings.role != "entry" or self.settings.medium != "paper":
            return []
        if self.phase != Phase.WAITING or not self.arming:
            return []
        if not self.attended:
            log.info("ticket button refused: lane unattended")
            return [self._show(self._unattended_message())]
        return self._issue_paper()

    def _on_TicketWritten(self, item: TicketWritten) -> list[Effect]:
        transit = self.transit
        if (
            self.phase != Phase.ISSUING
            or item.serial != transit.serial
            or transit.pending_entry_at is None
        ):
            log.warning("ticket write result for no pending ticket", extra={"serial": item.serial})
            return []
        if self.storage_fault is not None:
            # Its ticket_issued could not be stored: the ticket is void here and nobody enters on it.
            log.warning(
                "ticket written as storage failed: not issued", extra={"serial": item.serial}
            )
            transit.serial = None
            transit.pending_entry_at = None
            self._enter(Phase.WAITING if self.arming else Phase.IDLE)
            return [self._show(messages.STORAGE_FAULT)]
        medium: Medium = self.settings.medium
        effects: list[Effect] = [
            Emit(
                EventType.TICKET_ISSUED,
                TicketIssued(
                    serial=item.serial,
                    entry_at=format_ts(transit.pending_entry_at),
                    vehicle_class=transit.vehicle_class,
                    medium=medium,
                    key_id=item.key_id,
                ),
            ),
        ]
        self._enter(Phase.OPEN)
        effects += self._open("ticket", item.serial)
        return effects + [
            self._show(messages.TAKE_CARD if medium == "card" else messages.TAKE_TICKET)
        ]

    def _on_TicketWriteFailed(self, item: TicketWriteFailed) -> list[Effect]:
        if self.phase != Phase.ISSUING:
            return []
        log.warning(
            "ticket not issued", extra={"serial": self.transit.serial, "detail": item.detail}
        )
        self.transit.serial = None
        self.transit.pending_entry_at = None
        self._enter(Phase.WAITING if self.arming else Phase.IDLE)
        if item.lifted:
            return [self._show(messages.CARD_LIFTED)]
        reader = "card_station" if self.settings.medium == "card" else "printer"
        return [
            Emit(EventType.READER_FAULT, ReaderFault(reader=reader, detail=item.detail[:500])),
            self._show(messages.ISSUE_FAILED),
        ]

    def _on_OverrideFull(self, item: OverrideFull) -> list[Effect]:
        self._require_guard("overriding a full lot", "车位已满放行")
        self._require_storage("overriding a full lot", "车位已满放行")
        reason = self._reason(item.reason, "overriding a full lot")
        if self.phase != Phase.REFUSED_FULL:
            raise LaneRefused(
                "no vehicle is being refused for a full lot", "当前没有因车位已满被拒的车辆"
            )
        snap = self.occupancy.snapshot()
        effects: list[Effect] = [
            Emit(
                EventType.ENTRY_REFUSED_FULL,
                EntryRefusedFull(
                    occupied=snap.occupied,
                    capacity=snap.capacity,
                    override=True,
                    reason=reason,
                    by=item.by,
                ),
            )
        ]
        self._enter(Phase.WAITING)
        if self.settings.medium == "paper":
            return effects + self._issue_paper()
        return effects + [self._show(messages.PLACE_CARD)]

    # ----------------------------------------------------------------- badges

    def _on_BadgeRead(self, item: BadgeRead) -> list[Effect]:
        if (refused := self._refuse_in_service()) is not None:
            return refused
        badge = item.badge.strip().upper()
        if (
            self.phase not in (Phase.WAITING, Phase.REFUSED_FULL, Phase.AWAITING_PAYMENT)
            or not self.arming
        ):
            return []  # repeats while the badge stays in the field, or nobody waiting
        holder = self.whitelist.get(badge)
        if holder is None:
            return [
                Emit(
                    EventType.BADGE_REJECTED,
                    BadgeRejected(
                        badge=badge[:32], reason="not on whitelist", direction=self._direction()
                    ),
                ),
                self._show(messages.BADGE_UNKNOWN),
            ]
        if self._closed_to_all():
            return self._badge_refused_closed(badge)
        if self._storage_refuses_badges():
            return self._badge_refused_storage(badge)
        return self._badge_pass(badge, holder)

    def _storage_refuses_badges(self) -> bool:
        return self.storage_fault is not None and not self.settings.storage_fault_badges

    def _badge_refused_storage(self, badge: str) -> list[Effect]:
        log.info("badge refused: storage failing", extra={"badge": badge})
        return [
            Emit(
                EventType.BADGE_REJECTED,
                BadgeRejected(
                    badge=badge[:32],
                    reason="storage fault: records cannot be saved",
                    direction=self._direction(),
                ),
            ),
            self._show(messages.STORAGE_FAULT),
        ]

    def _badge_refused_closed(self, badge: str) -> list[Effect]:
        log.info("badge refused: lane unattended, refusing all", extra={"badge": badge})
        return [
            Emit(
                EventType.BADGE_REJECTED,
                BadgeRejected(
                    badge=badge[:32],
                    reason="unattended: lane refuses all",
                    direction=self._direction(),
                ),
            ),
            self._show(messages.UNATTENDED_CLOSED),
        ]

    def _badge_pass(self, badge: str, holder: str) -> list[Effect]:
        cancel = [CancelPayment(self._pending.serial)] if self._pending is not None else []
        self._reset_transit()
        self.transit.badge = badge
        effects: list[Effect] = [
            Emit(
                EventType.BADGE_ACCEPTED,
                BadgeAccepted(
                    badge=badge[:32], holder_class=holder[:32], direction=self._direction()
                ),
            ),
        ]
        self._enter(Phase.OPEN)
        return effects + self._open("badge") + cancel + [self._show(messages.BADGE_WELCOME)]

    # ----------------------------------------------------------------- exit: fees

    def _reject(self, reason: RejectReason, serial: str | None, detail: str) -> list[Effect]:
        log.warning(
            "ticket rejected", extra={"reason": str(reason), "serial": serial, "detail": detail}
        )
        self._enter(Phase.WAITING if self.arming else Phase.IDLE)
        return [
            Emit(
                EventType.TICKET_REJECTED,
                TicketRejected(
                    reason=reason, serial=serial[:32] if serial else None, detail=detail[:500]
                ),
            ),
            self._show(messages.ticket_rejected(reason)),
        ]

    def _on_TicketInvalid(self, item: TicketInvalid) -> list[Effect]:
        if self.settings.role != "exit" or self.phase in (Phase.OPEN, Phase.OUT_OF_SERVICE):
            return []
        return self._reject(item.reason, item.serial, item.detail)

    def _on_TicketPresented(self, item: TicketPresented) -> list[Effect]:
        if (refused := self._refuse_in_service()) is not None:
            return refused
        if self.settings.role != "exit":
            return []
        if (
            self.phase not in (Phase.WAITING, Phase.CHECKING, Phase.AWAITING_PAYMENT)
            or not self.arming
        ):
            return []
        ticket = item.ticket
        if self.storage_fault is not None:
            # No fee quoted, no exit: neither the payment nor the used mark could be recorded.
            log.info("ticket refused: storage failing", extra={"serial": ticket.serial})
            cancel: list[Effect] = (
                [CancelPayment(self._pending.serial)] if self._pending is not None else []
            )
            self._reset_transit()
            self._enter(Phase.WAITING)
            return cancel + [self._show(messages.STORAGE_FAULT)]
        if self._closed_to_all():
            log.info(
                "ticket refused: lane unattended, refusing all", extra={"serial": ticket.serial}
            )
            closing: list[Effect] = (
                [CancelPayment(self._pending.serial)] if self._pending is not None else []
            )
            self._reset_transit()
            self._enter(Phase.WAITING)
            return closing + [self._show(messages.UNATTENDED_CLOSED)]
        if item.already_used:
            return self._reject(
                RejectReason.ALREADY_USED, ticket.serial, "serial already used at exit"
            )
        now = self.now()
        ahead = (ticket.entry_at - now).total_seconds()
        if ahead > self.settings.future_tolerance_s:
            return self._reject(
                RejectReason.FROM_FUTURE,
                ticket.serial,
                f"entry {int(ahead)} s after the lane clock",
            )
        exit_at = max(now, ticket.entry_at)  # a small step back never makes a negative stay
        try:
            quote = self._quoter(ticket.entry_at, exit_at, ticket.vehicle_class, False)
        except QuoteError as exc:
            return self._reject(RejectReason.MALFORMED, ticket.serial, f"cannot quote: {exc}")
        effects: list[Effect] = []
        if self._pending is not None and self._pending.serial != ticket.serial:
            effects.append(CancelPayment(self._pending.serial))
        self._reset_transit()
        return effects + self._quoted(ticket.serial, quote, ticket.vehicle_class, mark_used=True)

    def _quoted(
        self, serial: str, quote: QuoteLike, vehicle_class: str, *, mark_used: bool
    ) -> list[Effect]:
        effects: list[Effect] = [
            Emit(
                EventType.FEE_QUOTED,
                FeeQuoted(
                    serial=serial,
                    minutes=quote.minutes,
                    fee_minor=quote.fee_minor,
                    currency=quote.currency,
                    vehicle_class=vehicle_class,
                    lines=_line_items(quote.lines),
                ),
            )
        ]
        self.transit.serial = serial
        self.transit.vehicle_class = vehicle_class
        self.transit.minutes = quote.minutes
        self.transit.fee_minor = quote.fee_minor
        self._pending = _Pending(serial, quote.fee_minor, quote.minutes, vehicle_class, mark_used)
        if quote.fee_minor == 0:
            return effects + self._paid("none", "", None, messages.free_exit(quote.minutes))
        self._enter(Phase.AWAITING_PAYMENT)
        if not self.attended:
            # Nobody can take the money: the fee stays pending for a guard who signs on.
            log.info(
                "fee due at an unattended lane",
                extra={"serial": serial, "fee_minor": quote.fee_minor},
            )
            return effects + [
                self._show(
                    messages.fee_due_unattended(quote.minutes, quote.fee_minor, quote.currency)
                )
            ]
        effects.append(self._show(messages.fee_due(quote.minutes, quote.fee_minor, quote.currency)))
        effects.append(RequestPayment(serial, quote.fee_minor, quote.currency))
        return effects

    def _paid(
        self,
        method: Literal["cash", "epay", "none"],
        reference: str,
        by: str | None,
        message: Message = messages.PAID,
    ) -> list[Effect]:
        """Paid (or nothing to pay): record it, raise, then tell the driver and mark the ticket used.

        The events go first (one durable write), the relay next, and the slower
        follow-ups (display, used-ticket mark) after the arm is already moving.
        """
        pending = self._pending
        assert pending is not None
        effects: list[Effect] = [
            Emit(
                EventType.PAYMENT_CONFIRMED,
                PaymentConfirmed(
                    serial=pending.serial,
                    fee_minor=pending.fee_minor,
                    currency=self.settings.currency,
                    method=method,
                    reference=reference[:64],
                    minutes=pending.minutes,
                    vehicle_class=pending.vehicle_class,
                    guard=by,
                ),
            )
        ]
        self._pending = None
        self._enter(Phase.OPEN)
        effects += self._open("paid", pending.serial)
        if method != "none":
            effects.append(CancelPayment(pending.serial))
        effects.append(self._show(message))
        if pending.mark_used:
            effects.append(MarkUsed(pending.serial, pending.fee_minor, method))
        return effects

    def _on_PaymentReceived(self, item: PaymentReceived) -> list[Effect]:
        self._require_guard("taking a payment", "收费确认")
        self._require_storage("taking a payment", "收费")
        if self.phase != Phase.AWAITING_PAYMENT or self._pending is None:
            raise LaneRefused("no fee is waiting to be paid at this lane", "本车道没有待收费用")
        if item.method not in ("cash", "epay"):
            raise LaneRefused(f"unknown payment method {item.method!r}", "未知付款方式")
        return self._paid(item.method, item.reference, item.by)

    def _on_LostTicketClaimed(self, item: LostTicketClaimed) -> list[Effect]:
        if self.settings.role != "exit":
            raise LaneRefused("lost tickets are handled at an exit lane", "遗失卡请在出口车道处理")
        self._require_guard("a lost ticket", "遗失卡处理")
        self._require_storage("a lost ticket", "遗失卡处理")
        plate = (item.plate or "").strip().upper()
        if not plate or len(plate) > 16:
            raise LaneRefused(
                "lost ticket needs the vehicle's plate (1-16 characters)", "遗失卡须登记车牌号"
            )
        if self.phase in (Phase.OPEN, Phase.OUT_OF_SERVICE, Phase.ISSUING):
            raise LaneRefused(
                f"lane is {self.phase}; finish that first", "车道正忙,请先完成当前操作"
            )
        now = self.now()
        try:
            quote = self._quoter(now, now, item.vehicle_class, True)
        except QuoteError as exc:
            raise LaneRefused(f"cannot price a lost ticket: {exc}", "无法计算遗失卡费用") from exc
        serial = self._serials(now)
        effects: list[Effect] = []
        if self._pending is not None:
            effects.append(CancelPayment(self._pending.serial))
        self._reset_transit()
        effects.append(
            Emit(
                EventType.LOST_TICKET,
                LostTicket(
                    serial=serial, plate=plate, fee_minor=quote.fee_minor, currency=quote.currency
                ),
            )
        )
        return effects + self._quoted(serial, quote, item.vehicle_class, mark_used=False)

    # ----------------------------------------------------------------- guard overrides

    def _on_ManualRaise(self, item: ManualRaise) -> list[Effect]:
        if not item.remote:  # central's raise is audited at central and allowed in every mode
            self._require_guard("a manual raise", "手动抬杆")
        reason = self._reason(item.reason, "manual raise")
        effects: list[Effect] = [
            Emit(
                EventType.MANUAL_RAISE,
                ManualAction(reason=reason, by=item.by[:64], request_id=item.request_id),
            )
        ]
        cancel = [CancelPayment(self._pending.serial)] if self._pending is not None else []
        self._reset_transit()
        self.transit.manual = True
        if self.phase != Phase.OUT_OF_SERVICE:
            self._enter(Phase.OPEN)
        shown = messages.REMOTE_OPEN if item.remote else messages.MANUAL_OPEN
        return effects + self._open("manual") + cancel + [self._show(shown)]

    def _on_ManualClose(self, item: ManualClose) -> list[Effect]:
        self._require_guard("a manual close", "手动落杆")
        reason = self._reason(item.reason, "manual close")
        if self.presence:
            raise LaneRefused(
                "a vehicle is under the barrier; it will not close on it", "道闸下有车辆,不能落杆"
            )
        effects: list[Effect] = [
            Emit(
                EventType.MANUAL_CLOSE,
                ManualAction(reason=reason, by=item.by[:64], request_id=item.request_id),
            )
        ]
        if self._pending is not None:
            effects.append(CancelPayment(self._pending.serial))
        self.barrier_moving = True  # force the command even if we think it is closed
        effects += self._close("manual")
        if self.phase != Phase.OUT_OF_SERVICE:
            self.passing = False
            self._settle()
        return effects

    # ----------------------------------------------------------------- barrier feedback

    def _on_BarrierReached(self, item: BarrierReached) -> list[Effect]:
        if (item.position == "open") == self.barrier_open:
            self.barrier_moving = False
        if (
            item.position == "closed"
            and self.phase == Phase.OUT_OF_SERVICE
            and not self.barrier_open
        ):
            log.info("barrier closed again: back in service")
            self.fault = None
            self._settle()
            return [self._show(self._idle_message())]
        return []

    def _on_BarrierFaulted(self, item: BarrierFaulted) -> list[Effect]:
        self.fault = item.detail or f"did not reach {item.expected}"
        self.barrier_moving = False
        effects: list[Effect] = [
            Emit(
                EventType.BARRIER_FAULT,
                BarrierFault(expected=item.expected, detail=self.fault[:500]),
            )
        ]
        if self._pending is not None:
            effects.append(CancelPayment(self._pending.serial))
        self._reset_transit()
        self.passing = False
        self._enter(Phase.OUT_OF_SERVICE)
        return effects + [self._show(messages.OUT_OF_SERVICE)]

    def _on_ReaderFailed(self, item: ReaderFailed) -> list[Effect]:
        effects: list[Effect] = [
            Emit(
                EventType.READER_FAULT,
                ReaderFault(reader=item.reader[:32], detail=item.detail[:500]),
            )
        ]
        if self.phase == Phase.CHECKING:
            self._enter(Phase.WAITING if self.arming else Phase.IDLE)
            effects.append(self._show(messages.PLACE_CARD))
        return effects

    # ----------------------------------------------------------------- time and restart

    def _on_Tick(self, item: Tick) -> list[Effect]:
        now = self.now()
        if self._close_at is not None and now >= self._close_at:
            return self._close("passed")  # after the close delay (or later, once the loop is clear)
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        if self.phase == Phase.WAITING and self.attended:
            return self._issue_paper()
        if self.phase == Phase.OPEN and not self.passing and not self.arming and not self.presence:
            log.info("barrier open with nobody passing: closing")
            effects = self._close("timeout")
            self._settle()
            return effects
        if self.phase == Phase.OPEN:
            self._phase_since = self.now()  # a car is still waiting under an open arm: wait again
        return []

    def _on_Recover(self, item: Recover) -> list[Effect]:
        now = self.now()
        if item.last_seen is not None and now < item.last_seen - CLOCK_STEP_TOLERANCE:
            log.warning(
                "clock is earlier than before the restart", extra={"last_seen": str(item.last_seen)}
            )
            self.clock_stepped_back = True
        self._reset_transit()
        self.barrier_open = True  # unknown: assume the worst and command a close
        self.barrier_moving = True
        effects = self._close("recovery")
        self._enter(Phase.IDLE)
        if self.arming:
            effects += self._arrive()
        return effects

    # ----------------------------------------------------------------- booth staffing and link alarms

    def _on_GuardChanged(self, item: GuardChanged) -> list[Effect]:
        before = self.attended
        self.guard_on_duty = item.guard
        log.info(
            "guard on duty: %s",
            item.guard or f"nobody (unattended, {self.settings.unattended_mode})",
        )
        if before == self.attended:
            return []
        pending = self._pending
        if self.phase == Phase.AWAITING_PAYMENT and pending is not None:
            minutes, fee, currency = pending.minutes, pending.fee_minor, self.settings.currency
            if self.attended:
                return [
                    self._show(messages.fee_due(minutes, fee, currency)),
                    RequestPayment(pending.serial, fee, currency),
                ]
            return [
                CancelPayment(pending.serial),
                self._show(messages.fee_due_unattended(minutes, fee, currency)),
            ]
        if self.phase in (Phase.WAITING, Phase.CHECKING) and self.arming:
            self._phase_since = self.now()  # a paper lane's issue delay starts again
            if not self.attended and (self.settings.role == "entry" or self._closed_to_all()):
                return [self._show(self._unattended_message())]
            if self.attended:
                paper = self.settings.role == "entry" and self.settings.medium == "paper"
                if self.storage_fault is not None:
                    return [self._show(messages.STORAGE_FAULT)]
                return [self._show(messages.WELCOME if paper else messages.PLACE_CARD)]
        return []

    def _on_BacklogChanged(self, item: BacklogChanged) -> list[Effect]:
        if item.near_full == self.backlog_alarm:
            return []
        self.backlog_alarm = item.near_full
        effects: list[Effect] = []
        if item.near_full:
            log.error("outbox backlog: %d of %d rows unsent", item.depth, item.bound)
            effects.append(
                Emit(
                    EventType.OUTBOX_BACKLOG,
                    OutboxBacklog(depth=max(0, item.depth), bound=max(0, item.bound)),
                )
            )
        # The pole display is the driver's: the alarm never replaces a fee or a refusal on it.
        if self.phase == Phase.IDLE:
            effects.append(self._show(self._idle_message()))
        return effects

    # ----------------------------------------------------------------- storage faults

    def _on_StorageFailed(self, item: StorageFailed) -> list[Effect]:
        """Stop starting transits that need a record; undo an opening the service withheld."""
        first = self.storage_fault is None
        self.storage_fault = (item.detail or "storage fault")[:500]
        if first:
            log.error("storage failing: %s", self.storage_fault)
        effects: list[Effect] = []
        if item.open_withheld and self.barrier_open:
            # The decision's events are held in memory but the arm never rose: say it stays down.
            self.passing = False
            effects += self._close("storage_fault")
        if self._pending is not None:
            effects.append(CancelPayment(self._pending.serial))
        if self.phase in (Phase.WAITING, Phase.AWAITING_PAYMENT, Phase.CHECKING) or (
            self.phase == Phase.OPEN and item.open_withheld
        ):
            self._reset_transit()
            self._enter(Phase.WAITING if self.arming else Phase.IDLE)
        if self.phase in (Phase.IDLE, Phase.WAITING, Phase.REFUSED_FULL) and (
            first or item.open_withheld
        ):
            effects.append(self._show(messages.STORAGE_FAULT))
        return effects

    def _on_StorageRecovered(self, item: StorageRecovered) -> list[Effect]:
        if self.storage_fault is None:
            return []
        log.warning("storage recovered: the lane takes transits again")
        self.storage_fault = None
        if self.phase == Phase.IDLE:
            return [self._show(self._idle_message())]
        if self.phase == Phase.WAITING and self.arming:
            self._phase_since = self.now()  # a paper lane's issue delay starts again
            if self._closed_to_all() or (not self.attended and self.settings.role == "entry"):
                return [self._show(self._unattended_message())]
            paper = self.settings.role == "entry" and self.settings.medium == "paper"
            return [self._show(messages.WELCOME if paper else messages.PLACE_CARD)]
        return []

    # ----------------------------------------------------------------- status

    def status(self) -> LaneStatus:
        snap = self.occupancy.snapshot()
        pending = self._pending
        if self.phase == Phase.OUT_OF_SERVICE:
            barrier = "fault"
        elif self.barrier_open:
            barrier = "opening" if self.barrier_moving else "open"
        else:
            barrier = "closing" if self.barrier_moving else "closed"
        return LaneStatus(
            phase=self.phase,
            role=self.settings.role,
            barrier=barrier,
            presence=self.presence,
            vehicle_waiting=self.arming,
            out_of_service=self.phase == Phase.OUT_OF_SERVICE,
            fault=self.fault,
            message=self.message.key if self.message else None,
            fee_due_minor=pending.fee_minor
            if pending and self.phase == Phase.AWAITING_PAYMENT
            else None,
            currency=self.settings.currency,
            serial=self.transit.serial,
            minutes=self.transit.minutes,
            clock_trusted=self.clock_trusted,
            clock_stepped_back=self.clock_stepped_back,
            occupied=snap.occupied,
            capacity=snap.capacity,
            guard_on_duty=self.guard_on_duty,
            attended=self.attended,
            unattended_mode=self.settings.unattended_mode,
            backlog_alarm=self.backlog_alarm,
            storage_fault=self.storage_fault,
        )


def _line_items(lines: object) -> list[LineItem]:
    """Tariff line items as wire items; anything unexpected becomes no lines, not a crash."""
    items: list[LineItem] = []
    for line in lines if isinstance(lines, (list, tuple)) else []:
        try:
            items.append(
                LineItem(
                    label=str(getattr(line, "label", ""))[:200],
                    minutes=max(0, int(getattr(line, "minutes", 0))),
                    amount_minor=int(getattr(line, "amount_minor", 0)),
                )
            )
        except (TypeError, ValueError):
            log.warning("tariff line item not understood", extra={"line": repr(line)[:200]})
    return items[:400]


def _unknown_input(item: Never) -> NoReturn:
    """Reached only by an object outside :data:`LaneInput` (mypy proves no typed caller gets here)."""
    raise LaneRefused(f"unknown lane input {type(item).__name__}")

"""What can happen at a lane: the inputs of :class:`edge.lane.machine.LaneMachine`.

Each is a small immutable value; the lane service turns a loop edge, a card,
a badge, a guard's request or a barrier report into one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edge.lane.ports import TicketLike
from edge.wire import RejectReason

Medium = Literal["card", "paper"]


@dataclass(slots=True, frozen=True)
class ArmingChanged:
    """The arming loop in front of the barrier saw a vehicle arrive (True) or leave."""

    active: bool


@dataclass(slots=True, frozen=True)
class PresenceChanged:
    """The safety loop or photo-eye under the barrier: True while a vehicle is there."""

    active: bool


@dataclass(slots=True, frozen=True)
class CardPlaced:
    uid: str


@dataclass(slots=True, frozen=True)
class TicketPresented:
    """A ticket whose signature, key and site checked out (card or paper QR)."""

    ticket: TicketLike
    medium: Medium
    already_used: bool = False


@dataclass(slots=True, frozen=True)
class TicketInvalid:
    reason: RejectReason
    serial: str | None = None
    detail: str = ""


@dataclass(slots=True, frozen=True)
class TicketWritten:
    """The ticket is on the card and read back identical (or the paper ticket printed)."""

    serial: str
    key_id: int


@dataclass(slots=True, frozen=True)
class TicketWriteFailed:
    detail: str
    lifted: bool = True


@dataclass(slots=True, frozen=True)
class IssueRequested:
    """The driver pressed the ticket button on a paper-ticket entry column."""


@dataclass(slots=True, frozen=True)
class BadgeRead:
    badge: str


@dataclass(slots=True, frozen=True)
class PaymentReceived:
    method: Literal["cash", "epay"]
    reference: str = ""
    by: str | None = None


@dataclass(slots=True, frozen=True)
class LostTicketClaimed:
    plate: str
    by: str = "guard"
    vehicle_class: str = "car"


@dataclass(slots=True, frozen=True)
class ManualRaise:
    """A guard's raise from the booth (``remote=False``) or central's audited ``raise`` command."""

    reason: str
    by: str = "guard"
    request_id: str | None = None
    remote: bool = False


@dataclass(slots=True, frozen=True)
class ManualClose:
    reason: str
    by: str = "guard"
    request_id: str | None = None


@dataclass(slots=True, frozen=True)
class OverrideFull:
    reason: str
    by: str = "guard"


@dataclass(slots=True, frozen=True)
class BarrierReached:
    position: Literal["open", "closed"]


@dataclass(slots=True, frozen=True)
class BarrierFaulted:
    expected: Literal["open", "closed"]
    detail: str = ""


@dataclass(slots=True, frozen=True)
class ReaderFailed:
    reader: str
    detail: str


@dataclass(slots=True, frozen=True)
class GuardChanged:
    """A guard signed on at the booth (``guard`` = their name/badge) or off (``None``: unattended)."""

    guard: str | None


@dataclass(slots=True, frozen=True)
class BacklogChanged:
    """The outbox crossed its near-full mark (``near_full``) or fell back under it."""

    near_full: bool
    depth: int = 0
    bound: int = 0


@dataclass(slots=True, frozen=True)
class StorageFailed:
    """The lane's storage refused a write (disk full, read-only, I/O error, corrupt database).

    ``open_withheld``: the write that failed carried a decision taken before the
    fault was known, and the service did not raise the barrier for it (nothing
    rises on a record that is not on disk).
    """

    detail: str
    open_withheld: bool = False


@dataclass(slots=True, frozen=True)
class StorageRecovered:
    """Storage works again and every event held in memory has been written."""


@dataclass(slots=True, frozen=True)
class Tick:
    """Time passed; the service sends one at :meth:`LaneMachine.next_deadline`."""


@dataclass(slots=True, frozen=True)
class Recover:
    """First input after a (re)start: bring the lane to a safe state.

    ``last_seen`` is the latest wall time persisted before the restart; a clock
    now earlier than that stepped backwards over the power cut.
    """

    barrier_was_open: bool = False
    last_seen: datetime | None = None


LaneInput = (
    ArmingChanged
    | PresenceChanged
    | CardPlaced
    | TicketPresented
    | TicketInvalid
    | TicketWritten
    | TicketWriteFailed
    | IssueRequested
    | BadgeRead
    | PaymentReceived
    | LostTicketClaimed
    | ManualRaise
    | ManualClose
    | OverrideFull
    | BarrierReached
    | BarrierFaulted
    | ReaderFailed
    | Tick
    | Recover
    | GuardChanged
    | BacklogChanged
    | StorageFailed
    | StorageRecovered
)

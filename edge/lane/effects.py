"""What a lane decides to do: the effects returned by :class:`edge.lane.machine.LaneMachine`.

The lane service carries them out in order: events to the outbox first, then
the barrier relay, then the display, card writer, printer and stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge.lane.messages import Message
from edge.wire import EventData, EventType


@dataclass(slots=True, frozen=True)
class Emit:
    event_type: EventType
    data: EventData


@dataclass(slots=True, frozen=True)
class OpenBarrier:
    cause: str


@dataclass(slots=True, frozen=True)
class CloseBarrier:
    cause: str


@dataclass(slots=True, frozen=True)
class Show:
    message: Message


@dataclass(slots=True, frozen=True)
class WriteCard:
    """Write a fresh ticket to the card on the station, read it back, answer TicketWritten/Failed."""

    serial: str
    entry_at: datetime
    vehicle_class: str


@dataclass(slots=True, frozen=True)
class PrintTicket:
    serial: str
    entry_at: datetime
    vehicle_class: str


@dataclass(slots=True, frozen=True)
class ReadCard:
    """Read and verify the card on the station; answer TicketPresented/TicketInvalid."""

    uid: str


@dataclass(slots=True, frozen=True)
class MarkUsed:
    serial: str
    fee_minor: int
    method: str


@dataclass(slots=True, frozen=True)
class RequestPayment:
    serial: str
    fee_minor: int
    currency: str


@dataclass(slots=True, frozen=True)
class CancelPayment:
    serial: str


Effect = (
    Emit
    | OpenBarrier
    | CloseBarrier
    | Show
    | WriteCard
    | PrintTicket
    | ReadCard
    | MarkUsed
    | RequestPayment
    | CancelPayment
)

"""The small interfaces the lane service talks to; adapters and simulators plug in here.

The lane never imports gpiozero, pyserial, OpenCV or paho (STYLE.md "one seam
for all hardware"): it sees a barrier, two loops, a card station, a badge
reader, a display, a printer, a QR scanner, an event sink and a payment port,
each described by the few methods it actually calls. Real drivers in
``edge/hw`` and the emulators in ``edge/sim`` satisfy these by shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from edge.ticket import Ticket
from edge.wire import Envelope, EventData, EventType


class EventSink(Protocol):
    """Where the lane writes its events (the link's durable outbox).

    Contract: when :meth:`emit` returns, the event is on disk (fsync'd). The lane
    emits every access and money event *before* it moves the barrier, so a
    power cut can lose a movement, never the record of why it moved.
    """

    def emit(self, event_type: EventType, data: EventData) -> Envelope: ...


class BatchEventSink(EventSink, Protocol):
    """A sink that can make several events durable with one flush (the outbox can).

    The lane uses it when a decision and its ``barrier_opened`` go out together,
    so the relay waits for one fsync.
    """

    def emit_many(self, events: list[tuple[EventType, EventData]]) -> list[Envelope]: ...


class Barrier(Protocol):
    """The barrier controller: a relay pulse to open or close, limit switches to confirm.

    ``close`` returns False (and does nothing) while a vehicle is under the arm.
    The lane sets ``on_state(position)`` ("open"/"closed" reached) and
    ``on_fault(expected, detail)`` callbacks.
    """

    on_state: Callable[[str], None] | None
    on_fault: Callable[[str, str], None] | None

    def open(self) -> None: ...

    def close(self, force: bool = False) -> bool:
        """``force`` lets a guard close an arm in fault after checking it; never overrides presence."""
        ...


@runtime_checkable
class Detector(Protocol):
    """A loop detector or photo-eye, gpiozero style: a level and two edge callbacks."""

    @property
    def is_active(self) -> bool: ...

    when_activated: Callable[[], None] | None
    when_deactivated: Callable[[], None] | None


class CardStation(Protocol):
    """A PN532 card reader/writer holding NTAG timed cards."""

    def poll(self, timeout: float) -> str | bytes | None: ...

    def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...


class BadgeReader(Protocol):
    """A 125 kHz badge reader; ``poll`` returns the badge id as hex, or None on timeout."""

    def poll(self, timeout: float) -> str | None: ...


class Display(Protocol):
    """The pole display (and anything else that mirrors it, e.g. captured text in tests)."""

    def show(self, lines: list[str]) -> None: ...


class Announcer(Protocol):
    """The lane's voice: speaks one sentence (pre-recorded or synthesized)."""

    def say(self, text: str) -> None: ...


class TicketPrinter(Protocol):
    """An ESC/POS printer issuing QR paper tickets."""

    def print_ticket(self, qr_text: str, lines: list[str]) -> None: ...


class QrScanner(Protocol):
    """The lane camera reading a paper ticket's QR code; None after ``timeout`` seconds."""

    def read_qr(self, timeout: float) -> str | None: ...


class TicketLike(Protocol):
    """What the lane needs from a decoded ticket (``edge.ticket.Ticket`` has these)."""

    @property
    def serial(self) -> str: ...

    @property
    def site(self) -> str: ...

    @property
    def entry_at(self) -> datetime: ...

    @property
    def vehicle_class(self) -> str: ...

    @property
    def key_id(self) -> int: ...


class TicketCodec(Protocol):
    """Ticket signing and checking, with the site's keys already bound.

    ``decode_*`` raise :class:`edge.errors.TicketRejected` with a
    :class:`edge.wire.RejectReason` for anything not a genuine, whole ticket.
    """

    @property
    def key_id(self) -> int: ...

    def make(self, serial: str, entry_at: datetime, vehicle_class: str) -> Ticket: ...

    def encode_card(self, ticket: Ticket) -> bytes: ...

    def decode_card(self, data: bytes) -> Ticket: ...

    def encode_qr(self, ticket: Ticket) -> str: ...

    def decode_qr(self, text: str) -> Ticket: ...


class QuoteLike(Protocol):
    @property
    def minutes(self) -> int: ...

    @property
    def fee_minor(self) -> int: ...

    @property
    def currency(self) -> str: ...

    @property
    def lines(self) -> Sequence[object]: ...


Quoter = Callable[[datetime, datetime, str, bool], QuoteLike]
"""``quoter(entry_at, exit_at, vehicle_class, lost)``: the site tariff, bound."""


class PaymentPort(Protocol):
    """Where the exit lane asks to be paid (DESIGN.md §8).

    ``request`` tells the payment side a fee is due (the booth console shows it;
    a phone-payment provider would show its QR); ``cancel`` withdraws it. The
    confirmation comes back through ``Lane.payment_received``, whoever took the
    money: the guard's cash button, the booth API, or a provider callback.
    """

    def request(self, serial: str, fee_minor: int, currency: str) -> None: ...

    def cancel(self, serial: str) -> None: ...

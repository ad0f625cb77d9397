"""The exit lane's payment port as the booth sees it (DESIGN.md §8).

The lane asks to be paid (:meth:`PaymentDesk.request`) and is told when it
has been (``Lane.payment_received``), whoever took the money: the guard's
cash button, the booth console's API call, or — later — a phone-payment
provider whose signed callback reaches central and comes down as a command.
:class:`PaymentDesk` is the first implementation: it keeps what is due so the
booth console can show it, and tells listeners (a provider adapter would
create its payment QR here).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("gatepost.lane.payments")


@dataclass(slots=True, frozen=True)
class Due:
    serial: str
    fee_minor: int
    currency: str


class PaymentDesk:
    """What the exit lane is waiting to be paid, with listeners for new and withdrawn dues."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: Due | None = None
        self._listeners: list[Callable[[Due | None], None]] = []

    @property
    def due(self) -> Due | None:
        with self._lock:
            return self._due

    def add_listener(self, listener: Callable[[Due | None], None]) -> None:
        """``listener(due)`` on every request; ``listener(None)`` when it is withdrawn."""
        with self._lock:
            self._listeners.append(listener)

    def request(self, serial: str, fee_minor: int, currency: str) -> None:
        due = Due(serial, fee_minor, currency)
        with self._lock:
            self._due = due
            listeners = list(self._listeners)
        log.info(
            "payment due", extra={"serial": serial, "fee_minor": fee_minor, "currency": currency}
        )
        self._tell(listeners, due)

    def cancel(self, serial: str) -> None:
        with self._lock:
            if self._due is None or self._due.serial != serial:
                return
            self._due = None
            listeners = list(self._listeners)
        self._tell(listeners, None)

    @staticmethod
    def _tell(listeners: list[Callable[[Due | None], None]], due: Due | None) -> None:
        for listener in listeners:
            try:
                listener(due)
            except Exception:
                log.exception("payment listener failed")

"""The lane's card port: a PN532 with NTAG213 timed cards, kept alive through faults.

The lane asks three things of it: is there a (new) card in the field, what
does it hold, write this onto it. Everything that can go wrong with the reader
— unplugged, noise on the line, a chip that stopped answering — shows up in
:attr:`CardStation.status` and the log, and ``poll`` keeps returning ``None``
while the station reconnects with backoff. It never crashes the agent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import serial

from edge.errors import DeviceError, DeviceTimeout, FrameError, GatepostError
from edge.hw.ntag import Ntag
from edge.hw.pn532 import PN532

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.2
BACKOFF_MAX = 5.0
# A card seen again within this long counts as the same presentation: a card
# held at the edge of the field drops out for a poll now and then.
GONE_AFTER = 0.3
# While the handled card stays in the field, check it every so often instead
# of spinning on InListPassiveTarget. New cards are not delayed by this.
PRESENT_RECHECK = 0.05
# Least time between the starts of two listings that found no card. The driver
# asks the chip to wait for a card, so a listing normally lasts the whole poll;
# a chip that answers "no target" at once (its retry setting lost, another
# firmware) would otherwise be asked again at once, thousands of times a second.
POLL_INTERVAL = 0.05
# Errors that mean the card or the reader failed (not that the caller's data was bad).
CARD_ERRORS = (DeviceError, DeviceTimeout, FrameError)


class CardStation:
    """PN532 card reader/writer at a lane, implementing the TicketCard port.

    ``poll`` returns a card's hex UID once per presentation; ``read`` and
    ``write`` act on that card. ``clock`` (monotonic seconds) drives debounce,
    backoff and the pace of empty listings (at most one per ``poll_interval``),
    so all three can be tested without waiting.
    """

    def __init__(
        self,
        port: str,
        *,
        serial_factory: Callable[..., Any] = serial.Serial,
        clock: Callable[[], float] = time.monotonic,
        baudrate: int = 115200,
        timeout: float = 0.5,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        self.port = port
        self._clock = clock
        self._poll_interval = poll_interval
        self._next_listing_at = float("-inf")
        self._pn532 = PN532(port, baudrate=baudrate, timeout=timeout, serial_factory=serial_factory)
        self._ntag = Ntag(self._pn532)
        self._ready = False
        self._retry_at = 0.0
        self._backoff = BACKOFF_FIRST
        self._present: bytes | None = None
        self._last_seen = 0.0
        self._status = "disconnected"
        self._logged_status: str | None = None
        self._closed = threading.Event()
        self._io = threading.RLock()  # one conversation with the chip at a time
        # read()/write() waiting for the chip: a poll steps aside for them.
        self._card_users = 0
        self._card_users_cv = threading.Condition()
        self._started = False
        self.reconnects = 0  # successful re-initialisations after the first start

    @property
    def status(self) -> str:
        """``"ok"``, ``"error: <what>"`` or ``"disconnected"``: the reader line in health."""
        return self._status

    @property
    def current_uid(self) -> str | None:
        """Hex UID of the card last reported by :meth:`poll`, while it is in the field."""
        return self._present.hex() if self._present else None

    # ------------------------------------------------------------------ TicketCard port

    def poll(self, timeout: float) -> str | None:
        """Wait up to ``timeout`` s for a newly presented card; its hex UID, else ``None``.

        Never raises for reader trouble: the error goes to :attr:`status` and
        the log, and the reader is reconnected with backoff.
        """
        # Waiting is real time; the injected clock only timestamps presentations,
        # retries and empty listings, so a test clock cannot make a poll spin forever.
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._closed.is_set():
            remaining = deadline - time.monotonic()
            if not self._ensure_ready(remaining):
                return None
            with self._card_users_cv:
                self._card_users_cv.wait_for(
                    lambda: not self._card_users, max(0.0, deadline - time.monotonic())
                )
            pause = self._next_listing_at - self._clock()
            if pause > 0:  # the last listing came back empty too soon: do not spin
                self._closed.wait(min(pause, max(0.0, deadline - time.monotonic())))
                if time.monotonic() >= deadline:
                    return None
                continue
            started = self._clock()
            remaining = deadline - time.monotonic()
            try:
                with self._io:
                    uid = self._pn532.list_passive_target(max(0.0, remaining))
            except GatepostError as exc:
                if not self._closed.is_set():
                    self._trouble(exc)
                return None
            self._status = "ok"
            now = self._clock()
            if uid is None:
                self._next_listing_at = started + self._poll_interval
                if self._present is not None and now - self._last_seen >= GONE_AFTER:
                    self._present = None
            elif uid != self._present or now - self._last_seen >= GONE_AFTER:
                self._present, self._last_seen = uid, now
                log.info("card %s presented at %s", uid.hex(), self.port)
                return uid.hex()
            else:
                self._last_seen = now
                self._closed.wait(min(PRESENT_RECHECK, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                return None
        return None

    def read(self) -> bytes:
        """The 144 bytes of user memory of the card in the field.

        Raises :class:`DeviceError` when there is no card or the reader fails.
        """
        self._require_card()
        try:
            with self._chip_for_card():
                return self._ntag.read_user_memory()
        except CARD_ERRORS as exc:
            self._after_card_error(exc)
            raise

    def write(self, data: bytes) -> None:
        """Write ``data`` (padded to whole pages) to the card in the field and verify it.

        A card lifted mid-write raises :class:`DeviceError`; what landed stays
        on the card and the ticket format detects it on the next read.
        """
        self._require_card()
        try:
            with self._chip_for_card():
                self._ntag.write_user_memory(data)
        except CARD_ERRORS as exc:
            self._after_card_error(exc)
            raise

    def close(self) -> None:
        """Stop polling and release the serial port."""
        self._closed.set()
        self._pn532.cancel()  # wake a poll blocked in another thread
        with self._io:
            self._pn532.close()
        self._ready = False
        self._status = "disconnected"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _chip_for_card(self) -> Iterator[None]:
        """Hold the chip for a card read/write, cutting short a poll that waits for cards."""
        with self._card_users_cv:
            self._card_users += 1
        try:
            self._pn532.interrupt()
            with self._io:
                yield
        finally:
            with self._card_users_cv:
                self._card_users -= 1
                self._card_users_cv.notify_all()

    def _require_card(self) -> None:
        if self._closed.is_set():
            raise DeviceError("card station is closed")
        if not self._ready or self._present is None:
            raise DeviceError("no card in the field")

    def _ensure_ready(self, remaining: float) -> bool:
        """Open and initialise the reader if needed, honouring the backoff.

        Waits (interruptibly) for the next attempt if it falls within
        ``remaining``; returns False if the reader is still not ready.
        """
        if self._ready:
            return True
        wait = self._retry_at - self._clock()
        if wait > 0:
            if wait > remaining:
                self._closed.wait(max(0.0, remaining))
                return False
            self._closed.wait(wait)
        if self._closed.is_set():
            return False
        try:
            with self._io:
                self._pn532.close()
                self._pn532.begin()
        except GatepostError as exc:
            self._trouble(exc)
            return False
        if self._started:
            self.reconnects += 1
            log.info("card reader on %s is back (reconnect %d)", self.port, self.reconnects)
        self._started = True
        self._ready = True
        self._backoff = BACKOFF_FIRST
        self._status = "ok"
        return True

    def _trouble(self, exc: GatepostError) -> None:
        """Record a reader fault and schedule a re-initialisation with backoff."""
        self._ready = False
        self._present = None
        if isinstance(exc, DeviceError) and not self._pn532.is_open:
            self._status = "disconnected"
        else:
            self._status = f"error: {exc}"
        self._retry_at = self._clock() + self._backoff
        # A reader that stays unplugged logs once, then quietly at debug level.
        quiet = self._status == self._logged_status == "disconnected"
        level = logging.DEBUG if quiet else logging.WARNING
        self._logged_status = self._status
        log.log(level, "card reader on %s: %s (retry in %.1fs)", self.port, exc, self._backoff)
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _after_card_error(self, exc: DeviceError | DeviceTimeout | FrameError) -> None:
        """A read/write failed: a lifted card is normal, a broken reader is not."""
        self._present = None
        if isinstance(exc, (FrameError, DeviceTimeout)) or not self._pn532.is_open:
            self._trouble(exc)

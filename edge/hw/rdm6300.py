"""RDM6300 125 kHz (EM4100) badge reader on a serial port: frame parser, debouncer, driver.

The module only transmits (9600 8N1). Each read is a 14-byte frame::

    02 | 10 ASCII hex: version byte + 4-byte card id | 2 ASCII hex: XOR of the 5 bytes | 03

and it repeats the frame for as long as the badge stays in the field, so the
driver debounces: a badge is reported once, and again only after it has been
out of the field for ``debounce_s``. Line noise, torn frames and bad checksums
are counted and skipped; a reader that vanishes (USB adapter pulled, cable cut)
is reported through :attr:`BadgeReader.status` and reopened with backoff.
"""

from __future__ import annotations

import logging
import string
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import serial

from edge.errors import DeviceError, FrameError

log = logging.getLogger(__name__)

STX = 0x02
ETX = 0x03
FRAME_LEN = 14
_HEX = frozenset(string.hexdigits.encode())


def checksum(data: bytes) -> int:
    """XOR of the five data bytes, as the module computes it."""
    out = 0
    for b in data:
        out ^= b
    return out


def encode_frame(badge: str) -> bytes:
    """The 14 bytes an RDM6300 sends for ``badge`` (10 hex digits); used by the emulator."""
    if len(badge) != 10 or not all(c in string.hexdigits for c in badge):
        raise FrameError(f"badge id must be 10 hex digits, got {badge!r}")
    badge = badge.upper()
    return (
        bytes([STX])
        + badge.encode()
        + f"{checksum(bytes.fromhex(badge)):02X}".encode()
        + bytes([ETX])
    )


class RDM6300Parser:
    """Turns a byte stream into badge ids; never raises on what arrives.

    ``errors`` counts rejected frames and runs of noise, so a flaky antenna
    cable shows up in health instead of as silent misses.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.errors = 0
        self.last_error = ""

    def _error(self, why: str) -> None:
        self.errors += 1
        self.last_error = why
        log.debug("rdm6300 frame error: %s", why)

    def feed(self, data: bytes) -> list[str]:
        """Add bytes; return every complete, valid badge id (10 uppercase hex chars) in order."""
        self._buf += data
        found: list[str] = []
        while self._buf:
            start = self._buf.find(STX)
            if start == -1:
                self._error(f"{len(self._buf)} bytes of noise")
                self._buf.clear()
                break
            if start > 0:
                # CR/LF between frames is harmless filler some clones add; other bytes are noise.
                if self._buf[:start].strip(b"\r\n"):
                    self._error(f"{start} bytes of noise before a frame")
                del self._buf[:start]
            # A second STX inside the frame means the first frame was torn: resync on it.
            restart = self._buf.find(STX, 1, FRAME_LEN)
            if restart != -1:
                self._error("torn frame (new start inside a frame)")
                del self._buf[:restart]
                continue
            if len(self._buf) < FRAME_LEN:
                break
            frame = bytes(self._buf[:FRAME_LEN])
            del self._buf[:FRAME_LEN]
            badge = self._check(frame)
            if badge is not None:
                found.append(badge)
        return found

    def _check(self, frame: bytes) -> str | None:
        body, check = frame[1:11], frame[11:13]
        if frame[13] != ETX:
            self._error("frame does not end with ETX")
            return None
        if not all(b in _HEX for b in frame[1:13]):
            self._error("non-hex digits in frame")
            return None
        data = bytes.fromhex(body.decode())
        if checksum(data) != int(check, 16):
            self._error(f"checksum mismatch for {body.decode().upper()}")
            return None
        return body.decode().upper()

    def reset(self) -> None:
        """Drop a partial frame (after a reconnect its tail would be noise)."""
        self._buf.clear()


class Debouncer:
    """Report a badge once per presentation: again only after ``gap_s`` without a read.

    Pure: the caller passes the time, so tests need no sleeping.
    """

    def __init__(self, gap_s: float) -> None:
        if gap_s < 0:
            raise ValueError(f"debounce gap must be ≥ 0 s, got {gap_s}")
        self.gap_s = gap_s
        self._last_seen: dict[str, float] = {}

    def seen(self, badge: str, now: float) -> bool:
        """Record a read of ``badge`` at ``now``; True if it is a new presentation."""
        # Forget badges long gone so the table stays small on a busy gate.
        for old in [b for b, t in self._last_seen.items() if now - t >= self.gap_s]:
            del self._last_seen[old]
        new = badge not in self._last_seen
        self._last_seen[badge] = now
        return new


class BadgeReader:
    """An RDM6300 on ``port``: :meth:`poll` returns each presented badge once.

    Never raises for device trouble: a port that cannot be opened or fails
    while reading sets :attr:`status`, is logged, and is reopened with
    exponential backoff (``reconnect_s`` doubling up to ``reconnect_max_s``).
    """

    READ_SLICE = 0.05

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        debounce_s: float = 1.5,
        clock: Callable[[], float] = time.monotonic,
        serial_factory: Callable[..., Any] = serial.Serial,
        reconnect_s: float = 0.5,
        reconnect_max_s: float = 10.0,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.parser = RDM6300Parser()
        self._debounce = Debouncer(debounce_s)
        self._clock = clock
        self._factory = serial_factory
        self._serial: Any = None
        self._pending: deque[str] = deque()
        self._status = "disconnected"
        self._reconnect_min = reconnect_s
        self._reconnect_max = reconnect_max_s
        self._backoff = reconnect_s
        self._next_attempt = float("-inf")
        self._closed = False

    @property
    def status(self) -> str:
        """``"ok"``, ``"disconnected"`` (port gone or not openable yet) or ``"error: …"``."""
        return self._status

    @property
    def errors(self) -> int:
        """Frames rejected so far (noise, torn frames, bad checksums)."""
        return self.parser.errors

    def _set_status(self, status: str) -> None:
        if status != self._status:
            level = logging.INFO if status == "ok" else logging.WARNING
            log.log(level, "badge reader %s: %s", self.port, status, extra={"port": self.port})
        self._status = status

    def _open(self) -> bool:
        if self._serial is not None:
            return True
        if self._clock() < self._next_attempt:
            return False
        try:
            self._serial = self._factory(self.port, baudrate=self.baudrate, timeout=self.READ_SLICE)
        except (serial.SerialException, OSError) as exc:
            missing = isinstance(exc, FileNotFoundError) or "No such file" in str(exc)
            self._set_status("disconnected" if missing else f"error: {exc}")
            self._next_attempt = self._clock() + self._backoff
            self._backoff = min(self._backoff * 2, self._reconnect_max)
            return False
        self.parser.reset()
        self._backoff = self._reconnect_min
        self._set_status("ok")
        return True

    def _drop(self, exc: Exception) -> None:
        log.warning("badge reader %s failed: %s", self.port, exc, extra={"port": self.port})
        try:
            self._serial.close()
        except (serial.SerialException, OSError) as close_exc:  # already broken; best effort
            log.debug("closing broken port %s: %s", self.port, close_exc)
        self._serial = None
        self._set_status("disconnected")
        self._next_attempt = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self._reconnect_max)

    def poll(self, timeout: float) -> str | None:
        """The next newly presented badge (10 uppercase hex chars), or None after ``timeout`` s."""
        if self._closed:
            raise DeviceError(f"badge reader {self.port} is closed")
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._open():
                try:
                    data = self._serial.read(max(1, self._serial.in_waiting))
                except (serial.SerialException, OSError) as exc:
                    self._drop(exc)
                    data = b""
                if data:
                    now = self._clock()
                    for badge in self.parser.feed(data):
                        if self._debounce.seen(badge, now):
                            self._pending.append(badge)
                    if self._pending:
                        continue
            else:
                time.sleep(min(self.READ_SLICE, max(0.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                return None

    def close(self) -> None:
        """Release the port. Safe to call twice."""
        self._closed = True
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None
        self._status = "disconnected"

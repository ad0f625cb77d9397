"""The driver's fee display at the lane: a 2×20 serial VFD pole display.

Speaks the Epson-compatible customer-display command set most pole displays
(and their Chinese clones) accept::

    1B 40        initialise
    0C           clear screen, cursor home
    1F 24 x y    move cursor to column x (1–20), row y (1–2)

Text is sent in GB18030, the encoding Chinese-capable displays use; a Chinese
character is two bytes wide and two columns wide. The fee sentence
"您的车计费停车45分钟,请交停车费12元" is wrapped onto both rows.

A display that is unplugged must not stop the lane: :meth:`PoleDisplay.show`
logs, sets :attr:`status` and :attr:`delivered`, and reopens the port next time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import serial

from edge.errors import ConfigError
from edge.hw.textfit import clean, text_width, wrap

log = logging.getLogger(__name__)

INIT = b"\x1b\x40"
CLEAR = b"\x0c"


def cursor(col: int, row: int) -> bytes:
    """``US $ col row`` with 1-based column and row."""
    return b"\x1f\x24" + bytes([col, row])


def layout(lines: Sequence[str], cols: int, rows: int) -> list[str]:
    """The rows a display of ``cols``×``rows`` shows for ``lines``: wrapped, then cut to fit."""
    out: list[str] = []
    for line in lines:
        out.extend(wrap(line, cols))
    if len(out) > rows:
        log.warning(
            "pole display: %d rows of text for %d rows; cut",
            len(out),
            rows,
            extra={"text": " / ".join(out)},
        )
        out = out[:rows]
    return out


def render(rows: Sequence[str], encoding: str = "gb18030") -> bytes:
    """The bytes that clear the display and write ``rows`` (already fitted)."""
    data = bytearray(CLEAR)
    for index, row in enumerate(rows, start=1):
        if not row:
            continue
        data += cursor(1, index)
        data += clean(row).encode(encoding, errors="replace")
    return bytes(data)


class PoleDisplay:
    """A pole display on ``port`` (None: no serial port, the bytes are kept in :attr:`captured`).

    :attr:`history` keeps every screen shown (as rows of text) for the demo and
    tests; :attr:`rows` is the current one.
    """

    def __init__(
        self,
        port: str | None,
        *,
        cols: int = 20,
        rows: int = 2,
        baudrate: int = 9600,
        encoding: str = "gb18030",
        serial_factory: Callable[..., Any] = serial.Serial,
    ) -> None:
        if not 1 <= cols <= 80 or not 1 <= rows <= 4:
            raise ConfigError(f"pole display size {cols}×{rows} is not plausible (1–80 × 1–4)")
        try:
            "测".encode(encoding)
        except LookupError as exc:
            raise ConfigError(f"unknown pole display encoding {encoding!r}") from exc
        self.port = port
        self.cols = cols
        self.row_count = rows
        self.baudrate = baudrate
        self.encoding = encoding
        self._factory = serial_factory
        self._serial: Any = None
        self._captured = bytearray()
        self.rows: list[str] = []
        self.history: list[list[str]] = []
        self.status = "ok" if port is None else "disconnected"
        self.delivered = False
        """Whether the last :meth:`show` reached the device."""

    @property
    def captured(self) -> bytes:
        """Every byte sent so far when there is no serial port (port=None)."""
        return bytes(self._captured)

    def show(self, lines: Sequence[str]) -> None:
        """Clear the display and show ``lines`` (wrapped to fit).

        Never raises for device trouble: :attr:`status` (``"ok"`` / ``"error: …"``)
        and :attr:`delivered` say whether the device took it.
        """
        if isinstance(lines, str):
            lines = [lines]
        rows = layout(lines, self.cols, self.row_count)
        self.rows = rows
        self.history.append(rows)
        log.info("pole display: %s", " / ".join(rows), extra={"port": self.port or "captured"})
        data = render(rows, self.encoding)
        if self.port is None:
            if not self._captured:
                self._captured += INIT
            self._captured += data
            self.delivered = True
            return
        self.delivered = self._send(data)

    def clear(self) -> None:
        """Blank the display."""
        self.show([])

    def _send(self, data: bytes) -> bool:
        try:
            if self._serial is None:
                self._serial = self._factory(
                    self.port, baudrate=self.baudrate, timeout=1, write_timeout=1
                )
                self._serial.write(INIT)
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            if self.status != f"error: {exc}":
                log.warning("pole display %s failed: %s", self.port, exc, extra={"port": self.port})
            self.status = f"error: {exc}"
            self._close_port()
            return False
        if self.status != "ok":
            log.info("pole display %s: ok", self.port)
        self.status = "ok"
        return True

    def _close_port(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()
            self._serial = None

    def close(self) -> None:
        """Release the port. Safe to call twice."""
        self._close_port()


class CapturedDisplay(PoleDisplay):
    """A pole display with no hardware: records screens and bytes (demo, tests, a lane without one)."""

    def __init__(self, *, cols: int = 20, rows: int = 2, encoding: str = "gb18030") -> None:
        super().__init__(None, cols=cols, rows=rows, encoding=encoding)


__all__ = ["CapturedDisplay", "PoleDisplay", "layout", "render", "text_width"]

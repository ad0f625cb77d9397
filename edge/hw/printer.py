"""The lane's ticket and receipt printer: ESC/POS through python-escpos.

One :class:`TicketPrinter` wraps any python-escpos printer: ``Serial`` on a
lane (the usual 58 mm kiosk printer on a UART or USB-serial adapter), ``Usb``
where the printer is a USB device, ``Dummy`` in tests and the demo, whose
:attr:`TicketPrinter.captured` bytes are exactly what a printer would get.

Chinese: Chinese-capable thermal printers take GB18030 text after ``FS &``
(Chinese character mode). With ``chinese=True`` (the default) text goes out
that way; with ``chinese=False`` python-escpos picks a code page and anything
it cannot encode prints as ``?``. The QR code is printed natively
(``GS ( k``), which every ESC/POS printer sold for parking tickets supports.
"""

from __future__ import annotations

import logging
import termios
from collections.abc import Sequence
from typing import Any, Literal

import serial
from escpos import exceptions as escpos_errors
from escpos.escpos import Escpos
from escpos.printer import Dummy

from edge.errors import ConfigError, DeviceError, GatepostError
from edge.hw.textfit import clean, wrap

log = logging.getLogger(__name__)

FS_CHINESE_ON = b"\x1c\x26"
MAX_QR_CHARS = 1000
"""Far above a ticket's ~220 characters, far below the printer's buffer."""

_DEVICE_ERRORS = (escpos_errors.Error, serial.SerialException, OSError, termios.error)
_DEVICE_SETTINGS: dict[str, set[str]] = {
    "dummy": {"profile"},
    "serial": {
        "devfile",
        "baudrate",
        "bytesize",
        "timeout",
        "parity",
        "stopbits",
        "xonxoff",
        "dsrdtr",
        "profile",
    },
    "usb": {"idVendor", "idProduct", "usb_args", "timeout", "in_ep", "out_ep", "profile"},
}


class PrintJobError(GatepostError, ValueError):
    """A print job's content is unusable (QR text too long or empty)."""


class TicketPrinter:
    """Prints parking tickets (QR + lines) and receipts; ``width`` is the paper's columns.

    58 mm paper has 32 columns of Font A, 80 mm has 48. Lines longer than the
    paper are wrapped here (Chinese counts two columns) so a fee line never
    breaks mid-character.
    """

    def __init__(
        self,
        printer: Escpos,
        *,
        chinese: bool = True,
        encoding: str = "gb18030",
        width: int = 32,
        qr_size: int = 6,
        cut: bool = True,
    ) -> None:
        if not 16 <= width <= 64:
            raise ConfigError(f"printer width {width} columns is not plausible (16–64)")
        if not 1 <= qr_size <= 16:
            raise ConfigError(f"QR module size must be 1–16, got {qr_size}")
        self.printer = printer
        self.chinese = chinese
        self.encoding = encoding
        self.width = width
        self.qr_size = qr_size
        self.cut = cut
        self.status = "ok"

    @classmethod
    def open(cls, kind: Literal["serial", "usb", "dummy"], **settings: Any) -> TicketPrinter:
        """Build from a hardware profile: ``kind`` plus that printer's settings.

        serial: ``devfile``, ``baudrate``, … (python-escpos ``Serial``);
        usb: ``idVendor``, ``idProduct``, … (needs pyusb); dummy: none.
        ``chinese``, ``width``, ``qr_size``, ``cut`` go to the TicketPrinter.
        """
        own = {
            k: settings.pop(k)
            for k in ("chinese", "encoding", "width", "qr_size", "cut")
            if k in settings
        }
        allowed = _DEVICE_SETTINGS.get(kind)
        if allowed is None:
            raise ConfigError(f"unknown printer kind {kind!r}: use serial, usb or dummy")
        unknown = set(settings) - allowed
        if unknown:
            # python-escpos swallows unknown keyword arguments; a typo must fail here instead.
            raise ConfigError(
                f"unknown {kind} printer settings {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        try:
            if kind == "dummy":
                device: Escpos = Dummy(**settings)
            elif kind == "serial":
                from escpos.printer import Serial

                if not settings.get("devfile"):
                    raise ConfigError("serial printer needs 'devfile' (e.g. /dev/ttyUSB0)")
                device = Serial(**settings)
            elif kind == "usb":
                from escpos.printer import Usb

                if not Usb.is_usable():
                    raise ConfigError("USB printer needs the pyusb package (pip install pyusb)")
                device = Usb(**settings)
            else:
                raise ConfigError(f"unknown printer kind {kind!r}: use serial, usb or dummy")
        except TypeError as exc:
            raise ConfigError(f"bad {kind} printer settings {sorted(settings)}: {exc}") from exc
        return cls(device, **own)

    @property
    def captured(self) -> bytes:
        """All bytes sent so far (only for the ``dummy`` printer)."""
        if not isinstance(self.printer, Dummy):
            raise DeviceError("captured bytes exist only for the dummy printer")
        return bytes(self.printer.output)

    def print_ticket(self, ticket_qr_text: str, lines: Sequence[str]) -> None:
        """A parking ticket: the lines (the first one large, as a title), then the QR code, then cut."""
        self._check_qr(ticket_qr_text)
        self._job(lines, ticket_qr_text, title=True)

    def print_receipt(self, lines: Sequence[str], qr_text: str | None = None) -> None:
        """A receipt or visitor pass: the lines, then an optional QR code, cut."""
        if qr_text is not None:
            self._check_qr(qr_text)
        self._job(lines, qr_text, title=False)

    def _check_qr(self, text: str) -> None:
        if not text or len(text) > MAX_QR_CHARS or not text.isascii() or not text.isprintable():
            raise PrintJobError(f"QR text must be 1–{MAX_QR_CHARS} printable ASCII characters")

    def _job(self, lines: Sequence[str], qr_text: str | None, *, title: bool) -> None:
        if isinstance(lines, str):
            lines = [lines]
        p = self.printer
        try:
            p.hw("INIT")
            if self.chinese:
                p._raw(FS_CHINESE_ON)
            for index, line in enumerate(lines):
                big = title and index == 0
                if big:
                    p.set(align="center", bold=True, double_height=True, double_width=True)
                for row in wrap(line, self.width // 2 if big else self.width):
                    self._text(row)
                if big:
                    p.set(align="left", bold=False, normal_textsize=True)
            if qr_text:
                p.set(align="center")
                p.qr(qr_text, size=self.qr_size, native=True)
                p.set(align="left")
            if self.cut:
                p.cut()
            flush = getattr(p, "flush", None)
            if callable(flush) and not isinstance(p, Dummy):
                flush()
        except _DEVICE_ERRORS as exc:
            self.status = f"error: {exc}"
            log.warning("printer failed: %s", exc)
            self._reset_device()
            raise DeviceError(f"printer failed: {exc}") from exc
        self.status = "ok"
        log.info(
            "printed %s (%d lines%s)",
            "ticket" if title else "receipt",
            len(lines),
            ", QR" if qr_text else "",
        )

    def _text(self, row: str) -> None:
        row = clean(row)
        if self.chinese:
            self.printer._raw(row.encode(self.encoding, errors="replace") + b"\n")
        else:
            self.printer.text(row + "\n")

    def _reset_device(self) -> None:
        """Drop a broken connection so the next job opens the port afresh (printer replugged)."""
        if isinstance(self.printer, Dummy):
            return
        try:
            self.printer.close()
        except _DEVICE_ERRORS as exc:
            log.debug("closing broken printer: %s", exc)
        if hasattr(self.printer, "_device"):
            # python-escpos reopens lazily only when _device is False; after a failed
            # open it is None and the next write would trip an assert instead.
            self.printer._device = False

    def close(self) -> None:
        """Release the device."""
        try:
            self.printer.close()
        except _DEVICE_ERRORS as exc:
            log.debug("printer close: %s", exc)

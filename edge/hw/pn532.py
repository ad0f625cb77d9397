"""PN532 NFC controller over UART (HSU): the driver.

It wakes the chip, configures the SAM, lists type A targets and carries tag
commands (InDataExchange). The byte format lives in :mod:`edge.hw.pn532_frame`
and is re-exported here (``build_frame``, ``FrameParser``…).

The driver turns "no valid answer" into :class:`~edge.errors.FrameError`
(garbled), :class:`~edge.errors.DeviceTimeout` (silence) or
:class:`~edge.errors.DeviceError` (error status, vanished port), and keeps
:attr:`PN532.status` for the agent's health report.
"""

from __future__ import annotations

import contextlib
import logging
import termios
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, Self

import serial

from edge.errors import DeviceError, DeviceTimeout, FrameError
from edge.hw.pn532_frame import (
    ACK_FRAME,
    ERROR_FRAME,
    MAX_EXTENDED_LEN,
    NACK_FRAME,
    START_CODE,
    TFI_CHIP,
    TFI_ERROR,
    TFI_HOST,
    Ack,
    ErrorFrame,
    Frame,
    FrameParser,
    Nack,
    Parsed,
    build_frame,
)

__all__ = [
    "ACK_FRAME",
    "ERROR_FRAME",
    "MAX_EXTENDED_LEN",
    "NACK_FRAME",
    "PN532",
    "START_CODE",
    "TFI_CHIP",
    "TFI_ERROR",
    "TFI_HOST",
    "Ack",
    "ErrorFrame",
    "Frame",
    "FrameParser",
    "Nack",
    "Parsed",
    "build_frame",
    "status_text",
]

log = logging.getLogger(__name__)

ACK_WAIT = 0.1  # seconds granted for an ACK however short the wait (a live chip takes ~1 ms)

# A sleeping PN532 on HSU wakes on traffic; the bytes that woke it are lost,
# so a run of 0x55 followed by zeros gives it time (≈1 ms at 115200 bd).
WAKE_PREAMBLE = b"\x55\x55" + b"\x00" * 14

# Command codes (user manual §7). The lane sends the first six; the rest are
# what other host drivers send too (nfcpy, libnfc), and the emulator answers them.
CMD_GET_FIRMWARE_VERSION = 0x02
CMD_SAM_CONFIGURATION = 0x14
CMD_RF_CONFIGURATION = 0x32
CMD_IN_DATA_EXCHANGE = 0x40
CMD_IN_LIST_PASSIVE_TARGET = 0x4A
CMD_IN_RELEASE = 0x52
CMD_DIAGNOSE = 0x00
CMD_GET_GENERAL_STATUS = 0x04
CMD_READ_REGISTER = 0x06
CMD_WRITE_REGISTER = 0x08
CMD_SET_SERIAL_BAUDRATE = 0x10
CMD_SET_PARAMETERS = 0x12
CMD_POWER_DOWN = 0x16
CMD_IN_COMMUNICATE_THRU = 0x42
CMD_IN_DESELECT = 0x44
CMD_IN_SELECT = 0x54

BRTY_106_TYPE_A = 0x00
RF_CFG_MAX_RETRIES = 0x05
SAM_MODE_NORMAL = 0x01

# PN532 user manual table 7-1: the status byte of In* answers.
STATUS_NAMES: dict[int, str] = {
    0x01: "time out, the target did not answer",
    0x02: "CRC error",
    0x03: "parity error",
    0x04: "erroneous bit count in anticollision",
    0x05: "framing error",
    0x06: "abnormal bit collision",
    0x07: "communication buffer too small",
    0x09: "RF buffer overflow",
    0x0A: "RF field not switched on in time",
    0x0B: "RF protocol error",
    0x0D: "overheating",
    0x0E: "internal buffer overflow",
    0x10: "invalid parameter",
    0x13: "data format does not match the specification",
    0x14: "authentication error",
    0x26: "operation not allowed in this configuration",
    0x27: "command not acceptable in the current context",
    0x29: "target released by the initiator",
    0x2B: "card disappeared",
}


def status_text(status: int) -> str:
    """Human-readable name of an In* status byte, for logs and health."""
    return f"0x{status:02X} ({STATUS_NAMES.get(status & 0x3F, 'unknown error')})"


# What a vanished serial port raises: pyserial wraps most, not tcflush's.
PORT_ERRORS: tuple[type[Exception], ...] = (serial.SerialException, OSError, termios.error)
OPEN_ERRORS: tuple[type[Exception], ...] = (*PORT_ERRORS, ValueError)  # ValueError: bad settings

# --------------------------------------------------------------------------- driver


class SerialPort(Protocol):
    """The part of ``serial.Serial`` the driver uses (so tests can pass their own)."""

    timeout: float | None

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def flush(self) -> None: ...
    def reset_input_buffer(self) -> None: ...
    def close(self) -> None: ...

    @property
    def in_waiting(self) -> int: ...


class PN532:
    """A PN532 on a UART, acting as a 106 kbps type A reader/writer.

    Construction never touches the port; :meth:`begin` opens it, wakes the
    chip, puts the SAM in normal mode and checks the firmware answers. Every
    failure raises a :class:`~edge.errors.GatepostError` leaf and is reflected
    in :attr:`status`, which the agent's health report carries.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        timeout: float = 0.5,
        serial_factory: Callable[..., Any] = serial.Serial,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self._serial_factory = serial_factory
        self._ser: SerialPort | None = None
        self._parser = FrameParser(accept_tfi=(TFI_CHIP,))
        self._awake = False
        self._cancelled = False
        self._interrupted = threading.Event()
        self._status = "disconnected"
        self.firmware: tuple[int, int, int, int] | None = None

    # ------------------------------------------------------------------ state

    @property
    def status(self) -> str:
        """``"ok"``, ``"error: <what>"`` or ``"disconnected"``, for health."""
        return self._status

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    @property
    def frame_errors(self) -> int:
        """Bad frames and noise bytes seen on this port since it was opened."""
        return self._parser.error_count

    def open(self) -> None:
        """Open the serial port (idempotent). Raises :class:`DeviceError` if it is absent."""
        if self._ser is not None:
            return
        try:
            self._ser = self._serial_factory(
                self.port, baudrate=self.baudrate, timeout=self.timeout
            )
        except OPEN_ERRORS as exc:
            self._status = "disconnected"
            raise DeviceError(f"PN532 port {self.port} cannot be opened: {exc}") from exc
        self._parser = FrameParser(accept_tfi=(TFI_CHIP,))
        self._awake = False
        self._cancelled = False

    def interrupt(self) -> None:
        """Cut short a waiting :meth:`list_passive_target` (from another thread).

        The listing is aborted and returns ``None`` so that a card read or
        write can use the chip now instead of after the listing's timeout. An
        interrupt raised while no listing waits makes the next one return
        ``None`` at once.
        """
        self._interrupted.set()
        self._cancel_read()

    def cancel(self) -> None:
        """Interrupt a blocking wait from another thread (shutdown).

        The interrupted command raises :class:`DeviceTimeout`.
        """
        self._cancelled = True
        self._cancel_read()

    def _cancel_read(self) -> None:
        """Wake a read blocked in pyserial (its ``cancel_read``), if the port has one."""
        cancel_read = getattr(self._ser, "cancel_read", None)
        if cancel_read is not None:
            with contextlib.suppress(*PORT_ERRORS):
                cancel_read()

    def close(self) -> None:
        """Close the port; safe to call twice and after the device vanished."""
        ser, self._ser = self._ser, None
        self._awake = False
        self._status = "disconnected"
        if ser is not None:
            with contextlib.suppress(*PORT_ERRORS):
                ser.close()

    def begin(self) -> tuple[int, int, int, int]:
        """Open, wake, configure (SAM normal mode, endless passive activation) and identify.

        Returns the firmware version ``(ic, ver, rev, support)``.
        """
        self.open()
        self._awake = False  # wake again: the chip may have been power-cycled
        self.sam_configuration()
        # MxRtyATR, MxRtyPSL, MxRtyPassiveActivation=0xFF: the chip waits for a
        # card itself, so the host blocks in select() and hears it at once.
        self.rf_configuration(RF_CFG_MAX_RETRIES, bytes([0xFF, 0x01, 0xFF]))
        self.firmware = self.firmware_version()
        log.info("PN532 ready on %s, firmware %d.%d", self.port, self.firmware[1], self.firmware[2])
        return self.firmware

    # ------------------------------------------------------------------ commands

    def firmware_version(self) -> tuple[int, int, int, int]:
        """GetFirmwareVersion: ``(IC, Ver, Rev, Support)``; a PN532 reports IC 0x32."""
        answer = self.command(CMD_GET_FIRMWARE_VERSION)
        if len(answer) != 4:
            raise self._fail(
                FrameError(f"GetFirmwareVersion answer has {len(answer)} bytes, expected 4")
            )
        ic, ver, rev, support = answer
        if ic != 0x32:
            raise self._fail(DeviceError(f"not a PN532: IC 0x{ic:02X}"))
        return ic, ver, rev, support

    def sam_configuration(self, mode: int = SAM_MODE_NORMAL, timeout_50ms: int = 0x14) -> None:
        """SAMConfiguration: normal mode (no secure module), which also keeps the chip awake."""
        self.command(CMD_SAM_CONFIGURATION, bytes([mode, timeout_50ms, 0x01]))

    def rf_configuration(self, item: int, values: bytes) -> None:
        """RFConfiguration ``item`` with its ``values`` (e.g. 0x05 = retry counts)."""
        self.command(CMD_RF_CONFIGURATION, bytes([item]) + bytes(values))

    def list_passive_target(self, timeout: float) -> bytes | None:
        """InListPassiveTarget, 1 target at 106 kbps type A: its UID, or ``None``.

        The chip waits for a card; if none comes within ``timeout`` the host
        aborts the command with an ACK (user manual §6.2.1.3), so the chip is
        ready for the next command at once.
        """
        self._send(CMD_IN_LIST_PASSIVE_TARGET, bytes([0x01, BRTY_106_TYPE_A]))
        answer = self._await_answer(CMD_IN_LIST_PASSIVE_TARGET, timeout, abort_on_timeout=True)
        if answer is None:
            self._status = "ok"
            return None
        uid = self._parse_target(answer)
        self._status = "ok"
        return uid

    def data_exchange(self, data: bytes, tg: int = 1) -> bytes:
        """InDataExchange: send a tag command to target ``tg``, return the tag's answer.

        A non-zero status byte (card lifted, CRC error…) raises :class:`DeviceError`.
        """
        answer = self.command(CMD_IN_DATA_EXCHANGE, bytes([tg]) + bytes(data))
        if not answer:
            raise self._fail(FrameError("InDataExchange answer carries no status byte"))
        status = answer[0]
        if status != 0x00:
            raise self._fail(DeviceError(f"InDataExchange failed: status {status_text(status)}"))
        return answer[1:]

    def release(self, tg: int = 0) -> None:
        """InRelease: let go of target ``tg`` (0 = all) so the next listing starts fresh."""
        answer = self.command(CMD_IN_RELEASE, bytes([tg]))
        if answer and answer[0] != 0x00:
            raise self._fail(DeviceError(f"InRelease failed: status {status_text(answer[0])}"))

    def command(self, code: int, params: bytes = b"", timeout: float | None = None) -> bytes:
        """Send command ``code`` and return the answer's parameters (after code + 1)."""
        self._send(code, params)
        answer = self._await_answer(code, self.timeout if timeout is None else timeout)
        if answer is None:  # only with abort_on_timeout, which is not used here
            raise self._fail(DeviceTimeout(f"no answer to command 0x{code:02X}"))
        self._status = "ok"
        return answer

    # ------------------------------------------------------------------ transport

    def _port(self) -> SerialPort:
        if self._ser is None:
            self._status = "disconnected"
            raise DeviceError(f"PN532 port {self.port} is not open")
        return self._ser

    def _fail(self, exc: Exception) -> Exception:
        """Record ``exc`` in :attr:`status` and log it; return it for ``raise``."""
        if isinstance(exc, DeviceError) and self._ser is None:
            self._status = "disconnected"
        else:
            self._status = f"error: {exc}"
        log.warning("PN532 %s: %s", self.port, exc)
        return exc

    def _vanished(self, exc: BaseException) -> DeviceError:
        """The port failed under us (unplugged): close it so a reconnect starts clean."""
        self.close()
        err = DeviceError(f"device vanished: {exc}")
        log.warning("PN532 %s: %s", self.port, err)
        return err

    def _send(self, code: int, params: bytes) -> None:
        ser = self._port()
        frame = build_frame(bytes([code]) + bytes(params))
        try:
            # Stale bytes (a late answer to an aborted command, noise) must not
            # be taken for this command's answer.
            ser.reset_input_buffer()
            self._parser.reset()
            ser.write((b"" if self._awake else WAKE_PREAMBLE) + frame)
            ser.flush()
        except PORT_ERRORS as exc:
            raise self._vanished(exc) from exc

    def _await_answer(
        self, code: int, timeout: float, *, abort_on_timeout: bool = False
    ) -> bytes | None:
        """Wait for ACK then the ``code + 1`` answer; return its parameters.

        With ``abort_on_timeout`` silence after the ACK returns ``None`` (after
        aborting the command) instead of raising :class:`DeviceTimeout`.
        """
        start = time.monotonic()
        deadline = start + timeout
        # However short the caller's timeout, give the chip time to ACK: a
        # missing ACK means a dead reader, not merely "no card yet".
        ack_deadline = start + max(timeout, ACK_WAIT)
        errors_before = Counter(self._parser.errors)
        acked = False
        interruptible = abort_on_timeout
        while True:
            limit = deadline if acked else ack_deadline
            # Only an ACKed listing can be aborted; before that, wait for the ACK.
            for item in self._read_frames(limit, interruptible=interruptible and acked):
                if isinstance(item, Ack):
                    acked = True
                    self._awake = True
                elif isinstance(item, Nack):
                    continue
                elif isinstance(item, ErrorFrame):
                    self._awake = True
                    raise self._fail(
                        DeviceError(f"PN532 reported a syntax error for command 0x{code:02X}")
                    )
                elif item.command == code + 1:
                    self._awake = True
                    return item.params
                else:
                    self._parser.errors["unexpected_answer"] += 1
            if self._cancelled:
                raise DeviceTimeout(f"command 0x{code:02X} cancelled")
            if interruptible and acked and self._interrupted.is_set():
                self._interrupted.clear()
                break
            if time.monotonic() >= (deadline if acked else ack_deadline):
                break
        if self._parser.has_partial_frame():
            self._parser.errors["truncated"] += 1
        garbled = self._parser.errors - errors_before
        if abort_on_timeout and acked and not garbled:
            return self._abort(code)
        self._awake = self._awake and acked
        if garbled:
            detail = ", ".join(f"{k}={v}" for k, v in sorted(garbled.items()))
            raise self._fail(
                FrameError(
                    f"garbled answer to command 0x{code:02X} within {timeout:.3f}s ({detail})"
                )
            )
        what = "answer" if acked else "ACK"
        raise self._fail(DeviceTimeout(f"no {what} to command 0x{code:02X} within {timeout:.3f}s"))

    def _abort(self, code: int) -> bytes | None:
        """Cancel a pending command with an ACK; keep an answer that crossed it on the wire."""
        ser = self._port()
        try:
            ser.write(ACK_FRAME)
            ser.flush()
        except PORT_ERRORS as exc:
            raise self._vanished(exc) from exc
        for item in self._read_frames(time.monotonic()):
            if isinstance(item, Frame) and item.command == code + 1:
                return item.params
        return None

    def _read_frames(self, deadline: float, *, interruptible: bool = False) -> list[Parsed]:
        """Read what arrives before ``deadline`` (at least one poll), return parsed frames.

        Returns as soon as at least one frame is complete, so answers are seen
        the moment their last byte lands; early with nothing when cancelled
        (or, if ``interruptible``, interrupted).
        """
        ser = self._port()
        while not self._cancelled and not (interruptible and self._interrupted.is_set()):
            remaining = max(0.0, deadline - time.monotonic())
            try:
                ser.timeout = remaining
                chunk = ser.read(1)
                if chunk:
                    waiting = ser.in_waiting
                    if waiting:
                        ser.timeout = 0
                        chunk += ser.read(waiting)
            except PORT_ERRORS as exc:
                raise self._vanished(exc) from exc
            if chunk:
                frames = self._parser.feed(chunk)
                if frames:
                    return frames
            if remaining <= 0 or not chunk and time.monotonic() >= deadline:
                return []
        return []

    def _parse_target(self, answer: bytes) -> bytes | None:
        """Decode an InListPassiveTarget answer for a type A target; return its UID."""
        if not answer:
            raise self._fail(FrameError("InListPassiveTarget answer is empty"))
        count = answer[0]
        if count == 0:
            return None
        # Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID…
        if len(answer) < 6:
            raise self._fail(FrameError(f"InListPassiveTarget answer too short: {answer.hex(' ')}"))
        uid_len = answer[5]
        uid = answer[6 : 6 + uid_len]
        if uid_len not in (4, 7, 10) or len(uid) != uid_len:
            raise self._fail(
                FrameError(f"InListPassiveTarget answer has a bad UID length: {answer.hex(' ')}")
            )
        return bytes(uid)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

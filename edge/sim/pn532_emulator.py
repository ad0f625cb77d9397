"""A PN532 on a pty that speaks the HSU frame protocol byte for byte, with an NTAG213.

The driver in :mod:`edge.hw.pn532` talks to it through pyserial exactly as it
talks to the real chip, so tests and the demo exercise the real driver code;
so can a third-party host driver (nfcpy's ``pn532`` module, tested in
``tests/hw/test_pn532_nfcpy.py``). The chip side follows the PN532 user
manual (UM0701-02): every command a host driver uses to open the chip and
read and write a Type 2 tag is answered as the chip answers it, each by one
small handler in :attr:`PN532Emulator._handlers`; anything else gets the
syntax-error frame, as an unknown command does on the chip. The tag itself
lives in :mod:`edge.sim.ntag213`, the register file in
:mod:`edge.sim.pn532_registers`.

Beyond the happy path the emulator can misbehave on purpose: answer with bad
checksums, noise, split or truncated frames, vanish mid-frame (``unplug``), or
have the card lifted after N page writes (``tear_after_writes``), leaving a
half-written ticket on the tag.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Self

from edge.hw.pn532 import (
    ACK_FRAME,
    BRTY_106_TYPE_A,
    CMD_DIAGNOSE,
    CMD_GET_FIRMWARE_VERSION,
    CMD_GET_GENERAL_STATUS,
    CMD_IN_COMMUNICATE_THRU,
    CMD_IN_DATA_EXCHANGE,
    CMD_IN_DESELECT,
    CMD_IN_LIST_PASSIVE_TARGET,
    CMD_IN_RELEASE,
    CMD_IN_SELECT,
    CMD_POWER_DOWN,
    CMD_READ_REGISTER,
    CMD_RF_CONFIGURATION,
    CMD_SAM_CONFIGURATION,
    CMD_SET_PARAMETERS,
    CMD_SET_SERIAL_BAUDRATE,
    CMD_WRITE_REGISTER,
    ERROR_FRAME,
    RF_CFG_MAX_RETRIES,
    TFI_CHIP,
    TFI_HOST,
    Ack,
    ErrorFrame,
    Frame,
    FrameParser,
    Nack,
    build_frame,
)
from edge.sim.ntag213 import CMD_WRITE, NTAG213_PAGES, NtagMemory, TagAnswer, crc_a
from edge.sim.pn532_registers import (
    CIU_RX_MODE,
    CIU_TX_CONTROL,
    CIU_TX_MODE,
    CRC_EN,
    SENS_REQ,
    TX_RF_EN,
    Registers,
)
from edge.sim.pty import PtyPair

__all__ = ["FAULTS", "NTAG213_PAGES", "NtagMemory", "PN532Emulator", "Step", "Transform"]

log = logging.getLogger(__name__)

FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])  # PN532, firmware 1.6, ISO14443A/B + 18092

DIAG_LINE = 0x00  # communication line test: the answer echoes the parameters
DIAG_ROM = 0x01
DIAG_RAM = 0x02
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1288000)
WAKE_HSU = 0x10  # PowerDown WakeUpEnable bit 4: line activity on HSU wakes the chip
# The chip wakes on the first byte on the line but hears nothing for a few
# byte times: a frame sent without a preamble is lost, one behind the
# manual's 55 55 00 00 00 or nfcpy's ten 00 bytes is heard.
WAKE_LOST_BYTES = 4
# RFConfiguration items and the number of values each takes (§7.3.1).
RF_CFG_FIELD = 0x01
RF_CFG_ITEM_SIZES = {0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3, 0x0A: 11, 0x0B: 8, 0x0C: 3, 0x0D: 9}
BRTY_RANGE = range(5)  # 106A, 212F, 424F, 106B, Jewel
TYPE_MIFARE_106 = 0x00  # GetGeneralStatus target type

# Status bytes the emulator answers with (PN532 user manual table 7-1).
ST_OK = 0x00
ST_TIMEOUT = 0x01  # the card did not answer: lifted, or mute after a NAK
ST_CRC_ERROR = 0x02  # also how the CIU reports a 4-bit ACK while RxCRCEn is set
ST_TAG_NAK = 0x13  # the tag refused (page out of range, read-only page)
ST_WRONG_CONTEXT = 0x27  # no target listed


# A response plan: bytes are written, floats are pauses, None unplugs the device.
Step = bytes | float | None
Transform = Callable[[bytes], Iterable[Step]]
Handler = Callable[[bytes], None]


def _flip(frame: bytes, index: int) -> bytes:
    out = bytearray(frame)
    out[index] ^= 0x5A
    return bytes(out)


FAULTS: dict[str, Transform] = {
    "bad_dcs": lambda f: [ACK_FRAME, _flip(f, -2)],
    "bad_lcs": lambda f: [ACK_FRAME, _flip(f, 4)],
    "truncate": lambda f: [ACK_FRAME, f[: len(f) // 2]],
    "garbage_before": lambda f: [ACK_FRAME, bytes([0x13, 0x37, 0x00, 0xFF, 0x05, 0x01, 0xAA]), f],
    "noise_only": lambda f: [
        ACK_FRAME,
        bytes(random.Random(len(f)).randrange(1, 256) for _ in range(40)),
    ],
    "split": lambda f: [ACK_FRAME, *(x for b in f for x in (bytes([b]), 0.0005))],
    "silence": lambda f: [ACK_FRAME],
    "no_ack": lambda f: [],
    "error_frame": lambda f: [ACK_FRAME, ERROR_FRAME],
    "oversized": lambda f: [
        ACK_FRAME,
        b"\x00\x00\xff\xff\xff\x01\x2c\xd3" + bytes(300) + b"\x00\x00",
    ],
    "vanish": lambda f: [ACK_FRAME, f[: len(f) // 2], None],
}


def _uid_wanted(initiator_data: bytes) -> bytes:
    """The UID an InListPassiveTarget asks for, without its cascade tags (88h); empty: any."""
    uid = bytes(initiator_data)
    if len(uid) > 4 and uid[0] == 0x88:
        uid = uid[1:]
    if len(uid) > 7 and uid[3] == 0x88:
        uid = uid[:3] + uid[4:]
    return uid


class PN532Emulator:
    """A PN532 with an NTAG213 reader field, on the master side of a :class:`PtyPair`.

    Starts asleep, as the chip does on HSU: the first byte on the line wakes
    it, and that byte and the next few are lost (:data:`WAKE_LOST_BYTES` in
    all), so a host must send a preamble. Answers every valid
    host frame with an ACK and the answer frame; answers unknown commands with
    the error frame. ``answer_listing_at_once`` makes InListPassiveTarget
    answer "no target" at once even when told to wait for a card (a chip
    whose retry setting was lost), for testing hosts that must not spin.
    """

    def __init__(self, *, require_wake: bool = True, answer_listing_at_once: bool = False) -> None:
        self._pty = PtyPair()
        self.device_path = self._pty.device_path
        self._parser = FrameParser(accept_tfi=(TFI_HOST,))
        self._lock = threading.RLock()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._closed = False
        self._awake = not require_wake
        self._wake_sources = WAKE_HSU
        self._deaf_bytes = 0
        self._card: NtagMemory | None = None
        self._listed = False  # the chip holds target 1 (listed, not released)
        self._tag_active = False  # the tag is selected (ACTIVE), not IDLE or HALT
        self._field_on = False
        self._pending_list: bytes | None = None  # params of a listing waiting for a card
        self._passive_retries = 0xFF
        self._at_once = answer_listing_at_once
        self._last_error = ST_OK
        self._baud_after_ack: int | None = None
        self._writes_left: int | None = None
        self._faults: deque[Transform] = deque()
        self._last_sent = b""
        self.registers = Registers()
        self.parameters = 0x00  # SetParameters flags
        self.baudrate = 115200  # what SetSerialBaudrate last switched to
        self.commands: list[int] = []  # command codes received, in order
        self.aborts = 0  # commands cancelled by a host ACK
        self.page_writes = 0
        self._handlers: dict[int, Handler] = {
            CMD_DIAGNOSE: self._diagnose,
            CMD_GET_FIRMWARE_VERSION: self._get_firmware_version,
            CMD_GET_GENERAL_STATUS: self._get_general_status,
            CMD_READ_REGISTER: self._read_register,
            CMD_WRITE_REGISTER: self._write_register,
            CMD_SET_SERIAL_BAUDRATE: self._set_serial_baudrate,
            CMD_SET_PARAMETERS: self._set_parameters,
            CMD_SAM_CONFIGURATION: self._sam_configuration,
            CMD_POWER_DOWN: self._power_down,
            CMD_RF_CONFIGURATION: self._rf_configuration,
            CMD_IN_LIST_PASSIVE_TARGET: self._in_list_passive_target,
            CMD_IN_DATA_EXCHANGE: self._in_data_exchange,
            CMD_IN_COMMUNICATE_THRU: self._in_communicate_thru,
            CMD_IN_DESELECT: self._in_deselect,
            CMD_IN_RELEASE: self._in_release,
            CMD_IN_SELECT: self._in_select,
        }
        self._thread = threading.Thread(target=self._run, name="pn532-emulator", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ test controls

    @property
    def card(self) -> NtagMemory | None:
        return self._card

    @property
    def unplugged(self) -> bool:
        return self._pty.closed

    @property
    def asleep(self) -> bool:
        """True before the first wake-up and after PowerDown."""
        return not self._awake

    @property
    def frame_errors(self) -> int:
        """Bad host frames the emulator dropped."""
        return self._parser.error_count

    def place_card(self, tag: NtagMemory) -> None:
        """Put ``tag`` in the field; a waiting InListPassiveTarget answers at once."""
        with self._lock:
            self._card = tag
            self._listed = self._tag_active = False
        self._poke()

    def remove_card(self) -> None:
        """Lift the card out of the field."""
        with self._lock:
            self._card = None
            self._listed = self._tag_active = False

    def tear_after_writes(self, n: int) -> None:
        """Lift the card right after ``n`` more successful page writes."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._writes_left = n or None
            if n == 0:
                self._card = None
                self._listed = self._tag_active = False

    def fault_next(self, kind: str) -> None:
        """Misbehave on the next answer; ``kind`` is a key of :data:`FAULTS`."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose from {sorted(FAULTS)}")
        self.transform_next(FAULTS[kind])

    def transform_next(self, transform: Transform) -> None:
        """Replace the next answer (its frame bytes) by the steps ``transform`` returns."""
        with self._lock:
            self._faults.append(transform)

    def inject(self, data: bytes) -> None:
        """Send raw bytes to the host now (noise, partial frames)."""
        self._pty.write(data)

    def unplug(self) -> None:
        """The device vanishes: the pty closes and its device node disappears."""
        self.close()

    def close(self) -> None:
        """Stop the emulator thread and close the pty. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stop = True
        self._poke()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)
        self._pty.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ loop

    def _poke(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        master = self._pty.master_fd
        while not self._stop:
            try:
                ready, _, _ = select.select([master, self._wake_r], [], [])
            except (OSError, ValueError):
                return
            if self._stop:
                return
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            if master in ready:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    data = b""
                if not data:
                    # The host side hung up (closed its port); wait for it to come back.
                    time.sleep(0.005)
                else:
                    self._on_bytes(data)
            with self._lock:
                pending = self._pending_list
                if pending is not None and self._card_matches(pending):
                    self._pending_list = None
                    self._send(self._list_answer(), ack=False)  # ACKed when it arrived

    def _on_bytes(self, data: bytes) -> None:
        with self._lock:
            if not self._awake:
                if not self._wake_sources & WAKE_HSU:
                    return  # asleep with HSU wake-up disabled: the line does nothing
                self._awake = True
                self._deaf_bytes = WAKE_LOST_BYTES
            if self._deaf_bytes:
                lost = min(self._deaf_bytes, len(data))
                self._deaf_bytes -= lost
                data = data[lost:]
            for item in self._parser.feed(data):
                if isinstance(item, Ack):
                    self._on_host_ack()
                elif isinstance(item, Nack):
                    if self._last_sent:
                        self._write_steps([self._last_sent])
                elif isinstance(item, ErrorFrame):
                    continue
                else:
                    self._on_command(item)

    def _on_host_ack(self) -> None:
        """A host ACK aborts a waiting command, or completes a baud-rate change (§7.2.8)."""
        if self._pending_list is not None:
            self._pending_list = None
            self.aborts += 1
        if self._baud_after_ack is not None:
            self.baudrate, self._baud_after_ack = self._baud_after_ack, None

    def _on_command(self, frame: Frame) -> None:
        self._pending_list = None  # a new command cancels a waiting listing
        code = frame.command
        if code is None:
            self._write_steps([ERROR_FRAME])
            return
        self.commands.append(code)
        handler = self._handlers.get(code)
        if handler is None:
            self._syntax_error()
        else:
            handler(frame.params)

    # ------------------------------------------------------------------ miscellaneous commands

    def _diagnose(self, p: bytes) -> None:
        """Diagnose: the line test echoes its parameters; ROM and RAM tests pass."""
        if not p:
            self._syntax_error()
        elif p[0] == DIAG_LINE:
            self._answer(CMD_DIAGNOSE, p)
        elif p[0] in (DIAG_ROM, DIAG_RAM) and len(p) == 1:
            self._answer(CMD_DIAGNOSE, bytes([ST_OK]))
        else:
            self._syntax_error()

    def _get_firmware_version(self, p: bytes) -> None:
        self._answer(CMD_GET_FIRMWARE_VERSION, FIRMWARE)

    def _get_general_status(self, p: bytes) -> None:
        """Err, Field (external field: none, we are the initiator), NbTg, per target, SAM."""
        targets = bytes([0x01, 0x00, 0x00, TYPE_MIFARE_106]) if self._listed else b""
        status = bytes([self._last_error, 0x00, int(self._listed)]) + targets + b"\x00"
        self._answer(CMD_GET_GENERAL_STATUS, status)

    def _read_register(self, p: bytes) -> None:
        if not p or len(p) % 2:
            self._syntax_error()
            return
        addresses = [p[i] << 8 | p[i + 1] for i in range(0, len(p), 2)]
        self._answer(CMD_READ_REGISTER, bytes(self.registers.read(a) for a in addresses))

    def _write_register(self, p: bytes) -> None:
        if not p or len(p) % 3:
            self._syntax_error()
            return
        for i in range(0, len(p), 3):
            self.registers.write(p[i] << 8 | p[i + 1], p[i + 2])
        self._answer(CMD_WRITE_REGISTER, b"")

    def _set_serial_baudrate(self, p: bytes) -> None:
        """The new rate applies once the host ACKs the answer."""
        if len(p) != 1 or p[0] >= len(BAUD_RATES):
            self._syntax_error()
            return
        self._baud_after_ack = BAUD_RATES[p[0]]
        self._answer(CMD_SET_SERIAL_BAUDRATE, b"")

    def _set_parameters(self, p: bytes) -> None:
        if len(p) != 1:
            self._syntax_error()
            return
        self.parameters = p[0]
        self._answer(CMD_SET_PARAMETERS, b"")

    def _sam_configuration(self, p: bytes) -> None:
        if not p or p[0] not in (1, 2, 3, 4):
            self._syntax_error()
        else:
            self._answer(CMD_SAM_CONFIGURATION, b"")

    def _power_down(self, p: bytes) -> None:
        """Answer, then sleep until a wake-up source in ``WakeUpEnable`` fires."""
        if not 1 <= len(p) <= 2:
            self._syntax_error()
            return
        # Asleep before the answer leaves: a host that reads the answer finds the chip asleep.
        self._set_field(False)
        self._wake_sources = p[0]
        self._awake = False
        self._answer(CMD_POWER_DOWN, bytes([ST_OK]))

    def _rf_configuration(self, p: bytes) -> None:
        if not p or RF_CFG_ITEM_SIZES.get(p[0]) != len(p) - 1:
            self._syntax_error()
            return
        if p[0] == RF_CFG_MAX_RETRIES:
            self._passive_retries = p[3]
        elif p[0] == RF_CFG_FIELD:
            self._set_field(bool(p[1] & 0x01))
        self._answer(CMD_RF_CONFIGURATION, b"")

    # ------------------------------------------------------------------ initiator commands

    def _in_list_passive_target(self, p: bytes) -> None:
        if len(p) < 2 or not 1 <= p[0] <= 2 or p[1] not in BRTY_RANGE:
            self._syntax_error()
            return
        self._set_field(True)
        self.registers.configure_type_a()
        self._listed = self._tag_active = False
        if self._card_matches(p):
            self._send(self._list_answer())
        elif self._passive_retries == 0xFF and not self._at_once:
            self._write_steps([ACK_FRAME])  # wait for a card or an abort
            self._pending_list = bytes(p)
        else:
            self.registers.load_fifo(bytes([SENS_REQ]))  # nobody answered the REQA
            self._answer(CMD_IN_LIST_PASSIVE_TARGET, b"\x00")

    def _in_data_exchange(self, p: bytes) -> None:
        """The firmware's Type 2 tag exchange: status, then the tag's data (ACK: nothing)."""
        if not p:
            self._syntax_error()
            return
        tg, command = p[0] & 0x3F, p[1:]  # bit 6 is MI (more information)
        if tg != 1 or not self._listed:
            self._status_answer(CMD_IN_DATA_EXCHANGE, ST_WRONG_CONTEXT)
            return
        answer = self._to_tag(command)
        if answer is None:
            self._status_answer(CMD_IN_DATA_EXCHANGE, ST_TIMEOUT)
        elif answer.is_nak:
            self._status_answer(CMD_IN_DATA_EXCHANGE, ST_TAG_NAK)
        else:
            self._status_answer(CMD_IN_DATA_EXCHANGE, ST_OK, b"" if answer.short else answer.data)

    def _in_communicate_thru(self, p: bytes) -> None:
        """Raw frame to whatever is in the field; CRC_A as the CIU's TxMode/RxMode say."""
        if not p:
            self._syntax_error()
            return
        command: bytes | None = bytes(p)
        if not self.registers.flag(CIU_TX_MODE, CRC_EN):  # the host sends its own CRC
            body, crc = p[:-2], p[-2:]
            command = body if len(p) > 2 and crc_a(body) == crc else None
        answer = self._to_tag(command) if command else None
        if answer is None:
            self._status_answer(CMD_IN_COMMUNICATE_THRU, ST_TIMEOUT)
        elif self.registers.flag(CIU_RX_MODE, CRC_EN):
            if answer.short:  # a 4-bit ACK/NAK has no CRC to check
                self._status_answer(CMD_IN_COMMUNICATE_THRU, ST_CRC_ERROR)
            else:
                self._status_answer(CMD_IN_COMMUNICATE_THRU, ST_OK, answer.data)
        else:
            data = answer.data if answer.short else answer.data + crc_a(answer.data)
            self._status_answer(CMD_IN_COMMUNICATE_THRU, ST_OK, data)

    def _in_deselect(self, p: bytes) -> None:
        """Deselect (HLTA for a Type 2 tag); the chip keeps the target for InSelect."""
        if len(p) != 1:
            self._syntax_error()
        elif p[0] not in (0, 1) or not self._listed:
            self._status_answer(CMD_IN_DESELECT, ST_WRONG_CONTEXT)
        else:
            self._tag_active = False
            self._status_answer(CMD_IN_DESELECT, ST_OK)

    def _in_select(self, p: bytes) -> None:
        """Select the listed target again (WUPA + anticollision); it must still be in the field."""
        if len(p) != 1:
            self._syntax_error()
        elif p[0] != 1 or not self._listed:
            self._status_answer(CMD_IN_SELECT, ST_WRONG_CONTEXT)
        elif self._card is None or not self._field_on:
            self._status_answer(CMD_IN_SELECT, ST_TIMEOUT)
        else:
            self._tag_active = True
            self._status_answer(CMD_IN_SELECT, ST_OK)

    def _in_release(self, p: bytes) -> None:
        self._listed = self._tag_active = False
        self._status_answer(CMD_IN_RELEASE, ST_OK)

    # ------------------------------------------------------------------ field and tag

    def _set_field(self, on: bool) -> None:
        """Switch the RF field; without it the tag loses power and forgets its state."""
        self._field_on = on
        self.registers.set_bits(CIU_TX_CONTROL, TX_RF_EN, on)
        if not on:
            self._tag_active = False

    def _card_matches(self, params: bytes) -> bool:
        """A card in the field answers this listing (106 kbps type A, the UID asked for)."""
        card = self._card
        if card is None or params[1] != BRTY_106_TYPE_A:
            return False
        wanted = _uid_wanted(params[2:])
        return not wanted or wanted == card.uid

    def _list_answer(self) -> bytes:
        assert self._card is not None
        self._listed = self._tag_active = True
        self.registers.load_fifo(b"")
        uid = self._card.uid
        # NbTg, Tg, SENS_RES 00 44, SEL_RES 00 (NTAG), NFCIDLength, NFCID
        return bytes([CMD_IN_LIST_PASSIVE_TARGET + 1, 0x01, 0x01, 0x00, 0x44, 0x00, len(uid)]) + uid

    def _to_tag(self, command: bytes) -> TagAnswer | None:
        """One command to the tag over the air; ``None`` when nothing answers."""
        card = self._card
        if card is None or not self._field_on or not self._tag_active or not command:
            return None
        answer = card.respond(command)
        if answer is None or answer.is_nak:
            self._tag_active = False  # a Type 2 tag falls back to IDLE
            return answer
        if command[0] == CMD_WRITE:
            self.page_writes += 1
            if self._writes_left is not None:
                self._writes_left -= 1
                if self._writes_left <= 0:
                    self._writes_left = None
                    self._card = None  # lifted right after this page landed
                    self._listed = self._tag_active = False
        return answer

    # ------------------------------------------------------------------ answers

    def _answer(self, code: int, data: bytes) -> None:
        """ACK, then the answer frame for command ``code`` (code + 1, then ``data``)."""
        self._send(bytes([code + 1]) + data)

    def _status_answer(self, code: int, status: int, data: bytes = b"") -> None:
        """An In* answer: status byte first; the last error is kept for GetGeneralStatus."""
        self._last_error = status
        self._answer(code, bytes([status]) + data)

    def _syntax_error(self) -> None:
        self._write_steps([ACK_FRAME, ERROR_FRAME])

    def _send(self, answer: bytes, *, ack: bool = True) -> None:
        """ACK plus the answer frame, unless a queued fault rewrites it."""
        frame = build_frame(answer, tfi=TFI_CHIP)
        self._last_sent = frame
        if self._faults:
            steps = list(self._faults.popleft()(frame))
            self._write_steps(steps if ack else [s for s in steps if s != ACK_FRAME])
        else:
            self._write_steps([ACK_FRAME + frame if ack else frame])

    def _write_steps(self, steps: Iterable[Step]) -> None:
        for step in steps:
            if step is None:
                log.info("PN532 emulator %s unplugged mid-answer", self.device_path)
                self._stop = True
                self._pty.close()
                return
            if isinstance(step, float):
                time.sleep(step)
                continue
            try:
                self._pty.write(step)
            except OSError:
                return

"""A PN532 on a pty that speaks the HSU frame protocol byte for byte, with an NTAG213.

The driver in :mod:`edge.hw.pn532` talks to it through pyserial exactly as it
talks to the real chip, so tests and the demo exercise the real driver code.
Beyond the happy path the emulator can misbehave on purpose: answer with bad
checksums, noise, split or truncated frames, vanish mid-frame (``unplug``), or
have the card lifted after N page writes (``tear_after_writes``), leaving a
half-written ticket on the tag.
"""

from __future__ import annotations

import logging
import os
import random
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Self

from edge.hw.pn532 import (
    ACK_FRAME,
    CMD_GET_FIRMWARE_VERSION,
    CMD_IN_DATA_EXCHANGE,
    CMD_IN_LIST_PASSIVE_TARGET,
    CMD_IN_RELEASE,
    CMD_RF_CONFIGURATION,
    CMD_SAM_CONFIGURATION,
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
from edge.sim.pty import PtyPair

log = logging.getLogger(__name__)

FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])  # PN532, firmware 1.6, ISO14443A/B + 18092
NTAG213_PAGES = 45
NTAG_READ = 0x30
NTAG_WRITE = 0xA2
# Status bytes the emulator answers with (PN532 user manual table 7-1).
ST_OK = 0x00
ST_TIMEOUT = 0x01  # the card did not answer: lifted
ST_TAG_NAK = 0x13  # the tag refused (page out of range, read-only page)
ST_WRONG_CONTEXT = 0x27  # no target listed


def _bcc(*values: int) -> int:
    out = 0
    for v in values:
        out ^= v
    return out


@dataclass
class NtagMemory:
    """The 45 pages of an NTAG213: 0–2 UID/lock, 3 capability container, 4–39 user, 40–44 config.

    One object is one physical card: remove it from the reader and place it
    again and it still holds what was (half-)written to it.
    """

    uid: bytes = field(default_factory=lambda: bytes([0x04]) + os.urandom(6))
    pages: list[bytearray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.uid) != 7:
            raise ValueError(f"an NTAG213 UID has 7 bytes, got {len(self.uid)}")
        if not self.pages:
            u = self.uid
            self.pages = [bytearray(4) for _ in range(NTAG213_PAGES)]
            self.pages[0][:] = bytes([u[0], u[1], u[2], _bcc(0x88, u[0], u[1], u[2])])
            self.pages[1][:] = u[3:7]
            self.pages[2][:] = bytes([_bcc(*u[3:7]), 0x48, 0x00, 0x00])
            self.pages[3][:] = bytes([0xE1, 0x10, 0x12, 0x00])  # NDEF, 144 bytes
            self.pages[40][:] = bytes([0x00, 0x00, 0x00, 0xBD])
            self.pages[41][:] = bytes([0x04, 0x00, 0x00, 0xFF])
            self.pages[42][:] = bytes([0x00, 0x05, 0x00, 0x00])
            self.pages[43][:] = bytes([0xFF, 0xFF, 0xFF, 0xFF])
        if len(self.pages) != NTAG213_PAGES or any(len(p) != 4 for p in self.pages):
            raise ValueError("an NTAG213 has 45 pages of 4 bytes")

    @classmethod
    def with_user_memory(cls, data: bytes, uid: bytes | None = None) -> NtagMemory:
        """A card whose user pages start with ``data`` (zero-padded)."""
        tag = cls(uid=uid) if uid is not None else cls()
        tag.user_memory = data
        return tag

    @property
    def user_memory(self) -> bytes:
        """The 144 bytes of pages 4–39."""
        return b"".join(bytes(p) for p in self.pages[4:40])

    @user_memory.setter
    def user_memory(self, data: bytes) -> None:
        if len(data) > 144:
            raise ValueError(f"NTAG213 user memory holds 144 bytes, got {len(data)}")
        padded = bytes(data).ljust(144, b"\x00")
        for i in range(36):
            self.pages[4 + i][:] = padded[4 * i : 4 * i + 4]

    def read(self, page: int) -> bytes:
        """READ: 16 bytes from ``page``, rolling over past the last page as the tag does."""
        return b"".join(bytes(self.pages[(page + i) % NTAG213_PAGES]) for i in range(4))

    def write(self, page: int, data: bytes) -> None:
        """WRITE one page; pages 0–1 (serial number) are read-only."""
        if not 2 <= page < NTAG213_PAGES or len(data) != 4:
            raise ValueError(f"page {page} is not writable")
        self.pages[page][:] = data


# A response plan: bytes are written, floats are pauses, None unplugs the device.
Step = bytes | float | None
Transform = Callable[[bytes], Iterable[Step]]


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


class PN532Emulator:
    """A PN532 with an NTAG213 reader field, on the master side of a :class:`PtyPair`.

    Starts asleep, as the chip does on HSU: input is ignored until a wake-up
    byte (0x55) arrives. Answers every valid host frame with an ACK and the
    answer frame; answers unknown commands with the error frame.
    """

    def __init__(self, *, require_wake: bool = True) -> None:
        self._pty = PtyPair()
        self.device_path = self._pty.device_path
        self._parser = FrameParser(accept_tfi=(TFI_HOST,))
        self._lock = threading.RLock()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._closed = False
        self._awake = not require_wake
        self._card: NtagMemory | None = None
        self._listed = False
        self._pending_list = False
        self._passive_retries = 0xFF
        self._writes_left: int | None = None
        self._faults: deque[Transform] = deque()
        self._last_sent = b""
        self.commands: list[int] = []  # command codes received, in order
        self.aborts = 0  # commands cancelled by a host ACK
        self.page_writes = 0
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
    def frame_errors(self) -> int:
        """Bad host frames the emulator dropped."""
        return self._parser.error_count

    def place_card(self, tag: NtagMemory) -> None:
        """Put ``tag`` in the field; a waiting InListPassiveTarget answers at once."""
        with self._lock:
            self._card = tag
            self._listed = False
        self._poke()

    def remove_card(self) -> None:
        """Lift the card out of the field."""
        with self._lock:
            self._card = None
            self._listed = False

    def tear_after_writes(self, n: int) -> None:
        """Lift the card right after ``n`` more successful page writes."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._writes_left = n or None
            if n == 0:
                self._card = None
                self._listed = False

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
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ loop

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

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
                if self._pending_list and self._card is not None:
                    self._pending_list = False
                    self._send(self._list_answer(), ack=False)  # ACKed when it arrived

    def _on_bytes(self, data: bytes) -> None:
        with self._lock:
            if not self._awake:
                at = data.find(b"\x55")
                if at < 0:
                    return  # asleep: the chip hears nothing
                self._awake = True
                data = data[at + 1 :]
            for item in self._parser.feed(data):
                if isinstance(item, Ack):
                    if self._pending_list:
                        self._pending_list = False
                        self.aborts += 1
                elif isinstance(item, Nack):
                    if self._last_sent:
                        self._write_steps([self._last_sent])
                elif isinstance(item, ErrorFrame):
                    continue
                else:
                    self._on_command(item)

    def _on_command(self, frame: Frame) -> None:
        self._pending_list = False  # a new command cancels a waiting listing
        code = frame.command
        if code is None:
            self._write_steps([ERROR_FRAME])
            return
        self.commands.append(code)
        p = frame.params
        if code == CMD_GET_FIRMWARE_VERSION:
            self._send(bytes([code + 1]) + FIRMWARE)
        elif code == CMD_SAM_CONFIGURATION:
            if not p or p[0] not in (1, 2, 3, 4):
                self._syntax_error()
            else:
                self._send(bytes([code + 1]))
        elif code == CMD_RF_CONFIGURATION:
            if not p:
                self._syntax_error()
                return
            if p[0] == RF_CFG_MAX_RETRIES and len(p) >= 4:
                self._passive_retries = p[3]
            self._send(bytes([code + 1]))
        elif code == CMD_IN_LIST_PASSIVE_TARGET:
            if len(p) < 2 or p[1] != 0x00 or not 1 <= p[0] <= 2:
                self._syntax_error()
            elif self._card is not None:
                self._send(self._list_answer())
            elif self._passive_retries == 0xFF:
                self._write_steps([ACK_FRAME])  # wait for a card or an abort
                self._pending_list = True
            else:
                self._send(bytes([code + 1, 0x00]))
        elif code == CMD_IN_DATA_EXCHANGE:
            if not p:
                self._syntax_error()
            else:
                self._send(bytes([code + 1]) + self._exchange(p[0], p[1:]))
        elif code == CMD_IN_RELEASE:
            self._listed = False
            self._send(bytes([code + 1, ST_OK]))
        else:
            self._syntax_error()

    def _list_answer(self) -> bytes:
        assert self._card is not None
        self._listed = True
        uid = self._card.uid
        # NbTg, Tg, SENS_RES 00 44, SEL_RES 00 (NTAG), NFCIDLength, NFCID
        return bytes([CMD_IN_LIST_PASSIVE_TARGET + 1, 0x01, 0x01, 0x00, 0x44, 0x00, len(uid)]) + uid

    def _exchange(self, tg: int, tag_cmd: bytes) -> bytes:
        """Run a Type 2 tag command; return status byte + the tag's answer."""
        if tg != 1 or not self._listed:
            return bytes([ST_WRONG_CONTEXT])
        card = self._card
        if card is None:
            return bytes([ST_TIMEOUT])
        if len(tag_cmd) == 2 and tag_cmd[0] == NTAG_READ:
            if tag_cmd[1] >= NTAG213_PAGES:
                return bytes([ST_TAG_NAK])
            return bytes([ST_OK]) + card.read(tag_cmd[1])
        if len(tag_cmd) == 6 and tag_cmd[0] == NTAG_WRITE:
            try:
                card.write(tag_cmd[1], tag_cmd[2:6])
            except ValueError:
                return bytes([ST_TAG_NAK])
            self.page_writes += 1
            if self._writes_left is not None:
                self._writes_left -= 1
                if self._writes_left <= 0:
                    self._writes_left = None
                    self._card = None  # lifted right after this page landed
                    self._listed = False
            return bytes([ST_OK])
        return bytes([ST_TAG_NAK])

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

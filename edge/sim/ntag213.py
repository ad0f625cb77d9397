"""An NTAG213 as a reader's RF field sees it: 45 pages, lock bits, and the tag's own commands.

One :class:`NtagMemory` is one physical card (it keeps what was written to it
when lifted and placed again). :meth:`NtagMemory.respond` answers a Type 2 tag
command the way the chip does (NTAG213/215/216 data sheet, rev. 3.2):

- ``60`` GET_VERSION: ``00 04 04 02 01 00 0F 03`` (NXP, NTAG, 50 pF, NTAG213).
- ``30`` READ and ``3A`` FAST_READ: pages roll over after page 44; PWD and
  PACK (pages 43–44) always read as ``00`` — they can be written, never read.
- ``A2`` WRITE: a 4-bit ACK, or a NAK for a page that is read-only or locked.
  The lock bytes (page 2 bytes 2–3, page 40 bytes 0–2) and the capability
  container (page 3) are one-time programmable: a write ORs its bits in,
  and a block-locking bit freezes the lock bits it covers.
- Anything else (AUTHENTICATE ``1A``, PWD_AUTH, READ_SIG…): no answer at
  all. After a NAK or a command it does not answer, the tag is back in the
  IDLE state and answers nothing until a reader selects it again; nfcpy's
  tag detection relies on that (it probes with ``1A`` and re-senses).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

NTAG213_PAGES = 45
VERSION = bytes.fromhex("00 04 04 02 01 00 0F 03")

CMD_GET_VERSION = 0x60
CMD_READ = 0x30
CMD_FAST_READ = 0x3A
CMD_WRITE = 0xA2

ACK = 0x0A
NAK_INVALID_ARGUMENT = 0x00  # invalid page address, or a page write refused

PWD_PAGE = 43
PACK_PAGE = 44
ACCESS_PAGE = 42
CFGLCK = 0x40  # ACCESS bit 6: pages 41–42 are permanently locked


class PageWriteRefused(ValueError):
    """A WRITE the tag answers with NAK: read-only, locked, or outside the tag."""


def bcc(*values: int) -> int:
    """Block check character of a UID cascade level: the XOR of its bytes."""
    out = 0
    for v in values:
        out ^= v
    return out


def crc_a(data: bytes) -> bytes:
    """ISO/IEC 14443-3 CRC_A of ``data``, low byte first, as it follows a frame on air."""
    crc = 0x6363
    for byte in data:
        b = (byte ^ crc) & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = (crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return bytes([crc & 0xFF, crc >> 8])


@dataclass(frozen=True, slots=True)
class TagAnswer:
    """What the tag sent back: a frame (CRC_A not included) or a 4-bit ACK/NAK."""

    data: bytes
    short: bool = False  # a 4-bit ACK/NAK rather than a frame

    @property
    def is_nak(self) -> bool:
        return self.short and self.data[0] != ACK


def _static_lock_freeze(block_bits: int) -> int:
    """The static lock bits (16-bit, page 2 bytes 2–3) that set block-locking bits freeze."""
    frozen = 0
    if block_bits & 0x01:  # BL-CC
        frozen |= 1 << 3
    if block_bits & 0x02:  # BL-9-4
        frozen |= 0x03F0
    if block_bits & 0x04:  # BL-15-10
        frozen |= 0xFC00
    return frozen


def _dynamic_lock_freeze(block_bits: int) -> int:
    """The dynamic lock bits (page 40 bytes 0–1) that the block-locking bits in byte 2 freeze.

    Each block-locking bit covers four pages, i.e. two lock bits of two pages each.
    """
    return sum(0b11 << (2 * j) for j in range(6) if block_bits >> j & 1)


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
            self.pages[0][:] = bytes([u[0], u[1], u[2], bcc(0x88, u[0], u[1], u[2])])
            self.pages[1][:] = u[3:7]
            self.pages[2][:] = bytes([bcc(*u[3:7]), 0x48, 0x00, 0x00])
            self.pages[3][:] = bytes([0xE1, 0x10, 0x12, 0x00])  # NDEF, 144 bytes
            self.pages[40][:] = bytes([0x00, 0x00, 0x00, 0xBD])
            self.pages[41][:] = bytes([0x04, 0x00, 0x00, 0xFF])  # AUTH0 FF: no password
            self.pages[42][:] = bytes([0x00, 0x05, 0x00, 0x00])
            self.pages[PWD_PAGE][:] = bytes([0xFF, 0xFF, 0xFF, 0xFF])  # factory PWD
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

    # ------------------------------------------------------------------ memory

    def page_as_read(self, page: int) -> bytes:
        """One page as READ returns it: PWD and PACK read as zeros."""
        if page in (PWD_PAGE, PACK_PAGE):
            return bytes(4)
        return bytes(self.pages[page])

    def read(self, page: int) -> bytes:
        """READ: 16 bytes from ``page``, rolling over past the last page as the tag does."""
        return b"".join(self.page_as_read((page + i) % NTAG213_PAGES) for i in range(4))

    def is_locked(self, page: int) -> bool:
        """True when ``page`` is write-protected by its lock bit (or CFGLCK for 41–42)."""
        static = self.pages[2][2] | self.pages[2][3] << 8
        if page == 3 or 4 <= page <= 15:
            return bool(static >> page & 1)
        if 16 <= page <= 39:
            dynamic = self.pages[40][0] | self.pages[40][1] << 8
            return bool(dynamic >> ((page - 16) // 2) & 1)
        if page in (41, ACCESS_PAGE):
            return bool(self.pages[ACCESS_PAGE][0] & CFGLCK)
        return False

    def write(self, page: int, data: bytes) -> None:
        """WRITE one page, as the tag does; raises :class:`PageWriteRefused` where it NAKs.

        Pages 0–1 (serial number) are read-only; lock bytes and the capability
        container are OR-ed in (one-time programmable); a locked page refuses.
        """
        data = bytes(data)
        if len(data) != 4:
            raise PageWriteRefused(f"a page holds 4 bytes, got {len(data)}")
        if not 2 <= page < NTAG213_PAGES:
            raise PageWriteRefused(f"page {page} is read-only or outside the tag")
        if self.is_locked(page):
            raise PageWriteRefused(f"page {page} is locked")
        target = self.pages[page]
        if page == 2:  # bytes 0–1 (BCC1, internal) are not written
            static = target[2] | target[3] << 8
            new = (data[2] | data[3] << 8) & ~_static_lock_freeze(static & 0x07)
            static |= new
            target[2:4] = bytes([static & 0xFF, static >> 8])
        elif page == 3:
            target[:] = bytes(a | b for a, b in zip(target, data, strict=True))
        elif page == 40:  # byte 3 is RFUI
            dynamic = target[0] | target[1] << 8
            new = (data[0] | data[1] << 8) & 0x0FFF & ~_dynamic_lock_freeze(target[2])
            dynamic |= new
            target[0:3] = bytes([dynamic & 0xFF, dynamic >> 8, target[2] | (data[2] & 0x3F)])
        else:
            target[:] = data

    # ------------------------------------------------------------------ RF commands

    def respond(self, command: bytes) -> TagAnswer | None:
        """The tag's answer to one command (CRC_A already checked and removed); ``None``: silent."""
        if not command:
            return None
        code, args = command[0], command[1:]
        if code == CMD_GET_VERSION and not args:
            return TagAnswer(VERSION)
        if code == CMD_READ and len(args) == 1:
            if args[0] >= NTAG213_PAGES:
                return TagAnswer(bytes([NAK_INVALID_ARGUMENT]), short=True)
            return TagAnswer(self.read(args[0]))
        if code == CMD_FAST_READ and len(args) == 2:
            start, end = args
            if start > end or end >= NTAG213_PAGES:
                return TagAnswer(bytes([NAK_INVALID_ARGUMENT]), short=True)
            return TagAnswer(b"".join(self.page_as_read(p) for p in range(start, end + 1)))
        if code == CMD_WRITE and len(args) == 5:
            try:
                self.write(args[0], args[1:5])
            except PageWriteRefused:
                return TagAnswer(bytes([NAK_INVALID_ARGUMENT]), short=True)
            return TagAnswer(bytes([ACK]), short=True)
        return None

"""PN532 frame codec (UART/HSU): pure encode and parse, no I/O.

Frame format (PN532 user manual §6.2; DESIGN §7)::

    normal    00 00 FF LEN LCS TFI DATA… DCS 00         LEN + LCS ≡ 0
    extended  00 00 FF FF FF LENM LENL LCS TFI DATA… DCS 00
    ACK       00 00 FF 00 FF 00
    NACK      00 00 FF FF 00 00
    error     00 00 FF 01 FF 7F 81 00

with ``TFI + ΣDATA + DCS ≡ 0 (mod 256)``; TFI ``D4`` host → chip, ``D5`` chip →
host, and the answer's command code is the request's + 1.

The parser never raises on what arrives on the wire: noise, torn frames and bad
checksums are counted in :attr:`FrameParser.errors` and skipped to the next
start code. Both the driver (:mod:`edge.hw.pn532`) and the emulator
(:mod:`edge.sim.pn532_emulator`) use it, so they agree byte for byte.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from edge.errors import FrameError

TFI_HOST = 0xD4
TFI_CHIP = 0xD5
TFI_ERROR = 0x7F
START_CODE = b"\x00\xff"
# LENM/LENL of an extended frame count TFI + data: up to 265 (264 data bytes),
# e.g. nfcpy's line test (Diagnose 00) sends and receives exactly 265.
MAX_EXTENDED_LEN = 265
MAX_NORMAL_LEN = 255

ACK_FRAME = b"\x00\x00\xff\x00\xff\x00"
NACK_FRAME = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"


@dataclass(frozen=True, slots=True)
class Frame:
    """An information frame whose length and data checksums held."""

    tfi: int
    data: bytes

    @property
    def command(self) -> int | None:
        """The command (or answer) code: first data byte, ``None`` for an empty frame."""
        return self.data[0] if self.data else None

    @property
    def params(self) -> bytes:
        """Everything after the command code."""
        return self.data[1:]


@dataclass(frozen=True, slots=True)
class Ack:
    """The receiver took the last frame."""


@dataclass(frozen=True, slots=True)
class Nack:
    """The receiver asks for the last frame again."""


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """The chip found a syntax error in the host's frame (application level)."""


Parsed = Frame | Ack | Nack | ErrorFrame


def build_frame(data: bytes, tfi: int = TFI_HOST) -> bytes:
    """Encode ``data`` (command code + parameters) as a normal or extended frame.

    Raises :class:`FrameError` when ``tfi`` is not a byte or the frame would
    exceed the 265 bytes (TFI + data) the chip accepts.
    """
    if not 0 <= tfi <= 0xFF:
        raise FrameError(f"TFI must be one byte, got {tfi!r}")
    body = bytes([tfi]) + bytes(data)
    length = len(body)
    if length > MAX_EXTENDED_LEN:
        raise FrameError(
            f"frame too long: {length} bytes (TFI + data), "
            f"the PN532 takes at most {MAX_EXTENDED_LEN}"
        )
    dcs = (-sum(body)) & 0xFF
    if length <= MAX_NORMAL_LEN - 1:  # LEN 0xFF is the extended-frame marker
        header = bytes([0x00, 0x00, 0xFF, length, (-length) & 0xFF])
    else:
        lenm, lenl = length >> 8, length & 0xFF
        header = bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF, lenm, lenl, (-(lenm + lenl)) & 0xFF])
    return header + body + bytes([dcs, 0x00])


class FrameParser:
    """Incremental PN532 frame parser for a byte stream in arbitrary chunks.

    ``feed`` returns every complete, checksum-valid frame so far. It never
    raises: a bad frame is counted in :attr:`errors` (by reason) and parsing
    resumes at the next start code, so one flipped bit costs one frame only.
    The result depends only on the bytes, never on how they were chunked.
    """

    def __init__(self, accept_tfi: tuple[int, ...] = (TFI_HOST, TFI_CHIP)) -> None:
        self._buf = bytearray()
        self._accept_tfi = accept_tfi
        self.errors: Counter[str] = Counter()

    @property
    def error_count(self) -> int:
        """Total of bad frames and junk bytes seen since the parser was made."""
        return sum(self.errors.values())

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def has_partial_frame(self) -> bool:
        """True when a start code is buffered but its frame is not complete yet."""
        return START_CODE in self._buf

    def reset(self) -> None:
        """Drop any partial frame (after a timeout, or before a new command)."""
        self._buf.clear()

    def feed(self, chunk: bytes) -> list[Parsed]:
        """Add bytes from the wire; return the frames they complete, in order."""
        self._buf += chunk
        out: list[Parsed] = []
        while True:
            item = self._next()
            if item is None:
                return out
            if item is not _SKIPPED:
                out.append(item)  # type: ignore[arg-type]

    # A frame that was skipped (bad); the loop keeps going.
    def _skip(self, reason: str, n: int) -> object:
        self.errors[reason] += 1
        del self._buf[:n]
        return _SKIPPED

    def _next(self) -> Parsed | object | None:
        buf = self._buf
        start = buf.find(START_CODE)
        if start < 0:
            # Keep a trailing 0x00: it may be the first half of a start code.
            keep = 1 if buf and buf[-1] == 0x00 else 0
            self._count_junk(buf[: len(buf) - keep])
            del buf[: len(buf) - keep]
            return None
        if start:
            self._count_junk(buf[:start])
            del buf[:start]
        # buf now begins with 00 FF
        if len(buf) < 4:
            return None
        length, lcs = buf[2], buf[3]
        if length == 0x00 and lcs == 0xFF:
            del buf[:4]
            return Ack()
        if length == 0xFF and lcs == 0x00:
            del buf[:4]
            return Nack()
        if length == 0xFF and lcs == 0xFF:
            if len(buf) < 7:
                return None
            lenm, lenl, elcs = buf[4], buf[5], buf[6]
            if (lenm + lenl + elcs) & 0xFF:
                return self._skip("bad_lcs", 2)
            length = (lenm << 8) | lenl
            header = 7
            if length > MAX_EXTENDED_LEN:
                return self._skip("oversized", 2)
        else:
            if (length + lcs) & 0xFF:
                return self._skip("bad_lcs", 2)
            header = 4
        if length == 0:
            return self._skip("bad_length", 2)
        end = header + length  # index of DCS
        if len(buf) < end + 1:
            return None
        body = bytes(buf[header:end])
        if (sum(body) + buf[end]) & 0xFF:
            return self._skip("bad_dcs", 2)
        tfi = body[0]
        if tfi == TFI_ERROR and length == 1:
            del buf[: end + 1]
            return ErrorFrame()
        if tfi not in self._accept_tfi:
            return self._skip("bad_tfi", 2)
        # The postamble 00 stays in the buffer and is skipped as inter-frame
        # filler: waiting for it would only add latency.
        del buf[: end + 1]
        return Frame(tfi, body[1:])

    def _count_junk(self, junk: bytes | bytearray) -> None:
        """Count bytes that are neither preamble/postamble zeros nor wake-up 0x55."""
        noise = sum(1 for b in junk if b not in (0x00, 0x55))
        if noise:
            self.errors["junk_bytes"] += noise


_SKIPPED = object()

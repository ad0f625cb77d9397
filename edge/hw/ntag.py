"""NTAG213 / MIFARE Ultralight (NFC Forum Type 2) memory through a PN532.

The tag has 4-byte pages: READ ``30 PAGE`` returns 16 bytes (four pages),
WRITE ``A2 PAGE b0 b1 b2 b3`` writes one page. User memory of an NTAG213 is
pages 4–39 (144 bytes). Only user pages may be written here: a stray write to
the lock or configuration pages can make a card permanently read-only.

Writes are page by page, so a card lifted mid-write keeps a half-written
ticket. :meth:`Ntag.write_user_memory` reports that as :class:`DeviceError`;
the ticket format (``edge.ticket``) detects the torn data on the next read.
"""

from __future__ import annotations

import logging

from edge.errors import DeviceError, GatepostError
from edge.hw.pn532 import PN532

log = logging.getLogger(__name__)

PAGE_SIZE = 4
TOTAL_PAGES = 45  # NTAG213
USER_START = 4
USER_END = 39  # inclusive
USER_PAGES = USER_END - USER_START + 1
USER_BYTES = USER_PAGES * PAGE_SIZE  # 144
CMD_READ = 0x30
CMD_WRITE = 0xA2


class TagCapacityError(GatepostError, ValueError):
    """The data or page range does not fit the tag's user memory."""


class Ntag:
    """Read and write the user memory of the Type 2 tag the PN532 has listed (target 1)."""

    def __init__(self, pn532: PN532) -> None:
        self.pn532 = pn532

    def read_pages(self, start: int, count: int) -> bytes:
        """``count`` pages from ``start`` (``4 * count`` bytes), using 16-byte READs."""
        if count < 1 or start < 0 or start + count > TOTAL_PAGES:
            raise TagCapacityError(
                f"pages {start}..{start + count - 1} are outside the tag (0..{TOTAL_PAGES - 1})"
            )
        out = bytearray()
        page = start
        while page < start + count:
            block = self.pn532.data_exchange(bytes([CMD_READ, page]))
            if len(block) != 16:
                raise DeviceError(f"READ of page {page} returned {len(block)} bytes, expected 16")
            out += block
            page += 4
        return bytes(out[: count * PAGE_SIZE])

    def write_page(self, page: int, data4: bytes) -> None:
        """WRITE one user page. A failure (card lifted) raises :class:`DeviceError`."""
        if not USER_START <= page <= USER_END:
            raise TagCapacityError(f"page {page} is not a user page ({USER_START}..{USER_END})")
        if len(data4) != PAGE_SIZE:
            raise TagCapacityError(f"a page holds {PAGE_SIZE} bytes, got {len(data4)}")
        try:
            self.pn532.data_exchange(bytes([CMD_WRITE, page]) + bytes(data4))
        except DeviceError as exc:
            raise DeviceError(f"write of page {page} failed (card lifted?): {exc}") from exc

    def read_user_memory(self) -> bytes:
        """All 144 bytes of user memory (pages 4–39)."""
        return self.read_pages(USER_START, USER_PAGES)

    def write_user_memory(self, data: bytes) -> None:
        """Write ``data`` from page 4 on (zero-padded to whole pages), then read back and verify.

        Raises :class:`TagCapacityError` if ``data`` exceeds 144 bytes and
        :class:`DeviceError` if a page write fails or the read-back differs.
        """
        data = bytes(data)
        if len(data) > USER_BYTES:
            raise TagCapacityError(
                f"{len(data)} bytes do not fit in {USER_BYTES} bytes of user memory"
            )
        if not data:
            return
        padded = data.ljust(-(-len(data) // PAGE_SIZE) * PAGE_SIZE, b"\x00")
        pages = len(padded) // PAGE_SIZE
        for i in range(pages):
            self.write_page(USER_START + i, padded[i * PAGE_SIZE : (i + 1) * PAGE_SIZE])
        back = self.read_pages(USER_START, pages)
        if back != padded:
            first = next(i for i in range(len(padded)) if back[i] != padded[i])
            log.warning(
                "NTAG verify failed at byte %d (page %d)", first, USER_START + first // PAGE_SIZE
            )
            raise DeviceError(
                f"verify after write failed at page {USER_START + first // PAGE_SIZE}"
            )

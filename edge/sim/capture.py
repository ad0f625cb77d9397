"""Read back what the lane sent to its pole display and printer, at the byte level.

The demo shows these on screen; tests use them to check the bytes a real
device would receive mean what the lane intended — not just that some text
went somewhere.
"""

from __future__ import annotations

import codecs

from edge.hw.textfit import char_width


class VfdScreen:
    """A model 2×20 customer display interpreting ESC @, FF and ``US $ x y`` plus GB18030 text."""

    def __init__(self, cols: int = 20, rows: int = 2, encoding: str = "gb18030") -> None:
        self.cols = cols
        self.row_count = rows
        self.encoding = encoding
        self.unknown = 0
        self._reset()

    def _reset(self) -> None:
        self._cells: list[list[str]] = [[" "] * self.cols for _ in range(self.row_count)]
        self._x = 0
        self._y = 0

    def feed(self, data: bytes) -> None:
        """Interpret ``data`` as the display would."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        i = 0
        while i < len(data):
            b = data[i]
            if data[i : i + 2] == b"\x1b\x40":
                self._reset()
                i += 2
            elif b == 0x0C:
                self._reset()
                i += 1
            elif data[i : i + 2] == b"\x1f\x24" and i + 3 < len(data):
                self._x = min(max(data[i + 2] - 1, 0), self.cols - 1)
                self._y = min(max(data[i + 3] - 1, 0), self.row_count - 1)
                i += 4
            elif b < 0x20:
                self.unknown += 1
                i += 1
            else:
                j = i
                while j < len(data) and data[j] >= 0x20:
                    j += 1
                for ch in decoder.decode(data[i:j], final=True):
                    self._put(ch)
                i = j

    def _put(self, ch: str) -> None:
        width = char_width(ch)
        if self._x + width > self.cols:
            return  # a real VFD drops (or wraps) overflow; the driver never sends any
        self._cells[self._y][self._x] = ch
        if width == 2:
            self._cells[self._y][self._x + 1] = ""
        self._x += width

    @property
    def rows(self) -> list[str]:
        """The visible text, one string per row, trailing blanks removed."""
        return ["".join(row).rstrip() for row in self._cells]


def screen_of(data: bytes, cols: int = 20, rows: int = 2) -> list[str]:
    """What a display shows after receiving ``data``."""
    screen = VfdScreen(cols, rows)
    screen.feed(data)
    return screen.rows


def escpos_qr_payloads(data: bytes) -> list[str]:
    """The contents of every native QR code (``GS ( k`` function 180, store data) in printer bytes."""
    out: list[str] = []
    start = 0
    marker = b"\x1d(k"
    while (i := data.find(marker, start)) != -1:
        size = data[i + 3] | data[i + 4] << 8
        params = data[i + 5 : i + 5 + size]
        if params[:3] == b"1P0":
            out.append(params[3:].decode("latin-1"))
        start = i + 5 + size
    return out


def escpos_text(data: bytes, encoding: str = "gb18030") -> str:
    """The printable text in ESC/POS bytes (commands and QR payloads removed), GB18030-decoded."""
    keep = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if data[i : i + 3] == b"\x1d(k":
            i += 5 + (data[i + 3] | data[i + 4] << 8)
        elif b == 0x1B:  # ESC x [n]: the printer module sends no ESC with more
            i += 2 if data[i + 1 : i + 2] == b"@" else 3
        elif b == 0x1D:  # GS x n (cut sends GS V m [n], handled by skipping its bytes)
            if data[i + 1 : i + 2] == b"V":
                i += 4 if data[i + 2 : i + 3] in (b"A", b"B", b"\x41", b"\x42") else 3
            else:
                i += 3
        elif b == 0x1C:  # FS & / FS . (Chinese mode on/off)
            i += 2
        elif b == 0x0A:
            keep += b"\n"
            i += 1
        elif b < 0x20:
            i += 1
        else:
            keep.append(b)
            i += 1
    return keep.decode(encoding, errors="replace")

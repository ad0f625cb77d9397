"""Fitting person-facing text onto fixed-width devices (pole displays, receipt lines).

Chinese characters take two columns on a VFD or a thermal printer, Latin ones
take one; control characters in text that came from outside (a visitor's
name, a plate) must never reach a device as commands.
"""

from __future__ import annotations

import unicodedata


def char_width(ch: str) -> int:
    """Columns ``ch`` occupies on a Chinese-capable display: 2 for wide/full-width, else 1."""
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Columns ``text`` occupies."""
    return sum(char_width(ch) for ch in text)


def clean(text: str) -> str:
    """``text`` with control and format characters replaced by spaces (no device commands)."""
    return "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into rows of at most ``width`` columns.

    English breaks at spaces where it can; Chinese (no spaces) breaks between
    any two characters, as it is normally written.
    """
    rows: list[str] = []
    row = ""
    for word in _tokens(clean(text)):
        if word == " ":
            if row and text_width(row) < width:
                row += " "
            continue
        if text_width(row) + text_width(word) <= width:
            row += word
            continue
        if row.strip():
            rows.append(row.rstrip())
        row = ""
        for ch in word:
            if text_width(row) + char_width(ch) > width:
                rows.append(row)
                row = ""
            row += ch
    if row.strip() or not rows:
        rows.append(row.rstrip())
    return rows


def _tokens(text: str) -> list[str]:
    """Words, single spaces, and each wide character on its own (a legal break point)."""
    out: list[str] = []
    word = ""
    for ch in text:
        if ch == " " or char_width(ch) == 2:
            if word:
                out.append(word)
                word = ""
            out.append(ch)
        else:
            word += ch
    if word:
        out.append(word)
    return out

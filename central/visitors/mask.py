"""Masking for every screen and export: phones and ID numbers never leave central in full."""

from __future__ import annotations

import unicodedata


def mask_phone(phone: str | None) -> str | None:
    """``138****5678``; short numbers keep only their last two digits."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 1) + digits[-2:]


def mask_id(number: str | None) -> str | None:
    """Access-pass and ID numbers: only the last four characters show."""
    if not number:
        return None
    return "*" * max(len(number) - 4, 2) + number[-4:]


def mask_name(name: str | None) -> str | None:
    """The first character and stars: for records outside the visitor log (event feed, alarms)."""
    if not name:
        return None
    return name[0] + "*" * max(len(name) - 1, 1)


def search_key(text: str | None) -> str | None:
    """What search matches on: NFKC, case-folded, spacing collapsed (as the kiosk's block list)."""
    if not text:
        return None
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())[:100]


def phone_key(phone: str | None) -> str:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-11:] if len(digits) > 11 else digits

"""The parking ticket itself: what a timed card or a QR ticket says about one stay.

A :class:`Ticket` is pure data; :mod:`edge.ticket.codec` turns it into the signed
bytes written onto an NTAG213 card or printed as a QR code. Entry times carry
millisecond precision (the card stores milliseconds since the Unix epoch), are
always timezone-aware and are normalised to UTC.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from edge.errors import GatepostError

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32: no I, L, O, U, so a guard reading a receipt cannot confuse 0/O or 1/I.
The characters are in ASCII order, so serials sort by issue time."""

SERIAL_MAX = 20
FIELD_RE = re.compile(r"^[\x21-\x7e]+$")
"""Serial, lane and vehicle class are printable ASCII without spaces (they go on a tiny card)."""

FIELD_LIMITS = {"serial": SERIAL_MAX, "entry_lane": 48, "vehicle_class": 32, "site": 48}


class TicketFormatError(GatepostError, ValueError):
    """A ticket cannot be built or encoded (naive time, field too long, bad characters).

    Raised on the issuing side; a ticket *read* from a card fails with
    :class:`edge.errors.TicketRejected` instead.
    """


def _to_ms_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise TicketFormatError(f"{what} must be a timezone-aware datetime, got {value!r}")
    utc = value.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


@dataclass(frozen=True, slots=True)
class Ticket:
    """One vehicle's stay as written at entry: who issued it, where, when and for what class.

    ``entry_at`` is normalised to UTC and truncated to whole milliseconds on
    construction, so a ticket equals itself after a round trip through a card.
    ``key_id`` names the site key that signed (or will sign) it.
    """

    serial: str
    site: str
    entry_at: datetime
    entry_lane: str
    vehicle_class: str
    key_id: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "entry_at", _to_ms_utc(self.entry_at, "entry_at"))
        for name, limit in FIELD_LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, str) or not FIELD_RE.match(value) or len(value) > limit:
                raise TicketFormatError(
                    f"{name} must be 1–{limit} printable ASCII characters without spaces, got {value!r}"
                )
        if not isinstance(self.key_id, int) or not 0 <= self.key_id <= 0xFFFF:
            raise TicketFormatError(f"key_id must be an integer 0–65535, got {self.key_id!r}")


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_serial(lane: str, now: datetime) -> str:
    """A fresh ticket serial such as ``01JD5Q8ZK-7MX4Q9RT`` (18 characters).

    Nine Crockford base32 digits of the issue time in milliseconds (so serials
    sort by time until the year 3084), then two digits derived from the lane
    (tickets from different lanes in the same millisecond still differ) and
    six random digits (30 bits) for uniqueness. Short enough for a receipt and
    a 32-character event field; unambiguous when read aloud over the intercom.
    """
    at = _to_ms_utc(now, "now")
    if not lane:
        raise TicketFormatError("lane must not be empty")
    ms = int((at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    if ms < 0:
        raise TicketFormatError(f"now is before 1970: {now!r}")
    lane_digits = int.from_bytes(hashlib.sha256(lane.encode()).digest()[:2], "big") & 0x3FF
    return f"{_b32(ms, 9)}-{_b32(lane_digits, 2)}{_b32(secrets.randbits(30), 6)}"

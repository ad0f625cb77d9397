"""Signed ticket bytes for an NTAG213 card, and the same record as QR text.

Card record (NTAG213 user memory, pages 4–39 = 144 bytes, written 4 bytes a page)::

    off  size  field
    0    2     magic "GP"
    2    1     format version (1)
    3    1     record length N in bytes (multiple of 4, ≤ 144)
    4    4     CRC-32 (big-endian) of bytes 8..N
    8    2     key id (uint16 BE)
    10   6     entry time, ms since the Unix epoch, UTC (uint48 BE)
    16   4     site fingerprint: first 4 bytes of SHA-256(site id)
    20   1+n   serial   (length-prefixed ASCII)
    ..   1+n   entry lane
    ..   1+n   vehicle class
    ..   0–3   zero padding to a page boundary
    N-12 12    tag: HMAC-SHA256(site key, "GPT1" site "\\0" bytes 0..4 ‖ bytes 8..N-12), first 96 bits

Why a CRC *and* a MAC: the CRC is not secret; it tells a card lifted mid-write
(``half_written``: write again) from a card someone tampered with (CRC fine,
tag wrong: ``forged``, raise the alarm). :func:`card_pages` orders the page
writes body first and the header page last, so a torn write never leaves a
fresh header over a stale body. The site is stored as a fingerprint (the
verifier knows its own site id) and is part of the MAC input, so a ticket from
the site across the road is ``wrong_site``, not a puzzling ``forged``.

QR text is ``GP1.`` + RFC 4648 base32 (no padding) of the same record: all
characters are in the QR alphanumeric set, so the code stays small.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import struct
import zlib
from datetime import UTC, datetime, timedelta

from edge.errors import TicketRejected
from edge.ticket.keys import TAG_BYTES, KeyRing
from edge.ticket.ticket import Ticket, TicketFormatError
from edge.wire import RejectReason

log = logging.getLogger(__name__)

MAGIC = b"GP"
VERSION = 1
CARD_FIRST_PAGE = 4
CARD_USER_BYTES = 144
PAGE = 4
HEADER = 8
MIN_RECORD = HEADER + 2 + 6 + 4 + 3 * 2 + TAG_BYTES
QR_PREFIX = "GP1."
QR_MAX_CHARS = 400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def site_fingerprint(site: str) -> bytes:
    """Four bytes that identify a site id on a card without spending 48 bytes on it."""
    return hashlib.sha256(site.encode("utf-8")).digest()[:4]


def _mac_input(site: str, record: bytes) -> bytes:
    return b"GPT1" + site.encode("utf-8") + b"\0" + record[:4] + record[HEADER:-TAG_BYTES]


def encode_card(ticket: Ticket, keys: KeyRing) -> bytes:
    """The signed card record for ``ticket``: ≤ 144 bytes, a whole number of 4-byte pages.

    The ticket's ``key_id`` must be in ``keys`` (normally ``keys.signing_key_id``;
    build the ticket with it). Raises :class:`TicketFormatError` if it is not or
    the fields do not fit.
    """
    if ticket.key_id not in keys:
        raise TicketFormatError(f"ticket key id {ticket.key_id} is not in the key ring {keys!r}")
    ms = int((ticket.entry_at - _EPOCH) / timedelta(milliseconds=1))
    if not 0 <= ms < 1 << 48:
        raise TicketFormatError(f"entry_at out of range for the card format: {ticket.entry_at}")
    body = bytearray(struct.pack(">H", ticket.key_id) + ms.to_bytes(6, "big"))
    body += site_fingerprint(ticket.site)
    for text in (ticket.serial, ticket.entry_lane, ticket.vehicle_class):
        raw = text.encode("ascii")
        body += bytes([len(raw)]) + raw
    body += bytes(-(HEADER + len(body) + TAG_BYTES) % PAGE)
    length = HEADER + len(body) + TAG_BYTES
    if length > CARD_USER_BYTES:
        raise TicketFormatError(f"ticket needs {length} bytes, a card holds {CARD_USER_BYTES}")
    head = MAGIC + bytes([VERSION, length])
    unsigned = head + bytes(4) + bytes(body) + bytes(TAG_BYTES)
    tag = keys.sign_with(ticket.key_id, _mac_input(ticket.site, unsigned))
    covered = bytes(body) + tag
    return head + struct.pack(">I", zlib.crc32(covered)) + covered


def card_pages(record: bytes, first_page: int = CARD_FIRST_PAGE) -> list[tuple[int, bytes]]:
    """``(page, 4 bytes)`` writes for ``record`` in the safe order: body pages, then the header page.

    A card lifted after any prefix of these writes reads back as ``half_written``
    (or as the untouched old ticket), never as a valid new one.
    """
    if len(record) % PAGE:
        raise TicketFormatError(f"record length {len(record)} is not a multiple of {PAGE}")
    pages = [(first_page + i // PAGE, record[i : i + PAGE]) for i in range(0, len(record), PAGE)]
    return pages[1:] + pages[:1]


def _blank(data: bytes) -> bool:
    return all(b == 0 for b in data) or all(b == 0xFF for b in data)


def _reject(reason: RejectReason, detail: str, serial: str | None = None) -> TicketRejected:
    log.warning(
        "ticket rejected: %s (%s)",
        reason.value,
        detail,
        extra={"reason": reason.value, "serial": serial},
    )
    return TicketRejected(reason.value, detail, serial)


def decode_card(data: bytes, keys: KeyRing, site: str) -> Ticket:
    """Verify and read a card's user memory (all 144 bytes, or at least the record).

    Raises :class:`edge.errors.TicketRejected` with ``reason`` one of
    ``malformed`` (blank card, not a ticket, bad structure), ``half_written``
    (torn write or damaged bytes: the CRC or length does not match),
    ``wrong_site``, ``unknown_key`` (a key id this lane does not hold: retired
    or not yet distributed) or ``forged`` (signature wrong). Whether the ticket
    was already used, or comes from the future, is for the lane to decide.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _reject(RejectReason.MALFORMED, f"card data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data or _blank(data):
        raise _reject(RejectReason.MALFORMED, "blank card: no ticket written")
    if len(data) < HEADER:
        raise _reject(RejectReason.HALF_WRITTEN, f"only {len(data)} bytes read, header incomplete")
    if data[:2] != MAGIC:
        if _blank(data[:PAGE]):
            raise _reject(
                RejectReason.HALF_WRITTEN, "header page not written (card lifted during write?)"
            )
        raise _reject(RejectReason.MALFORMED, "not a Gatepost ticket (bad magic)")
    if data[2] != VERSION:
        raise _reject(RejectReason.MALFORMED, f"unsupported ticket format version {data[2]}")
    length = data[3]
    if length % PAGE or not MIN_RECORD <= length <= CARD_USER_BYTES:
        raise _reject(RejectReason.MALFORMED, f"impossible record length {length}")
    if len(data) < length:
        raise _reject(RejectReason.HALF_WRITTEN, f"record truncated: {len(data)} of {length} bytes")
    record = data[:length]
    (crc,) = struct.unpack(">I", record[4:8])
    if zlib.crc32(record[HEADER:]) != crc:
        raise _reject(
            RejectReason.HALF_WRITTEN, "checksum mismatch (card lifted during write, or damaged)"
        )
    fields = _parse(record)
    key_id, ms, fingerprint, serial, lane, vclass = fields
    if fingerprint != site_fingerprint(site):
        raise _reject(
            RejectReason.WRONG_SITE, f"ticket {serial} was issued by another site", serial[:32]
        )
    if key_id not in keys:
        raise _reject(
            RejectReason.UNKNOWN_KEY,
            f"ticket {serial} signed with unknown key id {key_id}",
            serial[:32],
        )
    if not keys.verify(key_id, _mac_input(site, record), record[-TAG_BYTES:]):
        raise _reject(
            RejectReason.FORGED, f"ticket {serial}: signature does not match", serial[:32]
        )
    try:
        return Ticket(
            serial=serial,
            site=site,
            entry_at=_EPOCH + timedelta(milliseconds=ms),
            entry_lane=lane,
            vehicle_class=vclass,
            key_id=key_id,
        )
    except (
        TicketFormatError,
        OverflowError,
    ) as exc:  # signed but nonsensical: a key leaked or a bug
        raise _reject(RejectReason.MALFORMED, f"signed ticket has invalid fields: {exc}") from exc


def _parse(record: bytes) -> tuple[int, int, bytes, str, str, str]:
    """Split a CRC-checked record into its fields; structural problems are ``malformed``."""
    key_id = int.from_bytes(record[8:10], "big")
    ms = int.from_bytes(record[10:16], "big")
    fingerprint = record[16:20]
    pos = 20
    end = len(record) - TAG_BYTES
    texts: list[str] = []
    for name in ("serial", "entry lane", "vehicle class"):
        if pos >= end:
            raise _reject(RejectReason.MALFORMED, f"record ends before the {name}")
        size = record[pos]
        raw = record[pos + 1 : pos + 1 + size]
        if size == 0 or pos + 1 + size > end:
            raise _reject(RejectReason.MALFORMED, f"bad {name} length {size}")
        try:
            texts.append(raw.decode("ascii"))
        except UnicodeDecodeError:
            raise _reject(RejectReason.MALFORMED, f"{name} is not ASCII") from None
        pos += 1 + size
    padding = record[pos:end]
    if len(padding) >= PAGE or any(padding):
        raise _reject(RejectReason.MALFORMED, "unexpected bytes after the vehicle class")
    return key_id, ms, fingerprint, texts[0], texts[1], texts[2]


def encode_qr(ticket: Ticket, keys: KeyRing) -> str:
    """The ticket as QR text: ``GP1.`` + base32 of the card record (QR alphanumeric mode)."""
    record = encode_card(ticket, keys)
    return QR_PREFIX + base64.b32encode(record).decode("ascii").rstrip("=")


def decode_qr(text: str, keys: KeyRing, site: str) -> Ticket:
    """Verify QR text from :func:`encode_qr`; same rejections as :func:`decode_card`.

    A damaged QR payload is ``malformed`` (there is no write to tear on paper).
    """
    if not isinstance(text, str):
        raise _reject(RejectReason.MALFORMED, "QR payload is not text")
    text = text.strip()
    if len(text) > QR_MAX_CHARS:
        raise _reject(RejectReason.MALFORMED, f"QR payload too long ({len(text)} characters)")
    if not text.upper().startswith(QR_PREFIX):
        raise _reject(RejectReason.MALFORMED, "not a Gatepost ticket QR code")
    body = text[len(QR_PREFIX) :].upper()
    try:
        record = base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raise _reject(RejectReason.MALFORMED, "QR payload is not valid base32") from None
    if base64.b32encode(record).decode("ascii").rstrip("=") != body:
        # Unused trailing bits set: not something encode_qr produces, so not ours.
        raise _reject(RejectReason.MALFORMED, "QR payload is not canonical base32")
    try:
        return decode_card(record, keys, site)
    except TicketRejected as exc:
        if exc.reason == RejectReason.HALF_WRITTEN:
            raise TicketRejected(
                RejectReason.MALFORMED.value, f"damaged QR payload: {exc.detail}", exc.serial
            ) from exc
        raise

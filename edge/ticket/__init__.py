"""Signed parking tickets: the data, the site keys, and the card/QR encodings."""

from edge.ticket.codec import (
    CARD_FIRST_PAGE,
    CARD_USER_BYTES,
    card_pages,
    decode_card,
    decode_qr,
    encode_card,
    encode_qr,
)
from edge.ticket.keys import KeyRing
from edge.ticket.ticket import Ticket, TicketFormatError, new_serial

__all__ = [
    "CARD_FIRST_PAGE",
    "CARD_USER_BYTES",
    "KeyRing",
    "Ticket",
    "TicketFormatError",
    "card_pages",
    "decode_card",
    "decode_qr",
    "encode_card",
    "encode_qr",
    "new_serial",
]

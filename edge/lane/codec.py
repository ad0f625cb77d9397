"""The site's ticket format with its keys bound: what the lane service signs and checks.

:mod:`edge.ticket` takes the key ring and site on every call; the lane holds
one :class:`SiteTickets` so its code reads ``codec.decode_card(data)`` and the
keys never travel further than this object.
"""

from __future__ import annotations

from datetime import datetime

from edge.ticket import KeyRing, Ticket, decode_card, decode_qr, encode_card, encode_qr


class SiteTickets:
    """Tickets of one site, issued by one lane, signed with the ring's signing key."""

    def __init__(self, keys: KeyRing, site: str, lane: str) -> None:
        self.keys = keys
        self.site = site
        self.lane = lane

    @property
    def key_id(self) -> int:
        return self.keys.signing_key_id

    def make(self, serial: str, entry_at: datetime, vehicle_class: str) -> Ticket:
        return Ticket(
            serial, self.site, entry_at, self.lane, vehicle_class, self.keys.signing_key_id
        )

    def encode_card(self, ticket: Ticket) -> bytes:
        return encode_card(ticket, self.keys)

    def decode_card(self, data: bytes) -> Ticket:
        return decode_card(data, self.keys, self.site)

    def encode_qr(self, ticket: Ticket) -> str:
        return encode_qr(ticket, self.keys)

    def decode_qr(self, text: str) -> Ticket:
        return decode_qr(text, self.keys, self.site)

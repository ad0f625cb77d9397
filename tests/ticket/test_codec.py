"""Card and QR ticket encoding: round trips, and every way a bad card must be refused."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import TicketRejected
from edge.ticket import (
    CARD_USER_BYTES,
    KeyRing,
    Ticket,
    TicketFormatError,
    card_pages,
    decode_card,
    decode_qr,
    encode_card,
    encode_qr,
)
from edge.ticket.codec import HEADER, TAG_BYTES

SITE = "harbour-view"
KEYS = KeyRing({1: bytes(range(32)), 2: bytes(range(100, 132))})
AT = datetime(2026, 11, 27, 8, 15, 30, 123000, tzinfo=UTC)

ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant Python can hold
tickets = st.builds(
    Ticket,
    serial=st.text(ASCII, min_size=1, max_size=20),
    site=st.just(SITE),
    entry_at=st.integers(0, MAX_MS).map(
        lambda ms: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    ),
    entry_lane=st.text(ASCII, min_size=1, max_size=48),
    vehicle_class=st.text(ASCII, min_size=1, max_size=32),
    key_id=st.sampled_from([1, 2]),
)


def make(**over: object) -> Ticket:
    fields: dict[object, object] = {
        "serial": "1M8D6KZ9D-HDER07RC",
        "site": SITE,
        "entry_at": AT,
        "entry_lane": "entry-1",
        "vehicle_class": "car",
        "key_id": 2,
    }
    fields.update(over)
    return Ticket(**fields)  # type: ignore[arg-type]


def reason(data: bytes, keys: KeyRing = KEYS, site: str = SITE) -> str:
    with pytest.raises(TicketRejected) as info:
        decode_card(data, keys, site)
    assert info.value.detail, "every rejection carries a human-readable detail"
    return info.value.reason


@given(tickets)
def test_round_trip_card_and_qr(ticket: Ticket) -> None:
    record = encode_card(ticket, KEYS)
    assert len(record) <= CARD_USER_BYTES and len(record) % 4 == 0
    # The reader returns all 144 bytes of user memory, whatever follows the record.
    assert decode_card(record + b"\xaa" * (CARD_USER_BYTES - len(record)), KEYS, SITE) == ticket
    text = encode_qr(ticket, KEYS)
    assert text.isascii() and text.startswith("GP1.")
    assert decode_qr(text, KEYS, SITE) == ticket


def test_longest_fields_fit_one_ntag213() -> None:
    ticket = make(serial="S" * 20, entry_lane="l" * 48, vehicle_class="c" * 32)
    assert len(encode_card(ticket, KEYS)) <= CARD_USER_BYTES


@settings(max_examples=40)
@given(tickets, st.data())
def test_any_flipped_bit_is_refused(ticket: Ticket, data: st.DataObject) -> None:
    record = bytearray(encode_card(ticket, KEYS))
    bit = data.draw(st.integers(0, len(record) * 8 - 1))
    record[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(TicketRejected):
        decode_card(bytes(record), KEYS, SITE)


@settings(max_examples=40)
@given(tickets, st.data())
def test_any_replaced_byte_is_refused(ticket: Ticket, data: st.DataObject) -> None:
    record = bytearray(encode_card(ticket, KEYS))
    index = data.draw(st.integers(0, len(record) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != record[index]))
    record[index] = value
    with pytest.raises(TicketRejected):
        decode_card(bytes(record), KEYS, SITE)


@settings(max_examples=30)
@given(tickets)
def test_truncation_at_every_page_boundary_is_never_valid(ticket: Ticket) -> None:
    record = encode_card(ticket, KEYS)
    for cut in range(0, len(record), 4):
        assert reason(record[:cut]) in {"half_written", "malformed"}


@settings(max_examples=60)
@given(old=tickets, new=tickets, stop=st.integers(0, 36), header_last=st.booleans())
def test_torn_write_over_an_old_ticket_is_half_written_or_a_whole_ticket(
    old: Ticket, new: Ticket, stop: int, header_last: bool
) -> None:
    """Write ``new`` over ``old`` page by page and lift the card after ``stop`` pages.

    Both write orders are safe: card_pages (header last) and plain page order
    (what a simple writer does); the CRC catches the mixture either way.
    """
    card = bytearray(encode_card(old, KEYS).ljust(CARD_USER_BYTES, b"\0"))
    record = encode_card(new, KEYS)
    writes = card_pages(record) if header_last else sorted(card_pages(record))
    for page, chunk in writes[:stop]:
        offset = (page - 4) * 4
        card[offset : offset + 4] = chunk
    try:
        got = decode_card(bytes(card), KEYS, SITE)
    except TicketRejected as exc:
        assert exc.reason == "half_written"
    else:
        assert got in (old, new)  # never a mixture
        if stop >= len(writes):
            assert got == new


def test_torn_write_on_a_blank_card_is_half_written_not_blank() -> None:
    writes = card_pages(encode_card(make(), KEYS))
    card = bytearray(CARD_USER_BYTES)
    for page, chunk in writes[:3]:
        card[(page - 4) * 4 : (page - 4) * 4 + 4] = chunk
    assert reason(bytes(card)) == "half_written"


@pytest.mark.parametrize("fill", [0x00, 0xFF])
def test_blank_card_is_malformed_with_a_clear_detail(fill: int) -> None:
    with pytest.raises(TicketRejected) as info:
        decode_card(bytes([fill]) * CARD_USER_BYTES, KEYS, SITE)
    assert info.value.reason == "malformed"
    assert "blank" in info.value.detail


def test_random_bytes_are_malformed() -> None:
    assert reason(b"hello world, not a ticket at all".ljust(144, b"x")) == "malformed"
    assert reason(None) == "malformed"  # type: ignore[arg-type]


def _resealed(record: bytes, offset: int, value: bytes) -> bytes:
    """Alter a field and fix the CRC, as a forger who knows the format would."""
    out = bytearray(record)
    out[offset : offset + len(value)] = value
    out[4:8] = struct.pack(">I", zlib.crc32(bytes(out[HEADER:])))
    return bytes(out)


def test_altered_entry_time_with_fixed_crc_is_forged() -> None:
    record = encode_card(make(), KEYS)
    later_ms = int(record[10:16].hex(), 16) + 3_600_000
    assert reason(_resealed(record, 10, later_ms.to_bytes(6, "big"))) == "forged"


def test_ticket_signed_with_a_guessed_key_is_forged() -> None:
    thief = KeyRing({2: b"not the site key at all!"})
    assert reason(encode_card(make(), thief)) == "forged"


def test_wrong_site_is_refused_as_wrong_site() -> None:
    other = make(site="river-park")
    assert reason(encode_card(other, KEYS)) == "wrong_site"
    with pytest.raises(TicketRejected) as info:
        decode_card(encode_card(other, KEYS), KEYS, SITE)
    assert info.value.serial == other.serial  # named in the event, though not trusted
    assert reason(encode_card(make(), KEYS), site="river-park") == "wrong_site"


def test_unknown_key_id_is_refused_as_unknown_key() -> None:
    newer = KeyRing({9: b"k" * 32})
    assert reason(encode_card(make(key_id=9), newer)) == "unknown_key"


def test_rotation_old_key_still_verifies_newest_signs() -> None:
    old_ring = KeyRing({1: bytes(range(32))})
    issued_before_rotation = encode_card(make(key_id=1), old_ring)
    assert KEYS.signing_key_id == 2
    assert decode_card(issued_before_rotation, KEYS, SITE).key_id == 1
    retired = KeyRing({2: bytes(range(100, 132))})
    assert reason(issued_before_rotation, keys=retired) == "unknown_key"


def test_altered_key_id_with_fixed_crc_is_forged() -> None:
    record = encode_card(make(key_id=2), KEYS)
    assert reason(_resealed(record, 8, (1).to_bytes(2, "big"))) == "forged"


def test_tag_is_at_least_64_bits() -> None:
    assert TAG_BYTES * 8 >= 64


def test_encode_refuses_a_key_not_in_the_ring() -> None:
    with pytest.raises(TicketFormatError):
        encode_card(make(key_id=7), KEYS)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "GP1.",
        "GP1.!!!!",
        "GP2.AAAA",
        "GP1." + "A" * 500,
        "http://example.com/GP1.AAAA",
    ],
)
def test_bad_qr_text_is_malformed(text: str) -> None:
    with pytest.raises(TicketRejected) as info:
        decode_qr(text, KEYS, SITE)
    assert info.value.reason == "malformed"


def test_qr_with_one_character_changed_is_refused() -> None:
    text = encode_qr(make(), KEYS)
    for i in range(4, len(text)):
        swapped = text[:i] + ("B" if text[i] != "B" else "C") + text[i + 1 :]
        with pytest.raises(TicketRejected):
            decode_qr(swapped, KEYS, SITE)


def test_qr_wrong_site_and_forged_reasons_survive_the_qr_path() -> None:
    with pytest.raises(TicketRejected) as info:
        decode_qr(encode_qr(make(site="river-park"), KEYS), KEYS, SITE)
    assert info.value.reason == "wrong_site"
    with pytest.raises(TicketRejected) as info:
        decode_qr(encode_qr(make(), KeyRing({2: b"x" * 16})), KEYS, SITE)
    assert info.value.reason == "forged"


def test_card_pages_write_the_header_page_last() -> None:
    record = encode_card(make(), KEYS)
    writes = card_pages(record)
    assert writes[-1] == (4, record[:4])
    assert sorted(page for page, _ in writes) == list(range(4, 4 + len(record) // 4))
    assert b"".join(chunk for _, chunk in sorted(writes)) == record


def test_rejection_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
    reason(bytes(CARD_USER_BYTES))
    assert any("blank card" in r.getMessage() for r in caplog.records)

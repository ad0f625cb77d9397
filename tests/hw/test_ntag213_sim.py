"""The emulated NTAG213's own behaviour: version, password pages, one-time-programmable lock bits."""

from __future__ import annotations

import pytest

from edge.sim.ntag213 import (
    ACK,
    NAK_INVALID_ARGUMENT,
    VERSION,
    NtagMemory,
    PageWriteRefused,
    TagAnswer,
    crc_a,
)

UID = bytes.fromhex("04112233445566")
NAK = TagAnswer(bytes([NAK_INVALID_ARGUMENT]), short=True)


@pytest.fixture
def tag() -> NtagMemory:
    return NtagMemory(uid=UID)


def test_get_version_names_an_ntag213(tag: NtagMemory) -> None:
    assert bytes.fromhex("0004040201000f03") == VERSION
    assert tag.respond(b"\x60") == TagAnswer(VERSION)


def test_crc_a_matches_iso14443_examples() -> None:
    # ISO/IEC 14443-3 annex B: CRC_A of 00 00 is A0 1E, of 12 34 is 26 CF.
    assert crc_a(b"\x00\x00") == bytes.fromhex("a01e")
    assert crc_a(b"\x12\x34") == bytes.fromhex("26cf")


def test_password_pages_read_as_zeros_and_read_rolls_over(tag: NtagMemory) -> None:
    assert bytes(tag.pages[43]) == b"\xff\xff\xff\xff"  # the factory password is stored…
    assert tag.read(43) == bytes(8) + bytes(tag.pages[0]) + bytes(tag.pages[1])  # …never read
    assert tag.respond(b"\x3a\x2a\x2c") == TagAnswer(bytes(tag.pages[42]) + bytes(8))  # FAST_READ
    assert tag.respond(b"\x30\x2d") == NAK  # page 45 does not exist
    tag.write(43, b"\x12\x34\x56\x78")  # PWD can be written
    assert bytes(tag.pages[43]) == b"\x12\x34\x56\x78" and tag.read(40)[12:] == bytes(4)


def test_serial_number_pages_are_read_only(tag: NtagMemory) -> None:
    for page in (0, 1, 45):
        with pytest.raises(PageWriteRefused):
            tag.write(page, b"\x00\x00\x00\x00")
        assert tag.respond(bytes([0xA2, page]) + bytes(4)) == NAK


def test_static_lock_bits_are_or_ed_and_lock_their_pages(tag: NtagMemory) -> None:
    before = bytes(tag.pages[2][:2])
    assert tag.respond(b"\xa2\x02\xff\xff\x10\x00") == TagAnswer(bytes([ACK]), short=True)
    assert bytes(tag.pages[2]) == before + b"\x10\x00"  # BCC1 and internal byte untouched
    tag.write(2, b"\x00\x00\x00\x80")  # L-15; writing 0 bits clears nothing
    assert bytes(tag.pages[2][2:]) == b"\x10\x80"
    assert tag.is_locked(4) and tag.is_locked(15) and not tag.is_locked(5)
    assert tag.respond(b"\xa2\x04ABCD") == NAK
    assert tag.pages[4] == bytes(4)
    tag.write(5, b"OPEN")
    assert bytes(tag.pages[5]) == b"OPEN"


def test_block_lock_bits_freeze_the_lock_bits_they_cover(tag: NtagMemory) -> None:
    tag.write(2, b"\x00\x00\x02\x00")  # BL-9-4: lock bits L-4..L-9 frozen (unlocked)
    tag.write(2, b"\x00\x00\xf0\x04")  # tries L-4..L-7 and L-10
    assert bytes(tag.pages[2][2:]) == b"\x02\x04"  # only L-10 took
    assert not tag.is_locked(4) and tag.is_locked(10)


def test_dynamic_lock_bits_lock_two_pages_each(tag: NtagMemory) -> None:
    tag.write(40, b"\x01\x08\x00\xff")  # pages 16–17 and 38–39; byte 3 is RFUI
    assert bytes(tag.pages[40]) == b"\x01\x08\x00\xbd"
    assert tag.is_locked(16) and tag.is_locked(17) and tag.is_locked(39)
    assert not tag.is_locked(18)
    with pytest.raises(PageWriteRefused, match="locked"):
        tag.write(17, b"data")
    tag.write(40, b"\x00\x00\x02\x00")  # block-lock for pages 20–23
    tag.write(40, b"\x04\x00\x00\x00")  # lock bit for pages 20–21: frozen, stays clear
    assert not tag.is_locked(20)


def test_cfglck_locks_the_configuration_pages(tag: NtagMemory) -> None:
    tag.write(42, b"\x40\x05\x00\x00")
    with pytest.raises(PageWriteRefused):
        tag.write(41, b"\x04\x00\x00\x10")
    tag.write(44, b"\xab\xcd\x00\x00")  # PACK stays writable


def test_capability_container_is_one_time_programmable(tag: NtagMemory) -> None:
    tag.write(3, b"\x00\x00\x00\x0f")
    assert bytes(tag.pages[3]) == b"\xe1\x10\x12\x0f"


def test_unknown_commands_get_no_answer(tag: NtagMemory) -> None:
    assert tag.respond(b"\x1a\x00") is None  # AUTHENTICATE (Ultralight C): an NTAG is silent
    assert tag.respond(b"") is None
    assert tag.respond(b"\x30") is None  # READ without its page

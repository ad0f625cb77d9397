"""NTAG213 user memory through the real PN532 driver and the emulator, including torn writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.errors import DeviceError
from edge.hw.ntag import USER_BYTES, USER_END, USER_START, Ntag, TagCapacityError
from edge.hw.pn532 import PN532
from edge.sim.pn532_emulator import NtagMemory, PN532Emulator

UID = bytes.fromhex("04112233445566")


@pytest.fixture
def emulator() -> Iterator[PN532Emulator]:
    emu = PN532Emulator()
    yield emu
    emu.close()


@pytest.fixture
def tag() -> NtagMemory:
    return NtagMemory(uid=UID)


@pytest.fixture
def ntag(emulator: PN532Emulator, tag: NtagMemory) -> Iterator[Ntag]:
    pn = PN532(emulator.device_path, timeout=0.2)
    pn.begin()
    emulator.place_card(tag)
    assert pn.list_passive_target(0.2) == UID
    yield Ntag(pn)
    pn.close()


def test_constants_describe_ntag213() -> None:
    assert (USER_START, USER_END, USER_BYTES) == (4, 39, 144)


def test_emulated_tag_layout_is_an_ntag213(tag: NtagMemory) -> None:
    assert tag.pages[0][:3] == UID[:3] and tag.pages[0][3] == 0x88 ^ UID[0] ^ UID[1] ^ UID[2]
    assert bytes(tag.pages[1]) == UID[3:]
    assert bytes(tag.pages[3]) == bytes.fromhex("e1101200")
    assert tag.user_memory == bytes(144)


def test_read_pages_spans_several_reads(ntag: Ntag, tag: NtagMemory) -> None:
    tag.user_memory = bytes(range(144))
    assert ntag.read_pages(4, 6) == bytes(range(24))
    assert ntag.read_pages(0, 2) == bytes(tag.pages[0]) + bytes(tag.pages[1])


def test_write_and_read_user_memory(ntag: Ntag, tag: NtagMemory) -> None:
    data = bytes(range(1, 145))
    ntag.write_user_memory(data)
    assert tag.user_memory == data
    assert ntag.read_user_memory() == data


def test_short_data_is_padded_to_whole_pages_only(ntag: Ntag, tag: NtagMemory) -> None:
    tag.user_memory = b"\xff" * 144
    ntag.write_user_memory(b"abcde")
    assert tag.user_memory[:8] == b"abcde\x00\x00\x00"
    assert tag.user_memory[8:] == b"\xff" * 136  # untouched beyond the last written page


def test_write_page_checks_its_arguments(ntag: Ntag) -> None:
    with pytest.raises(TagCapacityError, match="not a user page"):
        ntag.write_page(3, b"\x00" * 4)  # the capability container stays intact
    with pytest.raises(TagCapacityError, match="not a user page"):
        ntag.write_page(40, b"\x00" * 4)
    with pytest.raises(TagCapacityError, match="4 bytes"):
        ntag.write_page(4, b"\x00" * 3)


def test_too_much_data_is_refused_before_any_write(
    ntag: Ntag, tag: NtagMemory, emulator: PN532Emulator
) -> None:
    with pytest.raises(TagCapacityError, match="145 bytes"):
        ntag.write_user_memory(bytes(145))
    assert emulator.page_writes == 0


def test_read_outside_the_tag_is_refused(ntag: Ntag) -> None:
    with pytest.raises(TagCapacityError):
        ntag.read_pages(44, 2)
    with pytest.raises(TagCapacityError):
        ntag.read_pages(4, 0)


def test_card_lifted_mid_write_leaves_a_torn_ticket(
    ntag: Ntag, tag: NtagMemory, emulator: PN532Emulator
) -> None:
    old = b"O" * 144
    new = b"N" * 144
    tag.user_memory = old
    emulator.tear_after_writes(5)
    with pytest.raises(DeviceError, match="write of page 9 failed"):
        ntag.write_user_memory(new)
    assert emulator.card is None

    # The driver put it back on the reader: the half-written memory is what is read.
    emulator.place_card(tag)
    assert ntag.pn532.list_passive_target(0.2) == UID
    torn = ntag.read_user_memory()
    assert torn == new[:20] + old[20:]


def test_tear_after_zero_writes_lifts_the_card_at_once(
    ntag: Ntag, tag: NtagMemory, emulator: PN532Emulator
) -> None:
    tag.user_memory = b"O" * 144
    emulator.tear_after_writes(0)
    with pytest.raises(DeviceError, match="write of page 4 failed"):
        ntag.write_user_memory(b"N" * 8)
    assert tag.user_memory == b"O" * 144


def test_verify_catches_a_tag_that_does_not_keep_what_was_written(
    ntag: Ntag, tag: NtagMemory, emulator: PN532Emulator
) -> None:
    # A weak tag: page 5 reads back differently from what was written.
    original_write = tag.write

    def flaky_write(page: int, data: bytes) -> None:
        original_write(page, b"\xee\xee\xee\xee" if page == 5 else data)

    tag.write = flaky_write  # type: ignore[method-assign]
    with pytest.raises(DeviceError, match="verify after write failed at page 5"):
        ntag.write_user_memory(bytes(range(16)))


def test_card_gone_during_read_is_a_device_error(ntag: Ntag, emulator: PN532Emulator) -> None:
    emulator.remove_card()
    with pytest.raises(DeviceError, match="status 0x"):
        ntag.read_user_memory()

"""CardStation, the lane's card port: debounced polling, read/write, and surviving a bad reader."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.config.profile import CardReaderProfile
from edge.errors import DeviceError
from edge.hw.card_station import GONE_AFTER, POLL_INTERVAL, CardStation
from edge.hw.ntag import TagCapacityError
from edge.sim.pn532_emulator import NtagMemory, PN532Emulator
from tests.support.wait import finishes_within, wait_until

UID = bytes.fromhex("04aabbccddeeff")
OTHER = bytes.fromhex("04010203040506")


@pytest.fixture
def emulator() -> Iterator[PN532Emulator]:
    emu = PN532Emulator()
    yield emu
    emu.close()


@pytest.fixture
def station(emulator: PN532Emulator) -> Iterator[CardStation]:
    st = CardStation(emulator.device_path, timeout=1.0)  # a deadline for a lost answer
    yield st
    st.close()


def test_poll_without_card_returns_none_and_is_ok(station: CardStation) -> None:
    assert station.status == "disconnected"  # not opened before the first poll
    assert station.poll(0.05) is None
    assert station.status == "ok"


def test_one_presentation_gives_one_read(station: CardStation, emulator: PN532Emulator) -> None:
    emulator.place_card(NtagMemory(uid=UID))
    assert station.poll(0.2) == UID.hex()
    assert station.current_uid == UID.hex()
    # The card stays in the field: no second read.
    assert station.poll(0.15) is None
    assert station.poll(0.15) is None


def test_a_new_card_is_read_at_once(station: CardStation, emulator: PN532Emulator) -> None:
    emulator.place_card(NtagMemory(uid=UID))
    assert station.poll(0.2) == UID.hex()
    emulator.place_card(NtagMemory(uid=OTHER))
    assert station.poll(0.2) == OTHER.hex()


def test_the_same_card_presented_again_is_read_again(
    station: CardStation, emulator: PN532Emulator
) -> None:
    tag = NtagMemory(uid=UID)
    emulator.place_card(tag)
    assert station.poll(0.2) == UID.hex()
    emulator.remove_card()
    assert station.poll(GONE_AFTER + 0.1) is None
    emulator.place_card(tag)
    assert station.poll(0.2) == UID.hex()


def test_a_brief_dropout_is_not_a_new_presentation(emulator: PN532Emulator) -> None:
    now = [100.0]
    station = CardStation(emulator.device_path, timeout=0.2, clock=lambda: now[0])
    tag = NtagMemory(uid=UID)
    emulator.place_card(tag)
    assert station.poll(0.1) == UID.hex()
    emulator.remove_card()
    station.poll(0.0)
    now[0] += GONE_AFTER / 3  # back in the field within the debounce window
    emulator.place_card(tag)
    assert station.poll(0.0) is None
    station.close()


def test_read_and_write_the_card(station: CardStation, emulator: PN532Emulator) -> None:
    tag = NtagMemory(uid=UID)
    emulator.place_card(tag)
    station.poll(0.2)
    station.write(b"entry 2026-11-27T08:00Z lane1")
    assert tag.user_memory.startswith(b"entry 2026-11-27T08:00Z lane1\x00")
    assert station.read()[:29] == b"entry 2026-11-27T08:00Z lane1"


def test_oversized_ticket_is_refused_and_the_card_kept(
    station: CardStation, emulator: PN532Emulator
) -> None:
    emulator.place_card(NtagMemory(uid=UID))
    station.poll(0.2)
    with pytest.raises(TagCapacityError):
        station.write(bytes(145))
    assert emulator.page_writes == 0
    station.write(b"fits")
    assert station.current_uid == UID.hex()


def test_read_without_a_card_is_refused(station: CardStation) -> None:
    assert station.poll(0.02) is None
    with pytest.raises(DeviceError, match="no card"):
        station.read()
    with pytest.raises(DeviceError, match="no card"):
        station.write(b"x")


def test_card_lifted_mid_write_then_read_again(
    station: CardStation, emulator: PN532Emulator
) -> None:
    tag = NtagMemory.with_user_memory(b"O" * 144, uid=UID)
    emulator.place_card(tag)
    assert station.poll(0.2) == UID.hex()
    emulator.tear_after_writes(3)
    with pytest.raises(DeviceError, match="card lifted"):
        station.write(b"N" * 144)
    assert station.status == "ok"  # a lifted card is not a reader fault
    emulator.place_card(tag)
    assert station.poll(0.2) == UID.hex()
    assert station.read() == b"N" * 12 + b"O" * 132


def test_garbage_from_the_reader_never_raises_from_poll(
    station: CardStation, emulator: PN532Emulator
) -> None:
    assert station.poll(0.01) is None
    emulator.place_card(NtagMemory(uid=UID))
    emulator.fault_next("noise_only")
    assert station.poll(0.1) is None
    assert station.status.startswith("error: garbled answer")
    # The station re-initialises after its backoff and reads the card.
    assert station.poll(1.0) == UID.hex()
    assert station.status == "ok"
    assert station.reconnects == 1


def test_unplugged_reader_is_reported_and_reconnected(tmp_path: Path) -> None:
    link = tmp_path / "pn532"  # what a udev rule gives: a stable name
    first = PN532Emulator()
    os.symlink(first.device_path, link)
    station = CardStation(str(link), timeout=1.0)
    try:
        assert station.poll(0.02) is None
        assert station.status == "ok"

        first.unplug()
        link.unlink()  # udev removes the stable name with the device
        assert station.poll(0.05) is None
        assert station.status == "disconnected"
        assert station.poll(0.3) is None  # still gone: retried with backoff, no exception
        assert station.status == "disconnected"

        second = PN532Emulator()  # plugged back in
        os.symlink(second.device_path, link)
        second.place_card(NtagMemory(uid=UID))
        assert station.poll(15.0) == UID.hex()
        assert station.status == "ok"
        assert station.reconnects == 1
        second.close()
    finally:
        station.close()
        first.close()


def test_missing_device_never_raises(tmp_path: Path) -> None:
    station = CardStation(str(tmp_path / "ttyNONE"))
    # It returns on its own (bounded by the deadline, not timed): no hang on a missing device.
    assert finishes_within(lambda: station.poll(0.3)) is None
    assert station.status == "disconnected"
    station.close()


def test_close_interrupts_a_waiting_poll(station: CardStation, emulator: PN532Emulator) -> None:
    assert station.poll(0.01) is None
    listings = emulator.commands.count(0x4A)

    def close_once_listing() -> None:
        wait_until(lambda: emulator.commands.count(0x4A) > listings, what="the poll's listing")
        station.close()

    threading.Thread(target=close_once_listing, daemon=True).start()
    # A 60 s poll ended well before its window: only the close can have ended it.
    assert finishes_within(lambda: station.poll(60.0)) is None


def test_a_card_arriving_while_poll_waits_ends_the_poll(
    station: CardStation, emulator: PN532Emulator
) -> None:
    """A card arriving while poll waits is reported by that poll, not after its window.

    Each card comes once the chip is listing; the 60 s poll must return it long before
    its window ends. How quickly (milliseconds) is a figure of tests/bench/pn532.py.
    """
    station.poll(0.01)
    for i in range(50):
        emulator.remove_card()  # each round a new card: no debounce wait needed
        listings = emulator.commands.count(0x4A)
        uid = bytes([4, 0, 0, 0, 0, 0, i])

        def place(card: bytes = uid, seen: int = listings) -> None:
            wait_until(lambda: emulator.commands.count(0x4A) > seen, what="the poll's listing")
            emulator.place_card(NtagMemory(uid=card))

        threading.Thread(target=place, daemon=True).start()
        assert finishes_within(lambda: station.poll(60.0)) == uid.hex()


def test_a_read_does_not_wait_for_a_poll_in_progress(
    station: CardStation, emulator: PN532Emulator
) -> None:
    emulator.place_card(NtagMemory.with_user_memory(b"ticket", uid=UID))
    assert station.poll(0.2) == UID.hex()
    listings = emulator.commands.count(0x4A)
    emulator.fault_next("silence")  # the next listing hangs: the chip never answers it
    poller = threading.Thread(target=station.poll, args=(60.0,), daemon=True)
    poller.start()
    wait_until(lambda: emulator.commands.count(0x4A) > listings, what="the poll's hanging listing")
    # The hanging listing has a 60 s window; the read is done long before it.
    assert finishes_within(station.read)[:6] == b"ticket"
    after_read = emulator.commands.count(0x4A)
    # Sync point: the poll has dealt with its interrupted listing and listed again (or ended).
    wait_until(
        lambda: emulator.commands.count(0x4A) > after_read or not poller.is_alive(),
        what="the poll past its interrupted listing",
    )
    assert poller.is_alive()  # the poll goes on (same card: nothing new to report)
    assert station.status == "ok"  # an interrupted listing is not a reader fault
    station.close()  # ends the poll
    poller.join(15)
    assert not poller.is_alive()


def test_an_echoing_port_is_reported_not_raised() -> None:
    import serial

    station = CardStation("loop://", serial_factory=serial.serial_for_url, timeout=0.05)
    assert station.poll(0.1) is None
    assert station.status.startswith("error: garbled answer")
    station.close()


def test_a_missing_reader_warns_once_then_stays_quiet(tmp_path: Path, caplog) -> None:
    station = CardStation(str(tmp_path / "ttyNONE"))
    with caplog.at_level("DEBUG", logger="edge.hw.card_station"):
        for _ in range(4):
            station.poll(0.25)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "cannot be opened" in warnings[0].getMessage()
    assert len(caplog.records) >= 2  # the retries are still logged, at debug level
    station.close()


def test_a_chip_that_answers_no_target_at_once_is_not_asked_again_at_once(fake_clock) -> None:
    """Empty listings are paced by the station's clock: one per poll interval, however long
    a poll waits (the emulator counts the InListPassiveTarget frames it saw)."""
    with PN532Emulator(answer_listing_at_once=True) as emu:
        station = CardStation(emu.device_path, timeout=0.2, clock=fake_clock, poll_interval=1.0)

        def listings() -> int:
            return emu.commands.count(0x4A)

        assert station.poll(0.3) is None
        assert station.status == "ok"
        assert listings() == 1  # the clock stood still: no second listing in 0.3 s
        for n in range(2, 5):
            fake_clock.advance(1.0)
            assert station.poll(0.1) is None
            assert listings() == n
        emu.place_card(NtagMemory(uid=UID))
        assert station.poll(0.1) is None  # within the interval the card waits its turn
        fake_clock.advance(1.0)
        assert station.poll(0.3) == UID.hex()
        assert listings() == 5
        station.close()


def test_poll_interval_must_be_positive(emulator: PN532Emulator) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        CardStation(emulator.device_path, poll_interval=0)


def test_the_reader_profile_bounds_the_poll_interval() -> None:
    profile = CardReaderProfile(name="PN532", model="pn532_hsu")
    assert profile.poll_interval_s == POLL_INTERVAL
    with pytest.raises(ValidationError, match="poll_interval_s"):
        CardReaderProfile(name="PN532", model="pn532_hsu", poll_interval_s=0)

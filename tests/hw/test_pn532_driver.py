"""The PN532 driver against the byte-true emulator on a pty: happy path and every failure."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import DeviceError, DeviceTimeout, FrameError, GatepostError
from edge.hw.pn532 import ACK_FRAME, PN532, build_frame
from edge.sim.pn532_emulator import FAULTS, NtagMemory, PN532Emulator
from tests.support.wait import finishes_within, wait_until

UID = bytes.fromhex("04a1b2c3d4e5f6")


@pytest.fixture
def emulator() -> Iterator[PN532Emulator]:
    emu = PN532Emulator()
    yield emu
    emu.close()


@pytest.fixture
def reader(emulator: PN532Emulator) -> Iterator[PN532]:
    pn = PN532(emulator.device_path, timeout=1.0)  # a deadline for a lost answer, not a speed check
    pn.begin()
    yield pn
    pn.close()


def test_begin_wakes_configures_and_identifies(emulator: PN532Emulator) -> None:
    pn = PN532(emulator.device_path, timeout=0.2)
    assert pn.status == "disconnected"
    assert pn.begin() == (0x32, 1, 6, 7)
    assert pn.status == "ok"
    assert emulator.commands[:3] == [0x14, 0x32, 0x02]  # SAM, RF retries, firmware
    pn.close()
    assert pn.status == "disconnected"


def test_a_sleeping_chip_ignores_a_frame_without_wake_up(emulator: PN532Emulator) -> None:
    import serial

    with serial.Serial(emulator.device_path, 115200, timeout=0.1) as raw:
        raw.write(build_frame(b"\x02"))
        assert raw.read(64) == b""  # it woke the chip, which lost the frame's head: no answer
        raw.timeout = (
            5  # a read returns once its bytes are in; an answer to the first frame would come first
        )
        raw.write(b"\x55\x55\x00\x00\x00" + build_frame(b"\x02"))
        answer = raw.read(6 + 13)
    assert answer == ACK_FRAME + bytes.fromhex("00 00 ff 06 fa d5 03 32 01 06 07 e8 00")


def test_emulator_takes_host_frames_split_and_after_noise(emulator: PN532Emulator) -> None:
    import serial

    firmware = ACK_FRAME + bytes.fromhex("00 00 ff 06 fa d5 03 32 01 06 07 e8 00")
    with serial.Serial(
        emulator.device_path, 115200, timeout=5
    ) as raw:  # a read returns once its bytes are in
        raw.write(b"\x55\x55\x00\x00\x00")
        for b in build_frame(b"\x02"):  # one byte at a time
            raw.write(bytes([b]))
            time.sleep(0.0005)
        assert raw.read(len(firmware)) == firmware
        raw.write(b"\x13\x37\xff\x00\x00" + build_frame(b"\x02"))
        assert raw.read(len(firmware)) == firmware
        bad = bytearray(build_frame(b"\x02"))
        bad[-2] ^= 1  # wrong DCS: dropped without an answer
        raw.write(bytes(bad))
        raw.timeout = 0.2  # a short look; the next read's exact bytes prove nothing answered it
        assert raw.read(6) == b""
        raw.timeout = 5
        raw.write(build_frame(b"\x99"))  # unknown command: the error frame
        assert raw.read(6 + 8) == ACK_FRAME + bytes.fromhex("00 00 ff 01 ff 7f 81 00")
    assert emulator.frame_errors >= 1


def test_no_card_returns_none_and_aborts_the_listing(
    reader: PN532, emulator: PN532Emulator
) -> None:
    start = time.monotonic()
    assert reader.list_passive_target(0.05) is None
    assert (
        time.monotonic() - start >= 0.04
    )  # it listened for its whole window (load only lengthens it)
    wait_until(lambda: emulator.aborts == 1, what="the listing aborted at the chip")
    assert reader.firmware_version()[0] == 0x32  # the chip is free for the next command


def test_lists_the_card_in_the_field(reader: PN532, emulator: PN532Emulator) -> None:
    emulator.place_card(NtagMemory(uid=UID))
    assert reader.list_passive_target(0.2) == UID


def test_a_card_arriving_while_listing_is_heard_at_once(
    reader: PN532, emulator: PN532Emulator
) -> None:
    """The card comes once the chip is listing; the answer ends a 60 s listing window early.

    How quickly is a figure of tests/bench/pn532.py; here the deadline only has to be
    far shorter than the window.
    """
    listings = emulator.commands.count(0x4A)

    def place() -> None:
        wait_until(lambda: emulator.commands.count(0x4A) > listings, what="the listing at the chip")
        emulator.place_card(NtagMemory(uid=UID))

    threading.Thread(target=place, daemon=True).start()
    assert finishes_within(lambda: reader.list_passive_target(60.0)) == UID


def test_data_exchange_reads_tag_pages(reader: PN532, emulator: PN532Emulator) -> None:
    tag = NtagMemory.with_user_memory(b"GATEPOST", uid=UID)
    emulator.place_card(tag)
    reader.list_passive_target(0.2)
    assert reader.data_exchange(bytes([0x30, 4]))[:8] == b"GATEPOST"
    assert reader.data_exchange(bytes([0x30, 0]))[:3] == UID[:3]


def test_data_exchange_status_error_is_a_device_error(
    reader: PN532, emulator: PN532Emulator
) -> None:
    emulator.place_card(NtagMemory(uid=UID))
    reader.list_passive_target(0.2)
    emulator.remove_card()
    with pytest.raises(DeviceError, match="0x27"):
        reader.data_exchange(bytes([0x30, 4]))
    assert reader.status.startswith("error: ")


def test_release_then_exchange_is_refused(reader: PN532, emulator: PN532Emulator) -> None:
    emulator.place_card(NtagMemory(uid=UID))
    reader.list_passive_target(0.2)
    reader.release()
    with pytest.raises(DeviceError, match="context"):
        reader.data_exchange(bytes([0x30, 4]))


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("bad_dcs", FrameError),
        ("bad_lcs", FrameError),
        ("truncate", FrameError),
        ("noise_only", FrameError),
        ("oversized", FrameError),
        ("silence", DeviceTimeout),
        ("no_ack", DeviceTimeout),
        ("error_frame", DeviceError),
    ],
)
def test_bad_answers_raise_clear_errors_and_the_next_command_works(
    reader: PN532, emulator: PN532Emulator, fault: str, error: type[Exception]
) -> None:
    emulator.fault_next(fault)
    with pytest.raises(error):
        reader.firmware_version()
    assert reader.status.startswith("error: ")
    assert reader.firmware_version() == (0x32, 1, 6, 7)
    assert reader.status == "ok"


@pytest.mark.parametrize("fault", ["garbage_before", "split"])
def test_noise_before_and_byte_by_byte_answers_still_parse(
    reader: PN532, emulator: PN532Emulator, fault: str
) -> None:
    emulator.fault_next(fault)
    assert reader.firmware_version() == (0x32, 1, 6, 7)


def test_garbage_injected_between_commands_is_ignored(
    reader: PN532, emulator: PN532Emulator
) -> None:
    emulator.inject(os.urandom(200))
    time.sleep(0.01)
    assert reader.firmware_version() == (0x32, 1, 6, 7)


def test_faults_cover_every_named_kind() -> None:
    tested = {
        "bad_dcs",
        "bad_lcs",
        "truncate",
        "noise_only",
        "oversized",
        "silence",
        "no_ack",
        "error_frame",
        "garbage_before",
        "split",
        "vanish",
    }
    assert tested == set(FAULTS)


def test_reader_vanishing_mid_frame(reader: PN532, emulator: PN532Emulator) -> None:
    emulator.fault_next("vanish")
    with pytest.raises(DeviceError, match="vanished"):
        reader.firmware_version()
    assert reader.status == "disconnected"
    assert not reader.is_open
    with pytest.raises(DeviceError):
        reader.begin()  # the device node is gone
    assert reader.status == "disconnected"


def test_unplugged_between_commands(reader: PN532, emulator: PN532Emulator) -> None:
    emulator.unplug()
    with pytest.raises(DeviceError):
        reader.firmware_version()
    assert reader.status == "disconnected"


def test_missing_port_is_a_device_error(tmp_path) -> None:
    pn = PN532(str(tmp_path / "ttyNOPE"))
    with pytest.raises(DeviceError, match="cannot be opened"):
        pn.begin()
    assert pn.status == "disconnected"


def test_not_a_pn532(reader: PN532, emulator: PN532Emulator) -> None:
    emulator.transform_next(
        lambda f: [ACK_FRAME, build_frame(bytes.fromhex("03 31 01 06 07"), tfi=0xD5)]
    )
    with pytest.raises(DeviceError, match="not a PN532"):
        reader.firmware_version()


def test_back_to_back_listings_all_hear_the_card(reader: PN532, emulator: PN532Emulator) -> None:
    """Two hundred round trips in a row, each with the card's UID (the p95 is in tests/bench/pn532.py)."""
    emulator.place_card(NtagMemory(uid=UID))
    assert [reader.list_passive_target(1.0) for _ in range(200)] == [UID] * 200
    assert reader.status == "ok"


def test_interrupt_cuts_a_waiting_listing_short(reader: PN532, emulator: PN532Emulator) -> None:
    listings = emulator.commands.count(0x4A)

    def interrupt_once_listing() -> None:
        wait_until(lambda: emulator.commands.count(0x4A) > listings, what="the listing at the chip")
        reader.interrupt()

    threading.Thread(target=interrupt_once_listing, daemon=True).start()
    # The deadline is far shorter than the 60 s listing: only the interrupt can have ended it.
    assert finishes_within(lambda: reader.list_passive_target(60.0)) is None
    wait_until(lambda: emulator.aborts == 1, what="the listing aborted at the chip")
    emulator.place_card(NtagMemory(uid=UID))
    assert reader.list_passive_target(0.2) == UID  # the interrupt was used up


def test_a_port_that_echoes_our_own_frames_is_a_frame_error() -> None:
    """TX wired to RX (a classic installer slip): our D4 frames come back, never an answer."""
    import serial

    pn = PN532("loop://", timeout=0.05, serial_factory=serial.serial_for_url)
    with pytest.raises(FrameError, match="bad_tfi"):
        pn.begin()
    assert pn.status.startswith("error: garbled answer")
    pn.close()


answer_bytes = st.one_of(
    st.binary(max_size=80),  # noise
    st.binary(max_size=40).map(lambda d: build_frame(b"\x4b" + d, tfi=0xD5)),  # odd listings
    st.binary(max_size=40).map(lambda d: build_frame(b"\x41" + d, tfi=0xD5)),  # odd exchanges
)


def _answer_with(answer: bytes) -> Callable[[bytes], list[bytes]]:
    """An emulator transform that replaces the real answer by ``answer``."""

    def transform(frame: bytes) -> list[bytes]:
        return [ACK_FRAME, answer]

    return transform


@settings(max_examples=25, deadline=None)
@given(st.lists(answer_bytes, min_size=1, max_size=3))
def test_any_answer_gives_a_result_or_a_gatepost_error(answers: list[bytes]) -> None:
    with PN532Emulator() as emu:
        pn = PN532(emu.device_path, timeout=0.03)
        pn.begin()
        emu.place_card(NtagMemory(uid=UID))
        for answer in answers:
            for call in ("list", "exchange"):
                emu.transform_next(_answer_with(answer))
                try:
                    if call == "list":
                        pn.list_passive_target(0.03)
                    else:
                        pn.data_exchange(b"\x30\x04")
                except GatepostError:
                    assert pn.status != "ok"
        pn.close()


def test_station_reader_vanishing_mid_frame() -> None:
    from edge.hw.card_station import CardStation

    with PN532Emulator() as emu:
        station = CardStation(emu.device_path, timeout=0.1)
        assert station.poll(0.02) is None
        emu.place_card(NtagMemory(uid=UID))
        emu.fault_next("vanish")
        assert station.poll(0.1) is None
        assert station.status == "disconnected"
        station.close()

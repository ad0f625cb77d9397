"""The emulator behaves as the PN532 user manual says for the commands beyond the lane's six.

These are the commands third-party host drivers (nfcpy, libnfc) send to open a
chip and talk to a Type 2 tag; the project's own driver sends them here through
its generic :meth:`PN532.command`, so both ends of the wire are real code.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import serial

from edge.errors import DeviceError
from edge.hw.ntag import Ntag
from edge.hw.pn532 import ACK_FRAME, PN532, build_frame
from edge.sim.ntag213 import VERSION, crc_a
from edge.sim.pn532_emulator import NtagMemory, PN532Emulator
from tests.support.wait import wait_until

UID = bytes.fromhex("04a1b2c3d4e5f6")
RX_MODE = b"\x63\x03"
TX_MODE = b"\x63\x02"
FIRMWARE_ANSWER = ACK_FRAME + build_frame(bytes.fromhex("03 32 01 06 07"), tfi=0xD5)


@pytest.fixture
def emulator() -> Iterator[PN532Emulator]:
    with PN532Emulator() as emu:
        yield emu


@pytest.fixture
def pn(emulator: PN532Emulator) -> Iterator[PN532]:
    reader = PN532(emulator.device_path, timeout=1.0)  # a deadline for a lost answer
    reader.begin()
    yield reader
    reader.close()


@pytest.fixture
def listed(pn: PN532, emulator: PN532Emulator) -> NtagMemory:
    tag = NtagMemory.with_user_memory(bytes(range(144)), uid=UID)
    emulator.place_card(tag)
    assert pn.list_passive_target(0.2) == UID
    return tag


def test_wakes_on_any_byte_like_nfcpy_sends(emulator: PN532Emulator) -> None:
    with serial.Serial(
        emulator.device_path, 115200, timeout=5
    ) as raw:  # a read returns once its bytes are in
        raw.write(bytes(10) + build_frame(b"\x02"))  # nfcpy's "long preamble": ten 00 bytes
        assert raw.read(len(FIRMWARE_ANSWER)) == FIRMWARE_ANSWER
    assert not emulator.asleep


def test_line_test_echoes_a_265_byte_extended_frame(pn: PN532, emulator: PN532Emulator) -> None:
    params = b"\x00" + bytes(i & 0xFF for i in range(262))  # LEN = TFI + 00 + 263 = 265
    assert pn.command(0x00, params) == params
    assert pn.command(0x00, b"\x01") == b"\x00"  # ROM test passed
    assert emulator.frame_errors == 0


def test_registers_read_back_and_the_fifo_keeps_the_unanswered_reqa(pn: PN532) -> None:
    pn.command(0x08, RX_MODE + b"\x00" + b"\x63\x17\x5a")  # WriteRegister, two at once
    assert pn.command(0x06, RX_MODE + b"\x63\x17") == b"\x00\x5a"
    pn.rf_configuration(0x05, b"\xff\x01\x01")  # one passive try: "no target" at once
    assert pn.command(0x4A, b"\x01\x00") == b"\x00"
    # The listing set the CIU for type A again (CRC on), and REQA stayed in the FIFO.
    assert pn.command(0x06, RX_MODE + b"\x63\x3a\x63\x39\x63\x3a") == b"\x80\x01\x26\x00"


@pytest.mark.parametrize(
    ("code", "params"),
    [
        (0x06, b"\x63"),  # ReadRegister: half an address
        (0x08, b"\x63\x03"),  # WriteRegister: no value
        (0x32, b"\x05\xff"),  # RFConfiguration item 5 takes three values
        (0x10, b"\x09"),  # SetSerialBaudrate: no such rate
        (0x99, b""),  # no such command
    ],
)
def test_malformed_commands_get_the_syntax_error_frame(pn: PN532, code: int, params: bytes) -> None:
    with pytest.raises(DeviceError, match="syntax error"):
        pn.command(code, params)
    assert pn.firmware_version()[0] == 0x32  # and the chip carries on


def test_baud_rate_changes_only_after_the_hosts_ack(emulator: PN532Emulator) -> None:
    with serial.Serial(emulator.device_path, 115200, timeout=5) as raw:
        raw.write(bytes(10) + build_frame(b"\x10\x07"))  # 921600 bd
        assert raw.read(6 + 9) == ACK_FRAME + bytes.fromhex("0000ff02fed5111a00")
        assert emulator.baudrate == 115200
        raw.write(ACK_FRAME)
        wait_until(lambda: emulator.baudrate == 921600)


def test_power_down_sleeps_until_the_line_wakes_it(emulator: PN532Emulator) -> None:
    with serial.Serial(emulator.device_path, 115200, timeout=5) as raw:
        raw.write(bytes(10) + build_frame(b"\x16\x10"))  # wake on HSU
        assert raw.read(6 + 10) == ACK_FRAME + build_frame(b"\x17\x00", tfi=0xD5)
        assert emulator.asleep
        raw.write(build_frame(b"\x02"))  # no preamble: lost while waking
        raw.timeout = 0.3  # a short look; the next read's exact bytes prove nothing answered it
        assert raw.read(6) == b""
        raw.timeout = 5
        raw.write(bytes(10) + build_frame(b"\x02"))
        assert raw.read(len(FIRMWARE_ANSWER)) == FIRMWARE_ANSWER


def test_power_down_without_hsu_wake_up_stays_deaf_to_the_line(emulator: PN532Emulator) -> None:
    with serial.Serial(emulator.device_path, 115200, timeout=5) as raw:
        raw.write(bytes(10) + build_frame(b"\x16\x20"))  # wake on SPI only
        assert raw.read(6 + 10) == ACK_FRAME + build_frame(b"\x17\x00", tfi=0xD5)
        raw.write(bytes(10) + build_frame(b"\x02"))
        raw.timeout = 0.3  # a short look for an answer that must not come
        assert raw.read(6) == b""
    assert emulator.asleep


def test_general_status_reports_the_listed_target(pn: PN532, listed: NtagMemory) -> None:
    assert pn.command(0x04) == bytes.fromhex("00 00 01 01 00 00 00 00")
    pn.release()
    assert pn.command(0x04) == bytes.fromhex("00 00 00 00")


def test_get_version_through_the_firmware_exchange(pn: PN532, listed: NtagMemory) -> None:
    assert pn.data_exchange(b"\x60") == VERSION


def test_communicate_thru_follows_the_ciu_crc_settings(pn: PN532, listed: NtagMemory) -> None:
    # CRC on both ways (as the listing left it): data without CRC; a 4-bit ACK is a CRC error.
    assert pn.command(0x42, b"\x30\x04") == b"\x00" + bytes(range(16))
    assert pn.command(0x42, b"\xa2\x04GATE") == b"\x02"
    assert bytes(listed.pages[4]) == b"GATE"  # the write itself landed
    pn.command(0x08, RX_MODE + b"\x00")  # RxCRCEn off, as nfcpy does for Type 2 tags
    assert pn.command(0x42, b"\x30\x04") == b"\x00" + listed.read(4) + crc_a(listed.read(4))
    assert pn.command(0x42, b"\xa2\x05OPEN") == b"\x00\x0a"  # the tag's ACK nibble
    pn.command(0x08, TX_MODE + b"\x00")  # TxCRCEn off: the host appends CRC_A itself
    assert pn.command(0x42, b"\x30\x04" + crc_a(b"\x30\x04"))[:5] == b"\x00GATE"
    assert pn.command(0x42, b"\x30\x04\x00\x00") == b"\x01"  # bad CRC: the tag stays silent


def test_a_nak_sends_the_tag_back_to_idle(pn: PN532, listed: NtagMemory) -> None:
    listed.write(2, b"\x00\x00\x10\x00")  # lock page 4
    with pytest.raises(DeviceError, match="write of page 4 failed"):
        Ntag(pn).write_page(4, b"LOCK")
    with pytest.raises(DeviceError, match="0x01"):  # idle: no answer until selected again
        pn.data_exchange(b"\x30\x04")
    assert pn.list_passive_target(0.2) == UID
    assert pn.data_exchange(b"\x30\x04")[:4] == bytes(range(4))


def test_deselect_then_select_again(pn: PN532, listed: NtagMemory) -> None:
    assert pn.command(0x44, b"\x01") == b"\x00"
    with pytest.raises(DeviceError, match="0x01"):  # halted tag
        pn.data_exchange(b"\x30\x04")
    assert pn.command(0x54, b"\x01") == b"\x00"
    assert pn.data_exchange(b"\x30\x04")[:4] == bytes(range(4))
    pn.release()
    assert pn.command(0x54, b"\x01") == b"\x27"  # nothing listed to select


def test_listing_by_uid_finds_only_that_card(pn: PN532, emulator: PN532Emulator) -> None:
    emulator.place_card(NtagMemory(uid=UID))
    pn.rf_configuration(0x05, b"\xff\x01\x01")
    assert pn.command(0x4A, b"\x01\x00\x88" + UID)[:2] == b"\x01\x01"  # cascade tag + UID
    assert pn.command(0x4A, b"\x01\x00\x88" + bytes(7)) == b"\x00"
    assert pn.command(0x4A, b"\x01\x03\x00") == b"\x00"  # type B: none in the field

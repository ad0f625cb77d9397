"""A third-party PN532 host driver — nfcpy 1.0.4's own UART ``pn532`` module — accepts the emulator.

nfcpy opens a reader by a name directly under ``/dev`` (``tty:<name>:pn532``),
which the emulator's pty (``/dev/pts/N``) is not, and a symlink in ``/dev``
would need root. These tests therefore use nfcpy's transport directly:
``nfc.clf.pn532.init(nfc.clf.transport.TTY(<pty path>))``, which is exactly
what ``ContactlessFrontend.open("tty:<name>:pn532")`` calls once it has found
the device node. Everything from there on is nfcpy's code, unchanged: the
wake-up with ``00`` bytes, GetFirmwareVersion, SAMConfiguration, the baud-rate
switch, the 265-byte line test (Diagnose), SetParameters, RFConfiguration,
CIU register reads and writes, InListPassiveTarget, the tag's commands over
InCommunicateThru with the CRC check switched off, and on close
SetSerialBaudrate and PowerDown. nfcpy logs a warning or an error for
anything it finds off; the tests capture its logging and require none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import nfc
import nfc.clf
import nfc.clf.pn532
import nfc.clf.transport
import nfc.tag
import nfc.tag.tt2
import nfc.tag.tt2_nxp
import pytest

from edge.sim.pn532_emulator import NtagMemory, PN532Emulator

UID = bytes.fromhex("04a1b2c3d4e5f6")


@contextmanager
def nfcpy_reader(emulator: PN532Emulator) -> Iterator[nfc.ContactlessFrontend]:
    """An nfcpy ContactlessFrontend on the emulator's pty, closed (chip powered down) after."""
    clf = nfc.ContactlessFrontend()
    device = nfc.clf.pn532.init(nfc.clf.transport.TTY(emulator.device_path))
    device._path = emulator.device_path  # as nfc.clf.device.connect() names it
    clf.device = device
    try:
        yield clf
    finally:
        clf.close()


@pytest.fixture
def nfcpy_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture nfcpy's loggers (``nfc.*``) at WARNING and above for the whole test."""
    with caplog.at_level(logging.WARNING, logger="nfc"):
        yield caplog


def warnings_of(log: pytest.LogCaptureFixture) -> list[str]:
    """What nfcpy logged at WARNING or above so far in the test (its call phase)."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in log.records
        if r.levelno >= logging.WARNING and r.name.startswith("nfc")
    ]


def test_nfcpy_senses_reads_and_writes_an_ntag213(
    nfcpy_log: pytest.LogCaptureFixture,
) -> None:
    tag = NtagMemory.with_user_memory(bytes(range(48)), uid=UID)
    with PN532Emulator() as emulator:
        emulator.place_card(tag)
        with nfcpy_reader(emulator) as clf:
            assert str(clf.device).startswith("PN532v1.6")

            target = clf.sense(nfc.clf.RemoteTarget("106A"))
            assert target is not None
            assert bytes(target.sdd_res) == UID
            ntag = nfc.tag.activate(clf, target)  # probes AUTHENTICATE, then GET_VERSION
            assert isinstance(ntag, nfc.tag.tt2_nxp.NTAG213)

            assert b"".join(bytes(ntag.read(page)) for page in (4, 8, 12)) == bytes(range(48))
            assert ntag.write(9, b"GATE")
            assert bytes(ntag.read(9))[:4] == b"GATE"
            assert bytes(tag.pages[9]) == b"GATE"
            # PWD and PACK read as zeros; READ rolls over to page 0 after page 44.
            assert bytes(ntag.read(43)) == bytes(8) + bytes(tag.pages[0]) + bytes(tag.pages[1])
            dump = ntag.dump()  # pages 0–39, then each configuration page 40–44
            assert "02B: 00 00 00 00 (PWD0-PWD3)" in dump
            assert "02C: 00 00 00 00 (PACK0-PACK1)" in dump
        assert emulator.asleep  # nfcpy powers the chip down on close
        assert emulator.baudrate == 115200  # switched up at open, back down at close
        seen = set(emulator.commands)
    # Commands beyond the project driver's six, all answered as the chip does.
    assert {0x00, 0x06, 0x08, 0x10, 0x12, 0x16, 0x42} <= seen
    assert warnings_of(nfcpy_log) == []


def test_nfcpy_finds_no_tag_in_an_empty_field(nfcpy_log: pytest.LogCaptureFixture) -> None:
    with PN532Emulator() as emulator, nfcpy_reader(emulator) as clf:
        assert clf.sense(nfc.clf.RemoteTarget("106A")) is None  # REQA left in the CIU FIFO
        kinds = [nfc.clf.RemoteTarget(brty) for brty in ("106A", "106B", "212F")]
        assert clf.sense(*kinds) is None
    assert warnings_of(nfcpy_log) == []


def test_nfcpy_write_to_a_locked_page_is_refused(nfcpy_log: pytest.LogCaptureFixture) -> None:
    tag = NtagMemory(uid=UID)
    with PN532Emulator() as emulator:
        emulator.place_card(tag)
        with nfcpy_reader(emulator) as clf:
            target = clf.sense(nfc.clf.RemoteTarget("106A"))
            ntag = nfc.tag.activate(clf, target)
            assert ntag.write(2, b"\x00\x00\x10\x00")  # static lock bit L-4
            with pytest.raises(nfc.tag.tt2.Type2TagCommandError):
                ntag.write(4, b"LOCK")
            # The NAK sent the tag back to IDLE: it stays silent until selected again.
            with pytest.raises(nfc.tag.tt2.Type2TagCommandError, match="timeout"):
                ntag.read(4)
            target = clf.sense(nfc.clf.RemoteTarget("106A", sel_req=bytearray(UID)))
            assert bytes(nfc.tag.activate(clf, target).read(4))[:4] == bytes(4)
    assert bytes(tag.pages[4]) == bytes(4)
    assert warnings_of(nfcpy_log) == []


def test_an_nfcpy_warning_would_fail_these_tests(nfcpy_log: pytest.LogCaptureFixture) -> None:
    """The capture is live during the test: a chip that skips its ACK makes nfcpy warn."""
    with PN532Emulator() as emulator, nfcpy_reader(emulator) as clf:
        emulator.transform_next(lambda frame: [frame])  # the answer without its ACK
        clf.device.chipset.get_firmware_version()
    assert warnings_of(nfcpy_log) == ["nfc.clf.pn532: missing ack frame"]

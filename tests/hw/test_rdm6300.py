"""RDM6300 badge reader: the frame parser, the debouncer, and the driver against the pty emulator."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.errors import DeviceError, FrameError
from edge.hw.rdm6300 import BadgeReader, Debouncer, RDM6300Parser, encode_frame
from edge.sim.rdm6300_emulator import RDM6300Emulator

BADGE = "0A1B2C3D4E"
OTHER = "01000F4240"


def test_frame_layout_matches_the_datasheet() -> None:
    frame = encode_frame("62E3086CED")  # datasheet example: checksum 08
    assert frame == b"\x0262E3086CED08\x03"
    assert len(frame) == 14


def test_encode_refuses_a_bad_badge_id() -> None:
    with pytest.raises(FrameError):
        encode_frame("12345")
    with pytest.raises(FrameError):
        encode_frame("XYZXYZXYZX")


def test_parser_reads_frames_split_anywhere() -> None:
    stream = encode_frame(BADGE) + encode_frame(OTHER)
    for cut in range(len(stream) + 1):
        parser = RDM6300Parser()
        assert parser.feed(stream[:cut]) + parser.feed(stream[cut:]) == [BADGE, OTHER]
        assert parser.errors == 0


def test_parser_accepts_lowercase_hex_and_crlf_filler() -> None:
    parser = RDM6300Parser()
    lower = encode_frame(BADGE).replace(BADGE.encode(), BADGE.lower().encode())
    assert parser.feed(lower + b"\r\n" + encode_frame(BADGE)) == [BADGE, BADGE]
    assert parser.errors == 0


@pytest.mark.parametrize(
    "bad",
    [
        encode_frame(BADGE)[:-3] + b"00\x03",  # wrong checksum
        encode_frame(BADGE)[:-1] + b"\x04",  # no ETX
        b"\x02" + b"ZZ" * 6 + b"\x03",  # not hex
        encode_frame(BADGE)[:7],  # truncated, then the next frame starts
        b"\xff\xfe garbage \x00",
    ],
)
def test_parser_skips_bad_input_and_recovers(bad: bytes) -> None:
    parser = RDM6300Parser()
    assert parser.feed(bad + encode_frame(OTHER)) == [OTHER]
    assert parser.errors >= 1
    assert parser.last_error


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_parser_never_raises_and_finds_a_clean_frame_after_noise(noise: bytes, more: bytes) -> None:
    parser = RDM6300Parser()
    parser.feed(noise)
    parser.feed(more)
    # After a gap the reader's next clean frame is found whatever came before
    # (a dangling start byte can swallow at most one frame's worth).
    got = parser.feed(encode_frame(BADGE) * 2)
    assert BADGE in got


def test_debouncer_reports_once_per_presentation() -> None:
    d = Debouncer(1.5)
    assert d.seen(BADGE, 0.0)
    assert not d.seen(BADGE, 0.1)
    assert not d.seen(BADGE, 1.5)  # still in the field: each read restarts the gap
    assert d.seen(OTHER, 1.6)  # a different badge is reported at once
    assert d.seen(BADGE, 3.1)  # absent for 1.6 s: a new presentation
    with pytest.raises(ValueError):
        Debouncer(-1)


@pytest.fixture
def emulator() -> Iterator[RDM6300Emulator]:
    emu = RDM6300Emulator()
    yield emu
    emu.close()


def test_reader_reports_a_held_badge_once(emulator: RDM6300Emulator) -> None:
    reader = BadgeReader(emulator.device_path, debounce_s=0.5)
    try:
        emulator.present(BADGE, repeat_interval=0.02)
        assert reader.poll(15.0) == BADGE
        assert reader.status == "ok"
        # Still held: at least five more repeats reach the reader, and none is reported.
        held = emulator.frames_sent
        deadline = time.monotonic() + 15
        while emulator.frames_sent < held + 5:
            assert reader.poll(0.05) is None, "a held badge was reported again"
            assert time.monotonic() < deadline, "the emulator stopped repeating the badge"
        assert reader.poll(0.1) is None  # and what was already written is read and suppressed too
        emulator.remove()
        assert reader.poll(0.1) is None  # drain what was sent before the removal
        time.sleep(0.6)  # precondition: out of the field longer than the 0.5 s gap
        emulator.present(BADGE, repeat_interval=0.02)
        assert reader.poll(15.0) == BADGE  # presented again after the gap
    finally:
        reader.close()


def test_reader_survives_garbage_between_badges(emulator: RDM6300Emulator) -> None:
    reader = BadgeReader(emulator.device_path)
    try:
        assert reader.poll(0.1) is None  # open the port before the bytes arrive
        emulator.send_raw(
            b"\x00\xffnoise" + encode_frame(BADGE)[:6] + b"\x02123" + encode_frame(OTHER)
        )
        assert reader.poll(2.0) == OTHER
        assert reader.errors >= 2
        assert reader.status == "ok"
    finally:
        reader.close()


def test_reader_reports_a_vanished_device_and_reconnects(tmp_path: Path) -> None:
    """The port is a stable symlink (as a udev rule makes); the USB reader is unplugged and back."""
    link = tmp_path / "ttyBADGE"
    first = RDM6300Emulator()
    os.symlink(first.device_path, link)
    reader = BadgeReader(str(link), reconnect_s=0.05, reconnect_max_s=0.2)
    second = None
    try:
        first.present(BADGE, repeat_interval=0.02)
        assert reader.poll(2.0) == BADGE
        first.close()
        link.unlink()
        assert reader.poll(0.3) is None
        assert reader.status == "disconnected"
        second = RDM6300Emulator()
        os.symlink(second.device_path, link)
        second.present(OTHER, repeat_interval=0.02)
        assert reader.poll(3.0) == OTHER
        assert reader.status == "ok"
    finally:
        reader.close()
        if second is not None:
            second.close()


def test_reader_with_no_device_reports_and_does_not_raise(tmp_path: Path) -> None:
    reader = BadgeReader(str(tmp_path / "nothing-here"), reconnect_s=0.01)
    assert reader.poll(0.1) is None
    assert reader.status == "disconnected"
    reader.close()
    with pytest.raises(DeviceError):
        reader.poll(0.0)


def test_reader_reports_other_open_errors(tmp_path: Path) -> None:
    not_a_tty = tmp_path / "plain-file"
    not_a_tty.write_text("")
    reader = BadgeReader(str(not_a_tty))
    assert reader.poll(0.1) is None
    assert reader.status.startswith("error: ")
    reader.close()


def test_reader_debounce_follows_the_injected_clock(emulator: RDM6300Emulator) -> None:
    now = [100.0]
    reader = BadgeReader(emulator.device_path, debounce_s=1.5, clock=lambda: now[0])
    try:
        emulator.present(BADGE, repeat_interval=0.02)
        assert reader.poll(2.0) == BADGE
        now[0] += 1.0  # held for a second of clock time: still the same presentation
        assert reader.poll(0.2) is None
        emulator.remove()
        reader.poll(0.1)  # drain frames already in flight
        now[0] += 1.6  # the badge has been away longer than the gap
        emulator.present(BADGE, repeat_interval=0.02)
        assert reader.poll(2.0) == BADGE
    finally:
        reader.close()

"""PN532 frame codec (edge.hw.pn532_frame): byte vectors, bad frames, hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import FrameError
from edge.hw.pn532_frame import (
    ACK_FRAME,
    ERROR_FRAME,
    NACK_FRAME,
    TFI_CHIP,
    TFI_HOST,
    Ack,
    ErrorFrame,
    Frame,
    FrameParser,
    Nack,
    build_frame,
)

# GetFirmwareVersion as every PN532 example in the user manual spells it.
GET_FIRMWARE = bytes.fromhex("00 00 ff 02 fe d4 02 2a 00")
FIRMWARE_ANSWER = bytes.fromhex("00 00 ff 06 fa d5 03 32 01 06 07 e8 00")


def test_build_frame_matches_the_manual() -> None:
    assert build_frame(b"\x02") == GET_FIRMWARE
    assert build_frame(bytes.fromhex("03 32 01 06 07"), tfi=TFI_CHIP) == FIRMWARE_ANSWER


def test_build_frame_checksums_hold() -> None:
    frame = build_frame(bytes(range(40)))
    length, lcs = frame[3], frame[4]
    assert (length + lcs) & 0xFF == 0
    body_and_dcs = frame[5:-1]
    assert sum(body_and_dcs) & 0xFF == 0
    assert frame[-1] == 0x00


def test_extended_frame_for_long_data() -> None:
    data = bytes([0x40, 0x01]) + bytes(range(256))[:260]  # 262 data bytes + TFI = 263
    frame = build_frame(data)
    assert frame[:5] == b"\x00\x00\xff\xff\xff"
    lenm, lenl, lcs = frame[5], frame[6], frame[7]
    assert (lenm << 8 | lenl) == len(data) + 1
    assert (lenm + lenl + lcs) & 0xFF == 0
    assert FrameParser().feed(frame) == [Frame(TFI_HOST, data)]


def test_build_frame_refuses_oversized_data() -> None:
    with pytest.raises(FrameError, match="too long"):
        build_frame(bytes(265))  # + TFI = 266


@pytest.mark.parametrize(("length", "accepted"), [(264, True), (265, True), (266, False)])
def test_extended_frame_length_limit_counts_tfi_and_data(length: int, accepted: bool) -> None:
    """LEN (TFI + data) up to 265 is a frame, both ways; 266 is refused and dropped."""
    data = bytes([0x00]) + bytes(i & 0xFF for i in range(length - 2))  # command + params
    body = bytes([TFI_HOST]) + data
    m, lo = length >> 8, length & 0xFF
    wire = (
        bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF, m, lo, (-(m + lo)) & 0xFF])
        + body
        + bytes([(-sum(body)) & 0xFF, 0x00])
    )
    parser = FrameParser()
    if accepted:
        assert build_frame(data) == wire
        assert parser.feed(wire + ACK_FRAME) == [Frame(TFI_HOST, data), Ack()]
        assert parser.error_count == 0
    else:
        with pytest.raises(FrameError, match="too long"):
            build_frame(data)
        assert parser.feed(wire + ACK_FRAME) == [Ack()]
        assert parser.errors["oversized"] == 1


def test_parses_ack_nack_error_and_information_frames() -> None:
    parser = FrameParser()
    stream = ACK_FRAME + FIRMWARE_ANSWER + NACK_FRAME + ERROR_FRAME
    assert parser.feed(stream) == [
        Ack(),
        Frame(TFI_CHIP, bytes.fromhex("03 32 01 06 07")),
        Nack(),
        ErrorFrame(),
    ]
    assert parser.error_count == 0
    frame = Frame(TFI_CHIP, bytes.fromhex("03 32 01 06 07"))
    assert frame.command == 0x03 and frame.params == bytes.fromhex("32 01 06 07")


def test_wake_preamble_and_postambles_are_not_errors() -> None:
    parser = FrameParser()
    assert parser.feed(b"\x55\x55" + bytes(14) + GET_FIRMWARE) == [Frame(TFI_HOST, b"\x02")]
    assert parser.error_count == 0


@pytest.mark.parametrize(
    ("index", "reason"),
    [(4, "bad_lcs"), (-2, "bad_dcs"), (6, "bad_dcs")],
    ids=["length-checksum", "data-checksum", "data-byte"],
)
def test_corrupted_frame_is_dropped_and_counted(index: int, reason: str) -> None:
    bad = bytearray(FIRMWARE_ANSWER)
    bad[index] ^= 0x01
    parser = FrameParser()
    # The good frame after the bad one is still found: one bad bit costs one frame.
    assert parser.feed(bytes(bad) + ACK_FRAME) == [Ack()]
    assert parser.errors[reason] == 1


def test_unknown_tfi_is_dropped() -> None:
    parser = FrameParser(accept_tfi=(TFI_CHIP,))
    assert parser.feed(GET_FIRMWARE) == []  # a host frame echoed back is not an answer
    assert parser.errors["bad_tfi"] == 1


def test_oversized_extended_frame_is_dropped() -> None:
    parser = FrameParser()
    # LEN = 0x012C = 300 > 265, LCS correct
    assert parser.feed(b"\x00\x00\xff\xff\xff\x01\x2c\xd3" + bytes(310) + ACK_FRAME) == [Ack()]
    assert parser.errors["oversized"] == 1


def test_zero_length_frame_is_dropped() -> None:
    parser = FrameParser()
    assert parser.feed(b"\x00\x00\xff\x00\x00\x00" + ACK_FRAME) == [Ack()]
    assert parser.errors["bad_length"] == 1


def test_truncated_frame_waits_then_completes() -> None:
    parser = FrameParser()
    assert parser.feed(FIRMWARE_ANSWER[:7]) == []
    assert parser.has_partial_frame()
    assert parser.feed(FIRMWARE_ANSWER[7:]) == [Frame(TFI_CHIP, bytes.fromhex("03 32 01 06 07"))]
    assert not parser.has_partial_frame()


def test_garbage_is_counted_and_skipped() -> None:
    parser = FrameParser()
    assert parser.feed(b"hello world" + ACK_FRAME) == [Ack()]
    assert parser.errors["junk_bytes"] == 11
    assert parser.pending <= 1  # at most the postamble zero is kept


def test_buffer_stays_bounded_on_endless_noise() -> None:
    parser = FrameParser()
    for _ in range(1000):
        parser.feed(bytes(range(1, 255)))
    assert parser.pending <= 1


# --------------------------------------------------------------------------- properties


def _cores(frame: Frame) -> list[bytes]:
    """The checksummed part of ``frame`` in both encodings (normal and extended)."""
    body = bytes([frame.tfi]) + frame.data
    n, dcs = len(body), (-sum(body)) & 0xFF
    normal = bytes([0x00, 0xFF, n, (-n) & 0xFF]) + body + bytes([dcs])
    m, lo = n >> 8, n & 0xFF
    extended = bytes([0x00, 0xFF, 0xFF, 0xFF, m, lo, (-(m + lo)) & 0xFF]) + body + bytes([dcs])
    return [normal, extended] if n < 0xFF else [extended]


def _came_from(item: object, data: bytes) -> bool:
    """A parsed item's bytes, checksums included, are really in the input."""
    if isinstance(item, Ack):
        return b"\x00\xff\x00\xff" in data
    if isinstance(item, Nack):
        return b"\x00\xff\xff\x00" in data
    if isinstance(item, ErrorFrame):
        return b"\x00\xff\x01\xff\x7f\x81" in data
    assert isinstance(item, Frame)
    return any(core in data for core in _cores(item))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash_nor_yield_bad_frames(data: bytes) -> None:
    items = FrameParser().feed(data)
    assert all(_came_from(item, data) for item in items)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=60), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255))),
)
def test_corrupted_frames_are_never_taken_for_good_ones(
    payloads: list[bytes], flips: list[tuple[int, int]]
) -> None:
    stream = bytearray(b"".join(build_frame(p, tfi=TFI_CHIP) for p in payloads))
    for pos, mask in flips:
        stream[pos % len(stream)] ^= mask
    items = FrameParser().feed(bytes(stream))
    assert all(_came_from(item, bytes(stream)) for item in items)
    if not flips:
        assert items == [Frame(TFI_CHIP, p) for p in payloads]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(min_size=0, max_size=270).map(lambda d: ("frame", d)),
            st.binary(max_size=30).map(lambda d: ("noise", d)),
            st.sampled_from([("raw", ACK_FRAME), ("raw", NACK_FRAME), ("raw", ERROR_FRAME)]),
        ),
        max_size=8,
    ),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=50),
)
def test_arbitrary_chunking_yields_the_same_frames(
    parts: list[tuple[str, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(
        build_frame(d[:263], tfi=TFI_CHIP) if kind == "frame" else d for kind, d in parts
    )
    whole_parser = FrameParser()
    whole = whole_parser.feed(stream)
    chunked_parser = FrameParser()
    chunked: list[object] = []
    pos = 0
    i = 0
    while pos < len(stream):
        size = cuts[i % len(cuts)]
        chunked += chunked_parser.feed(stream[pos : pos + size])
        pos += size
        i += 1
    assert chunked == whole
    assert chunked_parser.errors == whole_parser.errors


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=100), st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\x01")))
def test_a_valid_frame_after_noise_is_recovered(data: bytes, noise: bytes) -> None:
    frame = build_frame(data, tfi=TFI_CHIP)
    parser = FrameParser()
    assert parser.feed(noise + frame) == [Frame(TFI_CHIP, data)]
    assert parser.errors["junk_bytes"] == sum(1 for b in noise if b != 0x55)

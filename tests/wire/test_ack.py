"""Central's acknowledgement on the wire: topic, payload, and what a device refuses."""

from __future__ import annotations

import json

import pytest

from edge import wire
from edge.errors import PayloadError


def test_ack_topic_is_under_the_device_prefix_and_parses_back():
    topic = wire.ack_topic("site-a", "lane-1")
    assert topic == "gatepost/v1/site-a/lane-1/ack"
    assert wire.parse_topic(topic) == wire.TopicParts("site-a", "lane-1", "ack")
    assert wire.ALL_ACKS == "gatepost/v1/+/+/ack"
    assert wire.ACK_QOS == 1 and wire.ACK_RETAINED is False


def test_ack_round_trip():
    ack = wire.make_ack(41)
    parts, parsed = wire.parse_ack(wire.ack_topic("s", "d"), ack.to_json())
    assert parsed == ack and parsed.seq == 41 and (parts.site, parts.device) == ("s", "d")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[]",
        b'{"v":1,"seq":-1,"ts":"2026-11-26T08:00:00.000Z"}',
        b'{"v":1,"seq":"5","ts":"2026-11-26T08:00:00.000Z"}',
        b'{"v":1,"seq":true,"ts":"2026-11-26T08:00:00.000Z"}',
        b'{"v":1,"seq":5.0,"ts":"2026-11-26T08:00:00.000Z"}',
        b'{"v":true,"seq":5,"ts":"2026-11-26T08:00:00.000Z"}',
        b'{"v":2,"seq":5,"ts":"2026-11-26T08:00:00.000Z"}',
        b'{"v":1,"seq":5,"ts":"2026-11-26T08:00:00"}',
        b'{"v":1,"seq":5}',
        b'{"v":1,"seq":5,"ts":"2026-11-26T08:00:00.000Z","extra":1}',
        json.dumps({"v": 1, "seq": 2**63, "ts": "2026-11-26T08:00:00.000Z"}).encode(),
        b" " * 2000,
    ],
)
def test_malformed_acks_are_refused(payload: bytes):
    with pytest.raises(PayloadError):
        wire.parse_ack(wire.ack_topic("s", "d"), payload)


def test_an_ack_on_another_topic_is_refused():
    with pytest.raises(PayloadError):
        wire.parse_ack(wire.status_topic("s", "d"), wire.make_ack(1).to_json())

"""The event envelope takes no coerced types; central's time for command expiry; sync callbacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from edge.errors import PayloadError
from edge.link.clock import ClockSkew, ClockWatch
from edge.link.mqtt import MqttLink
from edge.wire import (
    EventType,
    TimeBeacon,
    VehicleArrived,
    event_topic,
    format_ts,
    make_event,
    parse_event,
)

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
TOPIC = event_topic("site-a", "lane-1", "vehicle_arrived")


def good() -> dict:
    envelope = make_event(
        "site-a", "lane-1", 7, VehicleArrived(lane_role="entry"), EventType.VEHICLE_ARRIVED, at=T0
    )
    return json.loads(envelope.to_json())


def test_a_well_typed_envelope_parses():
    envelope, data = parse_event(TOPIC, json.dumps(good()).encode())
    assert envelope.seq == 7 and envelope.type == EventType.VEHICLE_ARRIVED
    assert data == VehicleArrived(lane_role="entry")


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("seq", "7", "seq"),
        ("seq", 7.0, "seq"),
        ("seq", True, "seq"),
        ("v", "1", "v"),
        ("v", True, "v"),
        ("id", 12345678, "id"),
        ("ts", 1764230400, "ts"),
        ("data", [], "data"),
        ("type", 3, "type"),
    ],
)
def test_coercible_but_wrong_types_are_refused_with_the_field_named(field, value, where):
    raw = good()
    raw[field] = value
    with pytest.raises(PayloadError) as refused:
        parse_event(TOPIC, json.dumps(raw).encode())
    assert str(refused.value).startswith(f"envelope invalid: {where}")


def test_central_clock_follows_the_measured_skew_and_falls_back_before_any_beacon():
    skew = ClockSkew(threshold_ms=2000)
    wall = [T0]
    demo = [T0 + timedelta(days=3)]  # an accelerated demo clock, say
    central = skew.central_clock(lambda: wall[0], before_first=lambda: demo[0])
    assert central() == demo[0]
    # Central's beacon says 08:10 when the Pi reads 08:00: the Pi runs 10 minutes slow.
    skew.observe(T0 + timedelta(minutes=10), T0, mono=0.0)
    assert central() == T0 + timedelta(minutes=10)
    wall[0] = T0 + timedelta(seconds=30)
    assert central() == T0 + timedelta(minutes=10, seconds=30)


def test_clock_watch_tells_the_lane_when_its_clock_becomes_trusted_and_untrusted():
    local = [T0]
    told: list[tuple[str, int]] = []
    link = MqttLink(
        "site-a", "lane-1", host="127.0.0.1", port=1
    )  # never started: beacons handed in
    watch = ClockWatch(
        link,
        ClockSkew(threshold_ms=2000, window=1),
        clock=lambda: local[0],
        on_unsynced=lambda ms: told.append(("unsynced", ms)),
        on_synced=lambda ms: told.append(("synced", ms)),
    )

    def beacon(central: datetime) -> None:
        watch.handle(
            "gatepost/v1/time", TimeBeacon(ts=format_ts(central)).model_dump_json().encode(), False
        )

    beacon(T0)
    beacon(T0)  # still synced: told once
    assert told == [("synced", 0)]
    beacon(T0 + timedelta(seconds=30))
    assert told[-1] == ("unsynced", -30000)
    beacon(T0 + timedelta(seconds=30))
    assert len(told) == 2  # alarmed once
    beacon(T0)
    assert told[-1] == ("synced", 0) and len(told) == 3
    watch.handle("gatepost/v1/time", b'{"v":1,"ts":"yesterday"}', False)  # bad beacon: ignored
    watch.handle(
        "gatepost/v1/time",
        TimeBeacon(ts=format_ts(T0 - timedelta(hours=1))).model_dump_json().encode(),
        True,
    )  # retained: stale by construction
    assert len(told) == 3

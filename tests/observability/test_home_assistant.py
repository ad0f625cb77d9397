"""Home Assistant MQTT discovery: payloads checked against HA's documented fields, published retained.

The field tables below are Home Assistant's documented MQTT discovery options
(integrations cover.mqtt, sensor.mqtt, tag.mqtt and the shared entity/device
options): a key outside them would make Home Assistant reject the config.
Templates are rendered with Jinja2 plus the few Home Assistant helpers they
use (``now``, ``as_datetime``, ``tojson``), on documents the devices really send.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import jinja2
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.integrations.home_assistant import (
    TAG_FRESH_S,
    HomeAssistantDiscovery,
    KnownDevice,
    device_configs,
    site_configs,
)
from edge import wire
from tests.central.api.harness import SimLane, start_central

ENTITY = {
    "name",
    "unique_id",
    "object_id",
    "icon",
    "availability",
    "availability_topic",
    "availability_mode",
    "payload_available",
    "payload_not_available",
    "device",
    "entity_category",
    "enabled_by_default",
    "json_attributes_topic",
    "json_attributes_template",
    "qos",
    "encoding",
    "origin",
}
DOCUMENTED = {
    "cover": ENTITY
    | {
        "command_topic",
        "device_class",
        "optimistic",
        "payload_close",
        "payload_open",
        "payload_stop",
        "position_topic",
        "retain",
        "state_closed",
        "state_closing",
        "state_open",
        "state_opening",
        "state_stopped",
        "state_topic",
        "value_template",
        "position_template",
        "set_position_topic",
        "tilt_command_topic",
    },
    "sensor": ENTITY
    | {
        "state_topic",
        "value_template",
        "unit_of_measurement",
        "state_class",
        "device_class",
        "expire_after",
        "force_update",
        "suggested_display_precision",
    },
    "tag": {"topic", "value_template", "device"},
}
REQUIRED = {"cover": set(), "sensor": {"state_topic"}, "tag": {"topic", "device"}}
DEVICE_KEYS = {
    "identifiers",
    "connections",
    "name",
    "manufacturer",
    "model",
    "sw_version",
    "hw_version",
    "via_device",
    "suggested_area",
    "configuration_url",
}
ORIGIN_KEYS = {"name", "sw", "url"}
COVER_DEVICE_CLASSES = {
    "awning",
    "blind",
    "curtain",
    "damper",
    "door",
    "garage",
    "gate",
    "shade",
    "shutter",
    "window",
}
TOPIC = re.compile(r"^homeassistant/(cover|sensor|tag)/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config$")

LANE = KnownDevice("sunrise", "sr-in-1", "entry")
KIOSK = KnownDevice("sunrise", "sr-lobby", "kiosk")


def ha_render(template: str, payload: str, now: datetime | None = None) -> str:
    """Render as Home Assistant does for an MQTT message: ``value`` and ``value_json``."""
    env = jinja2.Environment()
    env.filters["tojson"] = lambda v: json.dumps(v)
    env.globals["now"] = lambda: now or datetime.now(UTC)
    env.globals["as_datetime"] = lambda s: datetime.fromisoformat(s)
    return env.from_string(template).render(value=payload, value_json=json.loads(payload)).strip()


def health(barrier: str, depth: int = 0) -> str:
    return json.dumps(
        {
            "v": 1,
            "ts": wire.format_ts(wire.utc_now()),
            "role": "entry",
            "version": "t",
            "uptime_s": 5,
            "outbox_depth": depth,
            "oldest_unsent_s": 0,
            "barrier": barrier,
            "clock_synced": True,
            "out_of_service": barrier == "fault",
        }
    )


def all_configs():
    return site_configs("sunrise") + device_configs(LANE) + device_configs(KIOSK)


@pytest.mark.parametrize("message", all_configs(), ids=lambda m: m.topic)
def test_payload_uses_only_documented_fields(message):
    match = TOPIC.match(message.topic)
    assert match, message.topic
    component, config = match.group(1), message.config
    assert set(config) <= DOCUMENTED[component], set(config) - DOCUMENTED[component]
    assert REQUIRED[component] <= set(config)
    device = config["device"]
    assert set(device) <= DEVICE_KEYS and device["identifiers"]
    assert set(config.get("origin", {})) <= ORIGIN_KEYS
    for key in ("state_topic", "topic", "json_attributes_topic"):
        if key in config:
            assert "+" not in config[key] and "#" not in config[key]
            assert wire.parse_topic(config[key])  # a topic of the wire contract
    for item in config.get("availability", []):
        assert set(item) == {"topic", "payload_available", "payload_not_available"}
        assert item["topic"].endswith("/status")
        assert item["payload_available"].encode() == wire.ONLINE
    assert json.loads(message.payload) == config


def test_entities_per_role_and_unique_ids():
    lane = {m.topic.split("/")[1] for m in device_configs(LANE)}
    assert lane == {"sensor", "cover", "tag"}
    assert [m.topic.split("/")[1] for m in device_configs(KIOSK)] == [
        "sensor"
    ]  # no barrier at a kiosk
    ids = [m.config["unique_id"] for m in all_configs() if "unique_id" in m.config]
    assert len(ids) == len(set(ids))
    assert len({m.topic for m in all_configs()}) == len(all_configs())


def test_barrier_cover_is_read_only_and_maps_every_barrier_state():
    cover = next(m.config for m in device_configs(LANE) if "/cover/" in m.topic)
    # No command topic: Home Assistant shows the gate but cannot raise it (audited remote raise only).
    assert not {"command_topic", "set_position_topic", "payload_open"} & set(cover)
    assert cover["device_class"] in COVER_DEVICE_CLASSES
    assert cover["state_topic"] == wire.health_topic("sunrise", "sr-in-1")
    for state in ("open", "opening", "closed", "closing"):
        assert ha_render(cover["value_template"], health(state)) == cover[f"state_{state}"]
    for state in ("fault", "unknown"):  # never shown as open or closed
        assert ha_render(cover["value_template"], health(state)) == "None"
    attrs = json.loads(ha_render(cover["json_attributes_template"], health("fault")))
    assert attrs == {"out_of_service": True, "barrier": "fault", "clock_synced": True}


def test_sensors_read_outbox_depth_and_occupancy():
    outbox = next(m.config for m in device_configs(LANE) if m.topic.endswith("_outbox/config"))
    assert ha_render(outbox["value_template"], health("closed", depth=42)) == "42"
    occupancy = site_configs("sunrise")[0].config
    doc = wire.SiteConfig(
        kind=wire.ConfigKind.OCCUPANCY,
        version=7,
        ts=wire.format_ts(wire.utc_now()),
        data={"occupied": 118, "capacity": 200, "as_of": wire.format_ts(wire.utc_now())},
    )
    assert occupancy["state_topic"] == wire.config_topic("sunrise", "occupancy")
    assert ha_render(occupancy["value_template"], doc.model_dump_json()) == "118"
    assert (
        json.loads(ha_render(occupancy["json_attributes_template"], doc.model_dump_json()))[
            "capacity"
        ]
        == 200
    )


def test_badge_tag_scans_fresh_swipes_and_ignores_replays():
    tags = [m.config for m in device_configs(LANE) if "/tag/" in m.topic]
    assert {t["topic"] for t in tags} == {
        wire.event_topic("sunrise", "sr-in-1", "badge_accepted"),
        wire.event_topic("sunrise", "sr-in-1", "badge_rejected"),
    }
    now = wire.utc_now()
    fresh = wire.make_event(
        "sunrise",
        "sr-in-1",
        1,
        wire.BadgeAccepted(badge="0A1B2C3D4E", holder_class="resident", direction="in"),
        wire.EventType.BADGE_ACCEPTED,
    )
    replay = wire.make_event(
        "sunrise",
        "sr-in-1",
        2,
        wire.BadgeRejected(badge="99", reason="unknown", direction="in"),
        wire.EventType.BADGE_REJECTED,
        at=now - timedelta(seconds=TAG_FRESH_S + 60),
    )
    assert ha_render(tags[0]["value_template"], fresh.to_json().decode(), now) == "0A1B2C3D4E"
    # Home Assistant ignores an empty tag id: a swipe replayed from an outbox fires nothing.
    assert ha_render(tags[1]["value_template"], replay.to_json().decode(), now) == ""


class Retained:
    """A fresh subscriber: whatever it gets at once with the retain flag is stored on the broker."""

    def __init__(self, port: int) -> None:
        self.got: dict[str, tuple[bytes, bool]] = {}
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.got.__setitem__(
            m.topic, (bytes(m.payload), m.retain)
        )
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("homeassistant/#", qos=1)
        self.client.loop_start()

    def wait(self, count: int, timeout: float = 15.0) -> dict[str, tuple[bytes, bool]]:
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        self.client.loop_stop()
        self.client.disconnect()
        return dict(self.got)


def test_central_publishes_discovery_retained_when_a_lane_reports(tmp_path, broker, monkeypatch):
    monkeypatch.setenv("GATEPOST_HA_DISCOVERY", "true")
    central = start_central(tmp_path, broker.port)
    lane = SimLane("sunrise", "sr-in-1", broker.port, role="entry").connect()
    try:
        assert central.app.state.home_assistant is not None
        live = Retained(broker.port)
        lane.health(outbox_depth=2)
        expected = {m.topic: m.config for m in site_configs("sunrise") + device_configs(LANE)}
        seen = live.wait(len(expected))
    finally:
        lane.close()
        central.stop()
    assert set(seen) == set(expected)
    for topic, (payload, _) in seen.items():
        assert json.loads(payload) == expected[topic]

    # Kept by the broker: a client arriving after central stopped still gets every config, retained.
    late = Retained(broker.port).wait(len(expected))
    assert set(late) == set(expected)
    for topic, (payload, retained) in late.items():
        assert retained, f"{topic} was not retained"
        assert json.loads(payload) == expected[topic]


def test_announce_publishes_each_device_once_and_again_when_its_role_is_learned():
    sent: list[tuple[str, bool]] = []

    class Recorder:
        def publish(self, topic, payload, qos=1, retain=False):
            sent.append((topic, retain))

    discovery = HomeAssistantDiscovery(Recorder())
    first = discovery.announce([KnownDevice("s1", "d1", None)])
    assert first == 2 and all(r for _, r in sent)  # site occupancy + outbox sensor
    assert discovery.announce([KnownDevice("s1", "d1", None)]) == 0
    assert discovery.announce([KnownDevice("s1", "d1", "exit")]) == 4  # outbox, cover, two tags
    assert discovery.announce([KnownDevice("s1", "d1", "exit")]) == 0


def test_discovery_is_off_unless_enabled(tmp_path, broker, monkeypatch):
    monkeypatch.delenv("GATEPOST_HA_DISCOVERY", raising=False)
    central = start_central(tmp_path, broker.port)
    try:
        assert getattr(central.app.state, "home_assistant", None) is None
    finally:
        central.stop()

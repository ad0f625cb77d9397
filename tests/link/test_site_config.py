"""Site config: applied live, only if valid and newer, and still there after a reboot offline."""

from __future__ import annotations

import pytest

from edge.link.mqtt import MqttLink
from edge.link.site_config import SiteConfigStore
from edge.wire import ConfigKind, SiteConfig, config_topic
from tests.link.helpers import publish, wait_until

TS = "2026-11-27T08:00:00.000Z"


def doc(kind: str, version: int, data: dict) -> bytes:
    return (
        SiteConfig(kind=ConfigKind(kind), version=version, ts=TS, data=data)
        .model_dump_json()
        .encode()
    )


@pytest.fixture
def store(broker, tmp_path):
    link = MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port)
    configs = SiteConfigStore(link, "site-a", tmp_path / "state.db")
    applied: list[SiteConfig] = []
    configs.on_change(applied.append)
    configs.start()
    link.start()
    assert link.connected.wait(15)
    yield configs, applied
    link.stop()
    configs.close()


def test_retained_config_is_applied_on_connect_and_kept_after_an_offline_reboot(broker, tmp_path):
    publish(
        broker.port,
        config_topic("site-a", "capacity"),
        doc("capacity", 3, {"capacity": 120, "reserved": 20}),
        retain=True,
    )
    link = MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port)
    configs = SiteConfigStore(link, "site-a", tmp_path / "state.db")
    seen = []
    configs.on_change(seen.append, kind="capacity")
    configs.start()
    link.start()
    assert wait_until(lambda: len(seen) == 1, 15)
    assert configs.data("capacity") == {"capacity": 120, "reserved": 20}
    link.stop()
    configs.close()
    broker.stop()
    # Reboot with no broker at all: the lane still knows its capacity.
    offline = SiteConfigStore(None, "site-a", tmp_path / "state.db")
    held = offline.get(ConfigKind.CAPACITY)
    assert held is not None and held.version == 3 and held.data["capacity"] == 120
    assert offline.get("tariff") is None
    offline.close()


def test_live_updates_apply_only_when_newer_and_valid(broker, store):
    configs, applied = store
    topic = config_topic("site-a", "occupancy")
    publish(broker.port, topic, doc("occupancy", 5, {"occupied": 40, "capacity": 120, "as_of": TS}))
    assert wait_until(lambda: len(applied) == 1, 15)
    publish(
        broker.port, topic, doc("occupancy", 4, {"occupied": 1, "capacity": 120, "as_of": TS})
    )  # older
    publish(
        broker.port, topic, doc("occupancy", 6, {"occupied": -3, "capacity": 120, "as_of": TS})
    )  # invalid
    publish(broker.port, topic, b"not json at all")
    publish(broker.port, config_topic("site-a", "capacity"), doc("occupancy", 9, {}))  # wrong topic
    publish(broker.port, topic, doc("occupancy", 7, {"occupied": 41, "capacity": 120, "as_of": TS}))
    assert wait_until(lambda: len(applied) == 2, 15)
    assert [d.version for d in applied] == [5, 7]
    assert configs.data("occupancy")["occupied"] == 41


def test_a_kind_specific_validator_guards_the_tariff(broker, store):
    configs, applied = store

    def tariff_check(data: dict) -> None:
        if data.get("currency") != "CNY":
            raise ValueError("tariff currency must be CNY")

    configs.validate_with("tariff", tariff_check)
    topic = config_topic("site-a", "tariff")
    publish(broker.port, topic, doc("tariff", 1, {"currency": "USD"}))
    publish(broker.port, topic, doc("tariff", 2, {"currency": "CNY", "bands": []}))
    assert wait_until(lambda: len(applied) == 1, 15)
    assert configs.get("tariff").version == 2


def test_a_cleared_retained_config_keeps_the_last_good_one(broker, store):
    configs, applied = store
    topic = config_topic("site-a", "capacity")
    publish(broker.port, topic, doc("capacity", 1, {"capacity": 50}), retain=True)
    assert wait_until(lambda: len(applied) == 1, 15)
    publish(broker.port, topic, b"", retain=True)  # someone cleared the retained message
    assert configs.handle(topic, b"", True) is False
    publish(broker.port, topic, doc("capacity", 2, {"capacity": 60}))  # a marker to wait on
    assert wait_until(lambda: len(applied) == 2, 15)
    assert [d.version for d in applied] == [1, 2]
    assert configs.data("capacity") == {"capacity": 60}

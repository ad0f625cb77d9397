"""Health: retained, built from the outbox, the clock and the lane's providers."""

from __future__ import annotations

import json

from edge import __version__
from edge.link.clock import ClockSkew
from edge.link.health import HealthReporter
from edge.link.mqtt import MqttLink
from edge.link.outbox import Outbox
from edge.wire import EventType, Health, PaymentConfirmed, health_topic
from tests.link.helpers import Collector, wait_until

TOPIC = health_topic("site-a", "lane-1")


def test_health_is_published_retained_with_outbox_and_provider_fields(broker, tmp_path):
    box = Outbox(tmp_path / "o.db", "site-a", "lane-1")
    box.emit(
        EventType.PAYMENT_CONFIRMED,
        PaymentConfirmed(serial="S", fee_minor=5, currency="CNY", method="cash"),
    )
    link = MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port, role="exit")
    reporter = HealthReporter(
        link, "site-a", "lane-1", role="exit", outbox=box, skew=ClockSkew(), interval_s=0.2
    )
    reporter.provide(lambda: {"barrier": "closed", "readers": {"card": "ok", "badge": "fault"}})
    reporter.provide(lambda: {"no_such_field": 1})  # invalid: left out, logged
    reporter.provide(lambda: 1 / 0)  # broken: left out, logged
    assert reporter.publish_now() is None  # offline: nothing queued
    link.start()
    reporter.start()
    try:
        assert link.connected.wait(15)
        assert wait_until(lambda: reporter.last is not None, 15)
        late = Collector(broker.port, TOPIC).start()  # a dashboard that starts later
        first = late.wait_for(1)[0]
        assert first.retained
        health = Health.model_validate_json(first.payload)
        assert health.role == "exit" and health.version == __version__
        assert health.outbox_depth == 1 and health.barrier == "closed"
        assert health.readers == {"card": "ok", "badge": "fault"}
        assert health.clock_skew_ms is None and health.clock_synced is False
        assert len(late.wait_for(3, 15)) >= 3  # and again every interval
        late.stop()
    finally:
        reporter.stop()
        link.stop()
        box.close()


def test_health_build_without_a_broker_is_valid_json():
    never_started = MqttLink("site-a", "kiosk-1", host="127.0.0.1", port=1, role="kiosk")
    reporter = HealthReporter(never_started, "site-a", "kiosk-1", role="kiosk")
    doc = json.loads(reporter.build().model_dump_json())
    assert doc["role"] == "kiosk" and doc["outbox_depth"] == 0 and doc["uptime_s"] >= 0
    assert reporter.publish_now() is None

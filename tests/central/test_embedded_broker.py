"""The demo's in-process broker carries QoS 1, retained messages and the Last Will."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest

from central.embedded_broker import EmbeddedBroker
from edge.errors import GatepostError
from tests.support.services import free_port
from tests.support.wait import subscribe_and_wait, wait_until


def _client(port: int, client_id: str, sink: list) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    c.on_message = lambda cl, u, m: sink.append((m.topic, m.payload, m.retain))
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_embedded_broker_carries_qos1_retained_and_will():
    port = free_port()
    broker = EmbeddedBroker(port).start()
    try:
        seen: list = []
        sub = _client(port, "central", seen)
        subscribe_and_wait(sub, "gatepost/v1/#")
        lane = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lane-1")
        lane.will_set("gatepost/v1/s/lane-1/status", b"offline", qos=1, retain=True)
        lane.connect("127.0.0.1", port)
        lane.loop_start()
        lane.publish("gatepost/v1/s/config/tariff", b"{}", qos=1, retain=True).wait_for_publish(5)
        for i in range(200):
            lane.publish("gatepost/v1/s/lane-1/event/vehicle_arrived", str(i).encode(), qos=1)
        wait_until(lambda: len(seen) >= 201, what="200 events and the retained config")
        events = [int(p) for t, p, _ in seen if t.endswith("vehicle_arrived")]
        assert events == list(range(200))
        lane._sock.close()  # the connection dies without DISCONNECT: the Will fires
        wait_until(
            lambda: any(t.endswith("/status") and p == b"offline" for t, p, _ in seen),
            what="the Last Will",
        )
        late: list = []
        subscribe_and_wait(_client(port, "late", late), "gatepost/v1/s/config/+")
        wait_until(
            lambda: ("gatepost/v1/s/config/tariff", b"{}", True) in late, what="the retained config"
        )
        sub.loop_stop()
    finally:
        broker.stop()


def test_a_port_in_use_is_a_clear_error():
    port = free_port()
    first = EmbeddedBroker(port).start()
    try:
        with pytest.raises(GatepostError, match="could not start"):
            EmbeddedBroker(port).start(timeout=5)
    finally:
        first.stop()

"""The housekeeper: time beacon for clockless Pis; occupancy samples, reconcile and republish."""

from __future__ import annotations

import threading
from datetime import timedelta

import paho.mqtt.client as mqtt
from sqlalchemy import select

from central.db.models import OccupancySample
from central.db.session import make_sessions
from central.ingest.housekeeping import Housekeeper
from central.mqtt import BrokerAddress, MqttLink
from edge import wire
from tests.central.ingest.conftest import entered
from tests.central.ingest.test_occupancy import NOW, apply, capacity, msg, read_retained


def test_beacon_and_occupancy_tick(broker, engine):
    sessions = make_sessions(engine)
    apply(sessions, capacity(40))
    apply(sessions, *(msg(entered("s1", "in-1", s)) for s in range(1, 6)))

    beacons: list[wire.TimeBeacon] = []
    got = threading.Event()
    lane = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="lane-clock")

    def on_message(_c, _u, m):
        beacons.append(wire.TimeBeacon.model_validate_json(m.payload))
        got.set()

    lane.on_message = on_message
    subscribed = threading.Event()
    lane.on_subscribe = lambda *_: subscribed.set()
    lane.on_connect = lambda c, *_: c.subscribe(wire.TIME_TOPIC, 0)
    lane.connect("127.0.0.1", broker.port)
    lane.loop_start()
    link = MqttLink(BrokerAddress("127.0.0.1", broker.port), "central-house-test").start()
    clock_times = iter([NOW + timedelta(minutes=i) for i in range(1000)])
    house = Housekeeper(
        link, engine, occupancy_every_s=0.2, beacon_every_s=0.2, clock=lambda: next(clock_times)
    )
    try:
        assert subscribed.wait(5)
        house.start()
        assert got.wait(5), "no time beacon"
        assert wire.parse_ts(beacons[0].ts) >= NOW

        def sampled() -> int:
            with engine.connect() as conn:
                return len(conn.execute(select(OccupancySample.occupied)).all())

        deadline = threading.Event()
        for _ in range(50):
            if sampled() >= 2:
                break
            deadline.wait(0.1)
        with engine.connect() as conn:
            points = conn.execute(select(OccupancySample.site, OccupancySample.occupied)).all()
        assert len(points) >= 2 and set(points) == {("s1", 5)}
        payload = read_retained(broker.port, wire.config_topic("s1", "occupancy"))
        assert payload is not None
        assert (
            wire.parse_site_config(wire.config_topic("s1", "occupancy"), payload).data["occupied"]
            == 5
        )
    finally:
        house.stop()
        link.stop()
        lane.disconnect()
        lane.loop_stop()

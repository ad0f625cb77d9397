"""Fixtures for ingest tests: a migrated database on each backend, a publisher, event builders."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import Engine, func, select

from central.db.models import Event, Quarantined
from central.db.session import make_engine, upgrade
from central.ingest.hooks import CommitHooks
from central.ingest.worker import IngestWorker
from central.mqtt import BrokerAddress, MqttLink
from edge import wire
from edge.wire import EventType


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/central.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng)  # head: 0004 gives quarantine rows their claimed seq
    yield eng
    eng.dispose()


class Publisher:
    """A plain paho publisher standing in for the lanes (QoS 1, waits for every PUBACK)."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"lane-sim-{time.monotonic_ns()}"
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(
        self, topic: str, payload: bytes, retain: bool = False, qos: int = 1
    ) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def event(self, env: wire.Envelope, *, topic: str | None = None) -> mqtt.MQTTMessageInfo:
        return self.send(topic or wire.event_topic(env.site, env.device, env.type), env.to_json())

    def flush(self, infos: list[mqtt.MQTTMessageInfo], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker) -> Iterator[Publisher]:
    pub = Publisher(broker.port)
    yield pub
    pub.close()


T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def entered(
    site: str,
    device: str,
    seq: int,
    *,
    at: datetime | None = None,
    serial: str | None = None,
    event_id: str | None = None,
) -> wire.Envelope:
    return wire.make_event(
        site,
        device,
        seq,
        wire.VehiclePassed(serial=serial),
        EventType.VEHICLE_ENTERED,
        at=at or T0 + timedelta(seconds=seq),
        event_id=event_id,
    )


def exited(
    site: str,
    device: str,
    seq: int,
    *,
    at: datetime | None = None,
    serial: str | None = None,
    minutes: int | None = None,
    fee: int | None = None,
) -> wire.Envelope:
    return wire.make_event(
        site,
        device,
        seq,
        wire.VehiclePassed(serial=serial, minutes=minutes, fee_minor=fee),
        EventType.VEHICLE_EXITED,
        at=at or T0 + timedelta(seconds=seq),
    )


def arrived(site: str, device: str, seq: int, event_id: str | None = None) -> wire.Envelope:
    return wire.make_event(
        site,
        device,
        seq,
        wire.VehicleArrived(lane_role="entry"),
        EventType.VEHICLE_ARRIVED,
        at=T0,
        event_id=event_id,
    )


def start_worker(
    port: int, engine: Engine, client_id: str = "central-test-ingest-0", **kwargs
) -> IngestWorker:
    link = MqttLink(
        BrokerAddress("127.0.0.1", port), client_id, manual_ack=True, clean_session=False
    )
    return IngestWorker(link, engine, hooks=kwargs.pop("hooks", CommitHooks()), **kwargs).start()


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def count(engine: Engine, model=Event) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def quarantine_reasons(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r for (r,) in conn.execute(select(Quarantined.reason).order_by(Quarantined.id))]


seq_counter = itertools.count(1)


class AckListener:
    """Collects every central ack on the broker, per device, in arrival order."""

    def __init__(self, port: int) -> None:
        self.acks: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"acks-{time.monotonic_ns()}"
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(wire.ALL_ACKS, 1)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK for the ack filter"

    def _on_message(self, _c, _u, msg) -> None:
        parts, ack = wire.parse_ack(msg.topic, msg.payload)
        assert not msg.retain
        with self._lock:
            self.acks.setdefault(parts.device or "", []).append(ack.seq)

    def highest(self, device: str) -> int:
        with self._lock:
            return max(self.acks.get(device, [0]))

    def count(self, device: str) -> int:
        with self._lock:
            return len(self.acks.get(device, []))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def acks(broker) -> Iterator[AckListener]:
    listener = AckListener(broker.port)
    yield listener
    listener.close()

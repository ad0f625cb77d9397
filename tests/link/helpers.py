"""Test-side MQTT clients: a subscriber that records, a publisher that plays central, and
central's real ingest (it stores events and sends central's ack that ends a row's life)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from central.db.models import Event
from central.db.session import make_engine, upgrade
from central.ingest.worker import IngestWorker
from central.mqtt import BrokerAddress
from central.mqtt import MqttLink as CentralLink


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retained: bool


class Collector:
    """A plain paho client that records every message on ``topic_filter``.

    ``persistent=True`` keeps its session (and queued QoS 1 messages) at the
    broker while it is disconnected, like central's ingest does.
    """

    def __init__(
        self,
        port: int,
        topic_filter: str,
        *,
        client_id: str | None = None,
        persistent: bool = False,
        qos: int = 1,
    ) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._filter = topic_filter
        self._qos = qos
        self._port = port
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"collector-{id(self)}",
            clean_session=not persistent,
            protocol=paho.MQTTv311,
        )
        # paho annotates whole seconds; fractions work (it adds them to a monotonic clock)
        self.client.reconnect_delay_set(cast(int, 0.1), cast(int, 0.5))
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(self._filter, self._qos)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, msg.payload, bool(msg.retain)))
            self._cond.notify_all()

    def start(self) -> Collector:
        self._subscribed.clear()
        self.client.connect("127.0.0.1", self._port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(15), "collector did not subscribe"
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.messages)


def publish(
    port: int, topic: str, payload: bytes | str, *, retain: bool = False, qos: int = 1
) -> None:
    """Publish one message and wait for the broker to take it (central's side, in tests)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    info = client.publish(topic, payload, qos=qos, retain=retain)
    info.wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Central:
    """Central's real ingest worker on a SQLite file: stores events, acknowledges them to the device.

    Persistent session (like ``gatepost central run``), so events published while it is
    stopped wait for it at the broker.
    """

    def __init__(self, port: int, db_path: Path, client_id: str = "central-ingest-test") -> None:
        self.port = port
        self.client_id = client_id
        self.engine = make_engine(f"sqlite:///{db_path}")
        upgrade(self.engine)
        self.worker: IngestWorker | None = None

    def start(self, **worker: float) -> Central:
        """Start ingest; ``worker`` goes to :class:`IngestWorker` (e.g. ``linger_s``)."""
        link = CentralLink(
            BrokerAddress("127.0.0.1", self.port),
            self.client_id,
            manual_ack=True,
            clean_session=False,
        )
        self.worker = IngestWorker(link, self.engine, **worker).start()  # type: ignore[arg-type]
        return self

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def close(self) -> None:
        self.stop()
        self.engine.dispose()

    def stored(self, device: str | None = None) -> list[int]:
        """Seqs stored, in seq order (one entry per row: a duplicate would show twice)."""
        query = select(Event.seq).order_by(Event.seq)
        if device is not None:
            query = query.where(Event.device == device)
        with self.engine.connect() as conn:
            return [seq for (seq,) in conn.execute(query)]

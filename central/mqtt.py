"""Central's one door to the broker: the only central module that imports paho.

:class:`MqttLink` wraps a paho client behind subscribe / publish / ack, hands
out immutable :class:`Message` objects, and re-subscribes after a reconnect.
With ``manual_ack=True`` nothing is acknowledged until :meth:`MqttLink.ack`,
which is how ingest acknowledges a message only after its database commit.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edge.errors import GatepostError

log = logging.getLogger(__name__)


class BrokerError(GatepostError, ConnectionError):
    """The broker could not be reached, refused us, or refused a request."""


@dataclass(slots=True, frozen=True)
class Message:
    """One message as received; ``generation`` names the connection it came on.

    A message id is only meaningful on the connection that delivered it, so an
    ack for an older generation is skipped: the broker redelivers that message
    to the persistent session anyway.
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    received_at: datetime
    generation: int


@dataclass(slots=True, frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    keepalive_s: int = 30


MessageHandler = Callable[[Message], None]


class MqttLink:
    """A paho client on its own network thread.

    ``clean_session=False`` gives a persistent session: QoS 1 messages that
    arrive while we are away, or that we never acknowledged, are delivered
    again on the next connection with the same ``client_id``.
    """

    def __init__(
        self,
        address: BrokerAddress,
        client_id: str,
        *,
        manual_ack: bool = False,
        clean_session: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.address = address
        self.client_id = client_id
        self._clock = clock
        self._handler: MessageHandler | None = None
        self._filters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.connected = threading.Event()
        """Set once connected and every subscription is confirmed (SUBACK), cleared on disconnect."""
        self._pending_sub: int | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            manual_ack=manual_ack,
            protocol=paho.MQTTv311,
        )
        if address.username is not None:
            self._client.username_pw_set(address.username, address.password)
        if address.tls_ca:
            self._client.tls_set(ca_certs=address.tls_ca, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(1000)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    # ------------------------------------------------------------------ lifecycle

    def on_message(self, handler: MessageHandler) -> None:
        """Set the one handler; it runs on the network thread and must be quick."""
        self._handler = handler

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now (if connected) and again after every reconnect."""
        with self._lock:
            self._filters[topic_filter] = qos
        if self.connected.is_set():
            self._client.subscribe(topic_filter, qos)

    def will_set(self, topic: str, payload: bytes, qos: int = 1, retain: bool = True) -> None:
        self._client.will_set(topic, payload, qos=qos, retain=retain)

    def start(self, wait_s: float | None = 10.0) -> MqttLink:
        """Connect and run the network thread; with ``wait_s`` wait for the first CONNACK."""
        try:
            self._client.connect_async(
                self.address.host, self.address.port, keepalive=self.address.keepalive_s
            )
        except (OSError, ValueError) as exc:
            raise BrokerError(
                f"cannot connect to {self.address.host}:{self.address.port}: {exc}"
            ) from exc
        self._client.loop_start()
        if wait_s is not None and not self.connected.wait(wait_s):
            self.stop()
            raise BrokerError(
                f"no answer from broker {self.address.host}:{self.address.port} in {wait_s}s"
            )
        return self

    def stop(self) -> None:
        """Disconnect cleanly (the persistent session and un-acked messages stay with the broker)."""
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()
            self.connected.clear()

    # ------------------------------------------------------------------ traffic

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise BrokerError(f"publish to {topic} refused: {paho.error_string(info.rc)}")

    def ack(self, message: Message) -> bool:
        """Acknowledge ``message`` if it came on the current connection; return whether it was sent."""
        if message.qos == 0:
            return True
        # Not ``connected``: a persistent session's backlog arrives before the SUBACK that sets it.
        if message.generation != self._generation:
            return False
        rc = self._client.ack(message.mid, message.qos)
        return rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    @property
    def generation(self) -> int:
        return self._generation

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error(
                "broker refused connection",
                extra={"client_id": self.client_id, "reason": str(reason)},
            )
            return
        self._generation += 1
        with self._lock:
            filters = list(self._filters.items())
        log.info(
            "connected to broker",
            extra={"client_id": self.client_id, "generation": self._generation},
        )
        if not filters:
            self.connected.set()
            return
        _rc, mid = client.subscribe(filters)
        self._pending_sub = mid

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, mid: int, reasons: Any, _props: Any
    ) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.error(
                "broker refused a subscription",
                extra={"client_id": self.client_id, "reasons": ", ".join(failed)},
            )
        if mid == self._pending_sub:
            self._pending_sub = None
            self.connected.set()

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning(
                "lost the broker; reconnecting",
                extra={"client_id": self.client_id, "reason": str(reason)},
            )

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        handler = self._handler
        if handler is None:
            return
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", errors="backslashreplace")
        handler(
            Message(
                topic=topic,
                payload=bytes(msg.payload),
                qos=msg.qos,
                retain=bool(msg.retain),
                mid=msg.mid,
                received_at=self._clock(),
                generation=self._generation,
            )
        )


def subscription(topic_filter: str, share_group: str | None) -> str:
    """``topic_filter``, or its ``$share/<group>/…`` form so workers split the stream."""
    return f"$share/{share_group}/{topic_filter}" if share_group else topic_filter

"""The device's one connection to the broker: the only edge module that imports paho.

MQTT 3.1.1 through paho-mqtt's callback API version 2, with a persistent
session (``clean_session=False``) so commands and config the broker queued
while the lane was away arrive after it reconnects, and so paho itself
re-sends any QoS 1 message that was in flight when the connection dropped.

Availability follows DESIGN.md §3: the Last Will sets the retained
``…/status`` to ``offline``; every (re)connect publishes ``online`` retained;
a clean :meth:`MqttLink.stop` publishes ``offline`` itself, since a clean
disconnect discards the Will.

Everything else on the edge sees this class through :class:`edge.link.port.Link`.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edge.errors import ConfigError, GatepostError
from edge.link.port import MessageHandler, PublishedHandler
from edge.wire import OFFLINE, ONLINE, check_id, status_topic

if TYPE_CHECKING:
    from edge.config import AgentConfig

log = logging.getLogger(__name__)


class LinkError(GatepostError, ConnectionError):
    """paho refused a publish or subscribe for a reason other than being offline."""


@dataclass(slots=True, frozen=True)
class _Subscription:
    topic_filter: str
    qos: int
    handler: MessageHandler


class MqttLink:
    """A lane's or kiosk's MQTT connection, reconnecting on its own with backoff.

    :param tls: ``{"ca_file": …, "cert_file": …, "key_file": …}``; ``ca_file``
        alone verifies the broker, the pair adds a client certificate.
    :param max_inflight: QoS 1 messages paho sends before waiting for PUBACKs;
        keep it above the forwarder's window so health and command results
        are not stuck behind a replay.
    """

    def __init__(
        self,
        site: str,
        device: str,
        *,
        host: str,
        port: int = 1883,
        username: str | None = None,
        password: str | None = None,
        tls: dict[str, str] | None = None,
        keepalive: int = 30,
        client_id: str | None = None,
        role: Literal["entry", "exit", "kiosk", "booth"] = "entry",
        max_inflight: int = 64,
        reconnect_min_s: float = 1,
        reconnect_max_s: float = 30,
    ) -> None:
        self.site = check_id(site, "site")
        self.device = check_id(device, "device")
        self.role = role
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.connected = threading.Event()
        """Set while the broker has accepted this connection."""
        self._status_topic = status_topic(site, device)
        self._subs: list[_Subscription] = []
        self._subs_lock = threading.Lock()
        self._published: list[PublishedHandler] = []
        self._on_connect: list[Callable[[], None]] = []
        self._on_disconnect: list[Callable[[], None]] = []
        self._started = False
        self._ready_mid: int | None = None

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            # The broker forces client id = login (use_username_as_clientid, deploy/mosquitto):
            # sending the login keeps the persistent session's name the same on both sides.
            client_id=client_id or username or f"gatepost-{site}-{device}",
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        client.enable_logger(logging.getLogger("edge.link.paho"))
        client.suppress_exceptions = True
        client.will_set(self._status_topic, OFFLINE, qos=1, retain=True)
        if username is not None:
            client.username_pw_set(username, password)
        if tls:
            self._configure_tls(client, tls)
        # paho annotates whole seconds, but it only adds the delay to a monotonic clock: a
        # fraction works (the tests reconnect in 0.2 s)
        client.reconnect_delay_set(
            min_delay=cast(int, reconnect_min_s), max_delay=cast(int, reconnect_max_s)
        )
        client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(
            0
        )  # unbounded: the outbox forwarder bounds what it hands over
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_subscribe = self._handle_subscribe
        client.on_publish = self._handle_publish
        self._client = client

    @staticmethod
    def _configure_tls(client: paho.Client, tls: dict[str, str]) -> None:
        unknown = set(tls) - {"ca_file", "cert_file", "key_file"}
        if unknown:
            raise ConfigError(
                f"unknown TLS settings {sorted(unknown)}; use ca_file, cert_file, key_file"
            )
        for key in ("ca_file", "cert_file", "key_file"):
            if tls.get(key) and not Path(tls[key]).is_file():
                raise ConfigError(f"TLS {key} {tls[key]!r} does not exist")
        if bool(tls.get("cert_file")) != bool(tls.get("key_file")):
            raise ConfigError("TLS cert_file and key_file go together")
        client.tls_set(
            ca_certs=tls.get("ca_file") or None,
            certfile=tls.get("cert_file") or None,
            keyfile=tls.get("key_file") or None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background; paho keeps retrying (1 s doubling to 30 s) until stop()."""
        if self._started:
            return
        self._started = True
        log.info("connecting to mqtt %s:%d as %s/%s", self.host, self.port, self.site, self.device)
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive)
        self._client.loop_start()

    def stop(self, timeout: float = 2.0) -> None:
        """Say ``offline`` (a clean disconnect skips the Will), disconnect, end the thread."""
        if not self._started:
            return
        self._started = False
        if self.connected.is_set():
            info = self._client.publish(self._status_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not confirmed before disconnect: %s", exc)
        # paho's network thread may spin once more on the closed socket and log that at ERROR;
        # the disconnect is ours, so its logging ends here.
        self._client.disable_logger()
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()
        log.info("mqtt link stopped")

    # ------------------------------------------------------------------ Link interface

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> int:
        """Hand a message to paho and return its mid.

        Offline, a QoS ≥ 1 message is kept by paho and sent on reconnect; the
        outbox (not this method) is what makes events survive a restart.
        """
        data = payload.encode() if isinstance(payload, str) else payload
        try:
            info = self._client.publish(topic, data, qos=qos, retain=retain)
        except ValueError as exc:
            log.error("publish to %r refused: %s", topic, exc)
            raise LinkError(f"publish to {topic!r} refused: {exc}") from exc
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.error("publish to %r failed: %s", topic, paho.error_string(info.rc))
            raise LinkError(f"publish to {topic!r} failed: {paho.error_string(info.rc)}")
        return info.mid

    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Route matching messages to ``handler``; re-subscribed after every reconnect.

        Subscribe before :meth:`start`: :attr:`connected` is set only once the
        broker has acknowledged the subscriptions known at connect time.
        """
        _check_filter(topic_filter)
        with self._subs_lock:
            self._subs.append(_Subscription(topic_filter, qos, handler))
        if self._client.is_connected():
            self._client.subscribe(topic_filter, qos)

    def add_published_listener(self, handler: PublishedHandler) -> None:
        self._published.append(handler)

    def add_connect_listener(self, handler: Callable[[], None]) -> None:
        self._on_connect.append(handler)

    def add_disconnect_listener(self, handler: Callable[[], None]) -> None:
        self._on_disconnect.append(handler)

    # ------------------------------------------------------------------ paho callbacks

    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused connection: %s", reason)
            return
        log.info("mqtt connected (session present: %s)", flags.session_present)
        with self._subs_lock:
            filters: dict[str, int] = {}
            for sub in self._subs:
                filters[sub.topic_filter] = max(sub.qos, filters.get(sub.topic_filter, 0))
        if not filters:
            self._become_ready(client)
            return
        # One SUBSCRIBE for all filters; the link counts as connected once it is acknowledged,
        # so nothing published "after connect" can race ahead of our own subscriptions.
        rc, mid = client.subscribe(sorted(filters.items()))
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.error("subscribe after connect failed: %s", paho.error_string(rc))
            self._become_ready(client)
            return
        self._ready_mid = mid

    def _handle_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        for code in reasons:
            if code.is_failure:
                log.error("broker refused a subscription (ACL?): %s", code)
        if mid == self._ready_mid:
            self._ready_mid = None
            self._become_ready(client)

    def _become_ready(self, client: paho.Client) -> None:
        client.publish(self._status_topic, ONLINE, qos=1, retain=True)
        self.connected.set()
        self._call_all(self._on_connect, "connect")

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if not self._started:
            log.info("mqtt disconnected: %s", reason)
        elif was:
            log.warning("mqtt disconnected: %s; reconnecting", reason)
        self._call_all(self._on_disconnect, "disconnect")

    def _handle_message(
        self, client: paho.Client, userdata: Any, message: paho.MQTTMessage
    ) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            log.warning("dropping message with a non-UTF-8 topic")
            return
        with self._subs_lock:
            handlers = [
                s.handler for s in self._subs if paho.topic_matches_sub(s.topic_filter, topic)
            ]
        for handler in handlers:
            try:
                handler(topic, bytes(message.payload), bool(message.retain))
            except Exception:
                log.exception("handler for %s failed", topic)

    def _handle_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        ok = not reason.is_failure
        for handler in list(self._published):
            try:
                handler(mid, ok)
            except Exception:
                log.exception("publish listener failed")

    @staticmethod
    def _call_all(listeners: list[Callable[[], None]], what: str) -> None:
        for listener in list(listeners):
            try:
                listener()
            except Exception:
                log.exception("%s listener failed", what)


def _check_filter(topic_filter: str) -> None:
    """MQTT 3.1.1 §4.7: ``#`` only as the whole last level, ``+`` only as a whole level."""
    levels = topic_filter.split("/") if topic_filter else []
    bad = (
        not levels
        or "\0" in topic_filter
        or any(
            ("#" in level and (level != "#" or i != len(levels) - 1))
            or ("+" in level and level != "+")
            for i, level in enumerate(levels)
        )
    )
    if bad:
        log.error("invalid topic filter %r", topic_filter)
        raise LinkError(f"invalid topic filter {topic_filter!r}")


def link_from_config(config: AgentConfig, **options: Any) -> MqttLink:
    """The agent's link as its [link] section says; with ``hardware.simulate`` a missing
    password or missing TLS files are tolerated (logged), never on a real device."""
    cfg, device, simulate = config.link, config.device, config.hardware.simulate
    try:
        password = cfg.password()
    except ConfigError:
        if not simulate:
            raise
        log.warning("simulate: no broker password; the link will keep retrying")
        password = None
    tls = cfg.tls.model_dump(exclude_none=True) if cfg.tls else None
    if simulate and tls and not all(Path(v).is_file() for v in tls.values()):
        log.warning("simulate: TLS files missing; connecting without TLS (simulation only)")
        tls = None
    return MqttLink(
        device.site,
        device.id,
        host=cfg.host,
        port=cfg.port,
        tls=tls,
        username=cfg.username or device.id,
        password=password,
        keepalive=cfg.keepalive_s,
        role=device.role,
        **options,
    )

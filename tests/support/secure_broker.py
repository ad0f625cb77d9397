"""The shipped Mosquitto config run for real, for deploy, security and bridge tests.

``deploy/mosquitto/gatepost.conf`` with only its paths and ports moved into
the test's directory; credentials and ACL come from ``gatepost provision``
(:class:`central.provision.Provisioner`), certificates from
``deploy/mosquitto/make-certs.sh``. A site broker of the multi-site path adds
the bridge config that ``gatepost provision SITE --bridge`` rendered.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.support.services import Broker, free_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONF = REPO / "deploy" / "mosquitto" / "gatepost.conf"
MAKE_CERTS = REPO / "deploy" / "mosquitto" / "make-certs.sh"


def make_certs(tls_dir: Path, host: str = "localhost") -> Path:
    """A CA and a server certificate for ``host`` in ``tls_dir``, as the installer makes them."""
    subprocess.run(
        ["bash", str(MAKE_CERTS), str(tls_dir), host, "30"], check=True, capture_output=True
    )
    return tls_dir


def relocate(text: str, etc: Path) -> str:
    """A shipped config's ``/etc/gatepost`` paths moved to the test's ``etc``."""
    return text.replace("/etc/gatepost", str(etc))


@dataclass
class SecureBroker(Broker):
    """The shipped config with /etc/gatepost and /var/lib/mosquitto moved under workdir.

    ``port`` is the loopback listener (central's), ``tls_port`` the device
    listener; ``bridge`` is appended as it would sit in conf.d/ after
    gatepost.conf. A restart keeps both ports and the persistence file.
    """

    etc: Path = Path()
    tls_port: int = 0
    bridge: str = ""

    def write_config(self) -> None:
        if not self.tls_port:
            self.tls_port = free_port()
        text = relocate(SHIPPED_CONF.read_text(), self.etc).replace(
            "/var/lib/mosquitto/", f"{self.workdir}/"
        )
        text = text.replace("listener 8883", f"listener {self.tls_port}")
        text = text.replace("listener 1883 127.0.0.1", f"listener {self.port} 127.0.0.1")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            f"user root\nlog_dest file {self.workdir}/mosquitto.log\n{text}\n{relocate(self.bridge, self.etc)}"
        )

    def log_text(self) -> str:
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Client:
    """A paho client that records what it receives and how often it lost its connection.

    Connects over TLS unless told not to: central uses the loopback listener,
    as the shipped config intends for a central on the broker host; devices
    and bridges always come in over TLS.
    """

    def __init__(
        self,
        broker: SecureBroker,
        etc: Path,
        user: str | None,
        password: str | None,
        *,
        tls: bool = True,
        client_id: str | None = None,
        clean: bool = True,
    ) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.disconnects = 0
        self.rc: object = None
        self._subacks: set[int] = set()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or "",
            clean_session=clean,
            protocol=mqtt.MQTTv311,
        )
        if user:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set(
                ca_certs=str(etc / "tls" / "ca.crt"), tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._subacks.add(mid)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        port = broker.tls_port if tls else broker.port
        self.client.connect("localhost", port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.rc = reason_code
        if not reason_code.is_failure:
            self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set():
            self.disconnects += 1
        self.connected.clear()

    def wait_connected(self, timeout: float = 15.0) -> bool:
        return self.connected.wait(timeout)

    def subscribe(self, topic: str, timeout: float = 15.0) -> None:
        """Subscribe and wait for the broker's SUBACK (an ACL-denied filter is acknowledged too)."""
        _rc, mid = self.client.subscribe(topic, qos=1)
        if not wait_until(lambda: mid in self._subacks, timeout):
            raise AssertionError(f"no SUBACK for {topic} in {timeout}s")

    def topics(self) -> list[str]:
        return [t for t, _ in self.messages]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_until(predicate: Callable[[], object], timeout: float = 15.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; return whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())

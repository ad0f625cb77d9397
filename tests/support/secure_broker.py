"""The shipped Mosquitto config run for real, for deploy, security and bridge tests.

``deploy/mosquitto/gatepost.conf`` with only its paths and ports moved into
the test's directory; credentials and ACL come from ``gatepost provision``
(:class:`central.provision.Provisioner`), certificates from
``deploy/mosquitto/make-certs.sh``. A site broker of the multi-site path adds
the bridge config that ``gatepost provision SITE --bridge`` rendered.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import Broker, free_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONF = REPO / "deploy" / "mosquitto" / "gatepost.conf"
MAKE_CERTS = REPO / "deploy" / "mosquitto" / "make-certs.sh"


def make_certs(tls_dir: Path, host: str = "localhost") -> Path:
    """A CA and a server certificate for ``host`` in ``tls_dir``, as the installer makes them."""
    subprocess.run(["bash", str(MAKE_CERTS), str(tls_dir), host, "30"], check=True, capture_output=True)
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
        text = relocate(SHIPPED_CONF.read_text(), self.etc).replace("/var/lib/mosquitto/", f"{self.workdir}/")
        text = text.replace("listener 8883", f"listener {self.tls_port}")
        text = text.replace("listener 1883 127.0.0.1", f"listener {self.port} 127.0.0.1")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            f"user root\nlog_dest file {self.workdir}/mosquitto.log\n{text}\n{relocate(self.bridge, self.etc)}"
        )

    def log_text(self) -> str:
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

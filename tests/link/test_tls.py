"""The link over TLS: verifies the broker against the site CA, refuses a stranger."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edge.link.mqtt import MqttLink
from tests.link.helpers import wait_until
from tests.support.services import free_port

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(out: Path, name: str) -> tuple[Path, Path]:
    key, crt = out / f"{name}.key", out / f"{name}.crt"
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-keyout",
        str(key),
        "-out",
        str(crt),
    )
    return key, crt


@pytest.fixture
def tls_broker(make_broker, tmp_path):
    ca_key, ca_crt = make_ca(tmp_path, "site-ca")
    key, csr, crt, ext = (
        tmp_path / n for n in ("server.key", "server.csr", "server.crt", "server.ext")
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(crt),
    )
    port = free_port()
    broker = make_broker(
        port=port,
        listener_config=(
            f"listener {port} 127.0.0.1\nallow_anonymous true\n"
            f"cafile {ca_crt}\ncertfile {crt}\nkeyfile {key}\n"
        ),
    ).start()
    return broker, ca_crt


def test_tls_link_connects_when_the_broker_is_signed_by_the_site_ca(tls_broker):
    broker, ca_crt = tls_broker
    link = MqttLink(
        "site-a", "lane-1", host="127.0.0.1", port=broker.port, tls={"ca_file": str(ca_crt)}
    )
    link.start()
    try:
        assert link.connected.wait(10)
    finally:
        link.stop()


def test_tls_link_refuses_a_broker_it_cannot_verify(tls_broker, tmp_path):
    broker, _ = tls_broker
    _, stranger = make_ca(tmp_path, "stranger-ca")
    link = MqttLink(
        "site-a", "lane-1", host="127.0.0.1", port=broker.port, tls={"ca_file": str(stranger)}
    )
    link.start()
    try:
        assert not wait_until(link.connected.is_set, 2)
    finally:
        link.stop()

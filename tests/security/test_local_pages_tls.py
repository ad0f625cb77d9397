"""`gatepost provision … --console-host`: the booth console's TLS certificate, and the page served with it."""

from __future__ import annotations

import ssl
import subprocess

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from central.provision import provision
from edge.serve import serve_local
from tests.support.services import free_port


def test_provision_makes_a_console_certificate_a_tablet_can_trust(tmp_path):
    runner = CliRunner()
    args = [
        "sg-exit-1",
        "--site",
        "sunrise-garden",
        "--role",
        "exit",
        "--dir",
        str(tmp_path),
        "--console-host",
        "sg-exit-1.local",
        "--console-host",
        "127.0.0.1",
    ]
    done = runner.invoke(provision, args)
    assert done.exit_code == 0, done.output
    tls = tmp_path / "tls"
    crt, key, ca = (
        tls / "sg-exit-1-console.crt",
        tls / "sg-exit-1-console.key",
        tls / "console-ca.crt",
    )
    assert (key.stat().st_mode & 0o777) == 0o600 and (
        tls / "console-ca.key"
    ).stat().st_mode & 0o077 == 0
    text = subprocess.run(
        ["openssl", "x509", "-in", str(crt), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:sg-exit-1.local" in text and "IP Address:127.0.0.1" in text and "CA:FALSE" in text
    again = runner.invoke(
        provision, args
    )  # live credentials and certificate are not replaced silently
    assert again.exit_code != 0

    # Served with it, the page answers over TLS to a client trusting only the console CA.
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    running = serve_local(
        app, "127.0.0.1", free_port(), what="booth console", certfile=str(crt), keyfile=str(key)
    )
    try:
        assert running.url.startswith("https://127.0.0.1:")
        trusted = httpx.get(
            running.url + "ping", verify=ssl.create_default_context(cafile=str(ca)), timeout=10
        )
        assert trusted.json() == {"ok": True}
        with pytest.raises(httpx.ConnectError):
            httpx.get(
                running.url + "ping", timeout=10
            )  # not trusted by default: no silent plain-text fallback
    finally:
        running.stop()

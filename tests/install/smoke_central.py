"""Smoke test of a clean ``pip install '.[central]'``: migrate, ingest through a real Mosquitto, a dashboard page.

Run with the venv's python (no pytest in ``[central]``):

    venv/bin/python tests/install/smoke_central.py

Starts its own Mosquitto on a free port, then runs the installed ``gatepost``
command as an operator would (README "Running central"): ``gatepost central
migrate`` on a fresh SQLite file, ``gatepost central create-user``, ``gatepost
central run``; publishes a few lane events in the wire format, waits until the
API lists them, signs in and fetches the dashboard page and the API docs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

# Run as a script in a clean venv (no ``tests`` package installed): smoke_common is imported as the
# script's sibling on sys.path[0]. The type checker sees the same file under its package name.
if TYPE_CHECKING:
    from tests.install.smoke_common import check, free_port, http, run, wait_for
else:
    from smoke_common import check, free_port, http, run, wait_for

SITE, DEVICE = "smoke-site", "smoke-exit-1"
PASSWORD = "smoke-password-" + uuid.uuid4().hex[:8]


def mosquitto(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        raise AssertionError("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"user root\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"log_dest file {work}/mosquitto.log\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    import socket

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, timeout=10, what="mosquitto to listen")
    return proc, port


def gatepost(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("gatepost")
    return subprocess.run(
        [str(exe), *args], check=False, capture_output=True, text=True, timeout=120, env=env
    )


def publish_events() -> list[bytes]:
    """Five events of one lane, QoS 1; returns their ids. Sent again by the caller until stored (as an outbox would)."""
    from edge import wire

    events = [
        wire.make_event(
            SITE,
            DEVICE,
            seq,
            wire.VehicleArrived(lane_role="exit", plate=f"粤B{seq:05d}"),
            wire.EventType.VEHICLE_ARRIVED,
        )
        for seq in range(1, 5)
    ]
    events.append(
        wire.make_event(
            SITE, DEVICE, 5, wire.BarrierMoved(cause="payment"), wire.EventType.BARRIER_OPENED
        )
    )
    return [e.to_json() for e in events]


def send(broker_port: int, payloads: list[bytes]) -> None:
    import paho.mqtt.client as paho

    from edge import wire

    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=f"smoke-{uuid.uuid4().hex[:6]}"
    )
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    try:
        for payload in payloads:
            event_type = json.loads(payload)["type"]
            client.publish(
                wire.event_topic(SITE, DEVICE, event_type), payload, qos=1
            ).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def smoke() -> None:
    work = Path(tempfile.mkdtemp(prefix="gatepost-smoke-central-"))
    broker, broker_port = mosquitto(work)
    http_port = free_port()
    env = os.environ | {
        "GATEPOST_DB_URL": f"sqlite:///{work}/central.db",
        "GATEPOST_BROKER_HOST": "127.0.0.1",
        "GATEPOST_BROKER_PORT": str(broker_port),
        "GATEPOST_CLIENT_ID": f"smoke-central-{uuid.uuid4().hex[:6]}",
        "GATEPOST_HTTP_HOST": "127.0.0.1",
        "GATEPOST_HTTP_PORT": str(http_port),
        "GATEPOST_NEW_PASSWORD": PASSWORD,
    }
    central: subprocess.Popen[str] | None = None
    try:
        migrated = gatepost("central", "migrate", env=env)
        check(
            migrated.returncode == 0,
            f"gatepost central migrate: {migrated.stdout.strip()[-160:]!r}",
        )
        made = gatepost("central", "create-user", "smoke-sup", "--role", "supervisor", env=env)
        check(made.returncode == 0, f"gatepost central create-user: {made.stdout.strip()!r}")

        exe = Path(sys.executable).with_name("gatepost")
        central = subprocess.Popen(
            [str(exe), "central", "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "central.log", "w"),  # noqa: SIM115 - the process owns it until it exits
            text=True,
        )
        base = f"http://127.0.0.1:{http_port}"

        def healthy() -> bool:
            if central is not None and central.poll() is not None:
                raise AssertionError(
                    f"central exited ({central.returncode}): {(work / 'central.log').read_text()[-800:]}"
                )
            status, _, body = http("GET", f"{base}/healthz", timeout=2)
            return status == 200 and json.loads(body).get("broker") is True

        wait_for(healthy, timeout=30, what="central's /healthz with the broker connected")
        check(True, "gatepost central run: healthy, ingest connected to Mosquitto")

        status, headers, _ = http(
            "POST", f"{base}/api/auth/login", {"username": "smoke-sup", "password": PASSWORD}
        )
        check(status == 200, f"signed in as the supervisor ({status})")
        cookie = headers.get("set-cookie", headers.get("Set-Cookie", "")).split(";", 1)[0]
        auth = {"Cookie": cookie}

        payloads = publish_events()

        def stored() -> bool:
            send(
                broker_port, payloads
            )  # idempotent: a repeat is stored once, as an outbox replay is
            status, _, body = http("GET", f"{base}/api/events?site={SITE}&limit=100", headers=auth)
            return status == 200 and len(json.loads(body)["items"]) == len(payloads)

        wait_for(stored, timeout=30, what="ingest to store the five events")
        check(True, f"{len(payloads)} events published through Mosquitto stored once each")

        status, _, page = http("GET", f"{base}/dashboard", headers=auth)
        check(
            status == 200 and b"<html" in page.lower(),
            f"dashboard page fetched ({status}, {len(page)} bytes)",
        )
        status, _, docs = http("GET", f"{base}/docs")
        check(
            status == 200
            and b"cdn." not in docs
            and b"/static-api-docs/swagger-ui-bundle.js" in docs,
            "API docs page refers to local Swagger UI files only",
        )
        status, _, _ = http("GET", f"{base}/static-api-docs/swagger-ui-bundle.js")
        check(status == 200, "Swagger UI script served by central itself")
    finally:
        if central is not None and central.poll() is None:
            central.send_signal(signal.SIGTERM)
            try:
                central.wait(20)
            except subprocess.TimeoutExpired:
                central.kill()
                central.wait(5)
        broker.terminate()
        broker.wait(10)
    # uvicorn finishes its graceful shutdown, then re-raises the SIGTERM it caught: -15 is a clean stop.
    log = (work / "central.log").read_text(encoding="utf-8", errors="replace")
    check(
        central is not None
        and central.returncode in (0, -signal.SIGTERM)
        and "Traceback" not in log,
        f"central stopped cleanly on SIGTERM (exit {central.returncode if central else None}, no traceback)",
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run("central", smoke))

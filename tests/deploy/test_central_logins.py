"""Central's processes as the shipped units run them, each on its own broker logins.

``gatepost-central`` (web app, two ingest workers, housekeeping, commands) reads
``central.env``; ``gatepost-ingest@1`` reads ``central.env`` then
``central-ingest-1.env``, as systemd merges EnvironmentFile= lines. Both run
against the shipped Mosquitto config, which forces client id = login: every
connection must come up under its own login, none may close another's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from central.db.session import make_engine, upgrade
from central.provision import Provisioner
from edge import wire
from tests.central.ingest.conftest import arrived, count
from tests.deploy.test_systemd_units import UNITS, one, parse_unit
from tests.support.secure_broker import Client, SecureBroker, make_certs, wait_until
from tests.support.services import MOSQUITTO, free_port, require

CLI = [sys.executable, "-c", "from edge.cli import main; main()", "--log-level", "WARNING"]


def env_file(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    )


def unit_env(name: str) -> dict[str, str]:
    """The unit's own Environment= lines."""
    return dict(v.split("=", 1) for v in parse_unit(UNITS / name)["Service"].get("Environment", []))


def terminate(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.stderr.read().decode() if proc.stderr else ""


def test_the_web_app_and_an_ingest_instance_each_use_their_own_logins(tmp_path: Path):
    require(MOSQUITTO is not None, "mosquitto")
    etc = tmp_path / "etc"
    make_certs(etc / "tls")
    prov = Provisioner(etc)
    prov.provision_central(workers=2)
    prov.provision_central("central-ingest-1", ingest_only=True)
    lane = prov.provision_device("site-1", "lane-a", role="entry")
    broker = SecureBroker(tmp_path / "broker", etc=etc).start()
    url = f"sqlite:///{tmp_path}/central.db"
    upgrade(make_engine(url))
    port = free_port()
    # The units' own settings, then their env files in order (later wins, as in systemd), then
    # this test's database and broker port in place of /var/lib/gatepost and 1883.
    here = {"GATEPOST_DB_URL": url, "GATEPOST_BROKER_PORT": str(broker.port)}
    central_env = (
        os.environ | unit_env("gatepost-central.service") | env_file(etc / "central.env") | here
    )
    ingest_unit = parse_unit(UNITS / "gatepost-ingest@.service")["Service"]
    ingest_env = dict(os.environ | unit_env("gatepost-ingest@.service"))
    for path in ingest_unit["EnvironmentFile"]:
        ingest_env |= env_file(etc / Path(path.replace("%i", "1")).name)
    ingest_env = {k: v.replace("%i", "1") for k, v in ingest_env.items()} | here
    assert one(ingest_unit, "ExecStart").endswith("--metrics-port 911%i")
    procs = [
        subprocess.Popen(
            CLI + ["central", "run", "--port", str(port)],
            env=central_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        ),
        subprocess.Popen(
            CLI + ["central", "run", "--ingest-only"],
            env=ingest_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        ),
    ]
    publisher = None
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                    return json.load(reply)["broker"] is True
            except OSError:
                return False

        expected = {
            "central.ingest-0",
            "central.ingest-1",
            "central.house",
            "central.ops",
            "central-ingest-1.ingest-0",
        }

        def connected() -> set[str]:
            return set(re.findall(r"New client connected from \S+ as (\S+) ", broker.log_text()))

        if not wait_until(healthy, 60):
            procs[0].send_signal(signal.SIGTERM)
            raise AssertionError(
                f"central never reported its broker link up: {procs[0].communicate(timeout=20)[1][-3000:]!r}"
                f"\n{broker.log_text()[-3000:]}"
            )
        assert wait_until(lambda: expected <= connected(), 30), connected()
        publisher = Client(broker, etc, "lane-a", lane.password, client_id="lane-a")
        assert publisher.wait_connected()
        infos = [
            publisher.client.publish(
                wire.event_topic("site-1", "lane-a", "vehicle_arrived"),
                arrived("site-1", "lane-a", seq).to_json(),
                qos=1,
            )
            for seq in range(1, 61)
        ]
        for info in infos:
            info.wait_for_publish(10)
        engine = make_engine(url)
        assert wait_until(lambda: count(engine) == 60, 30), count(engine)
        engine.dispose()
        log = broker.log_text()
        assert "already connected, closing old connection" not in log
        assert "not authorised" not in log
    finally:
        if publisher is not None:
            publisher.close()
        errs = [terminate(p) for p in procs]
        broker.stop()
    for proc, err in zip(procs, errs, strict=True):
        assert proc.returncode in (0, -signal.SIGTERM), err[-2000:]
        assert "Traceback" not in err, err[-2000:]


@pytest.mark.parametrize("workers", [1, 3])
def test_env_file_pins_the_worker_count_to_the_logins_made(tmp_path: Path, workers: int):
    Provisioner(tmp_path).provision_central(workers=workers)
    assert env_file(tmp_path / "central.env")["GATEPOST_INGEST_WORKERS"] == str(workers)

"""``gatepost central run``: the web app and ingest in one process; ``migrate``; ``create_app``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from central import app as central_app
from central.db.session import current_revision, make_engine, upgrade
from central.settings import Settings, load_settings
from edge.errors import ConfigError
from tests.central.ingest.conftest import arrived, count, wait_until
from tests.support.services import free_port

CLI = [sys.executable, "-c", "from edge.cli import main; main()", "--log-level", "WARNING"]


def central_env(db_url: str, broker_port: int, client_id: str) -> dict[str, str]:
    return os.environ | {
        "GATEPOST_DB_URL": db_url,
        "GATEPOST_BROKER_PORT": str(broker_port),
        "GATEPOST_CLIENT_ID": client_id,
    }


def terminate(proc: subprocess.Popen) -> str:
    """SIGTERM, as systemd stops central; a process still running 20 s later is killed and fails the test."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.stderr.read().decode() if proc.stderr else ""


def test_create_app_healthz_without_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(central_app, "ROUTERS", [])
    settings = Settings(db_url=f"sqlite:///{tmp_path}/c.db")
    app = central_app.create_app(settings)
    with TestClient(app) as client:
        reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"ok": True, "db": True, "broker": None}
    assert app.state.commit_hooks is not None and app.state.ingest is None


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GATEPOST_BROKER_PORT", "99999")
    with pytest.raises(ConfigError, match="GATEPOST_BROKER_PORT"):
        load_settings()


def test_migrate_command(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/m.db"
    done = subprocess.run(
        CLI + ["central", "migrate"],
        env=os.environ | {"GATEPOST_DB_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "database at revision" in done.stdout
    assert current_revision(make_engine(url)) is not None


def test_run_serves_and_ingests_then_stops_cleanly(broker, publisher, tmp_path: Path):
    url = f"sqlite:///{tmp_path}/run.db"
    port = free_port()
    env = central_env(url, broker.port, "run-test")
    proc = subprocess.Popen(
        CLI + ["central", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                    return json.load(reply)["broker"] is True
            except OSError:
                return False

        wait_until(healthy, timeout=30, what="central answering /healthz with the broker connected")
        engine = make_engine(url)
        event = arrived("s1", "lane-1", 1)
        publisher.flush([publisher.event(event)])
        wait_until(
            lambda: count(engine) == 1,
            timeout=15,
            what="the event stored by the ingest in the same process",
        )
    finally:
        err = terminate(proc)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit status -SIGTERM).
    assert proc.returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Traceback" not in err, err[-2000:]


def test_ingest_only_worker_serves_its_own_metrics(broker, publisher, tmp_path: Path):
    url = f"sqlite:///{tmp_path}/workers.db"
    upgrade(make_engine(url))  # as `gatepost central migrate` does before workers start
    metrics_port = free_port()
    env = central_env(url, broker.port, "ingest-worker-metrics")
    proc = subprocess.Popen(
        CLI + ["central", "run", "--ingest-only", "--metrics-port", str(metrics_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{metrics_port}/metrics", timeout=1
                ) as reply:
                    text = reply.read().decode()
            except OSError:
                return {}
            return {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }

        worker = (("worker", "ingest-worker-metrics-ingest-0"),)
        wait_until(
            lambda: scrape().get(("gatepost_ingest_broker_connected", worker)) == 1,
            timeout=30,
            what="the worker's metrics with its broker link up",
        )
        engine = make_engine(url)
        publisher.flush([publisher.event(arrived("s9", "lane-9", seq)) for seq in (1, 2, 3)])
        wait_until(lambda: count(engine) == 3, timeout=15, what="three events stored by the worker")
        samples: dict = {}
        wait_until(
            lambda: (
                samples.update(scrape())
                or samples.get(
                    ("gatepost_ingest_events_total", (("site", "s9"), ("type", "vehicle_arrived")))
                )
                == 3
            ),
            timeout=10,
            what="the worker's own event counter",
        )
        assert samples[("gatepost_ingest_messages_total", worker)] >= 3
        assert samples[("gatepost_ingest_lag_seconds_count", ())] == 3
        assert samples[("gatepost_metrics_db_up", ())] == 1

        # A second worker asking for the same port gets a clear error, not a traceback.
        taken = subprocess.run(
            CLI + ["central", "run", "--ingest-only", "--metrics-port", str(metrics_port)],
            env=env | {"GATEPOST_CLIENT_ID": "ingest-worker-2"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert taken.returncode == 1 and "cannot serve metrics" in taken.stderr
        assert "Traceback" not in taken.stderr
    finally:
        err = terminate(proc)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err, err[-2000:]


def test_metrics_port_without_ingest_only_is_a_usage_error():
    out = subprocess.run(
        CLI + ["central", "run", "--metrics-port", "9110"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "--metrics-port is for --ingest-only" in out.stderr
    assert "Traceback" not in out.stderr

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

from central import app as central_app
from central.db.session import current_revision, make_engine
from central.settings import Settings, load_settings
from edge.errors import ConfigError
from tests.central.ingest.conftest import arrived, count, wait_until
from tests.support.services import free_port

CLI = [sys.executable, "-c", "from edge.cli import main; main()", "--log-level", "WARNING"]


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
    env = os.environ | {
        "GATEPOST_DB_URL": url,
        "GATEPOST_BROKER_PORT": str(broker.port),
        "GATEPOST_CLIENT_ID": "run-test",
    }
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
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    err = proc.stderr.read().decode() if proc.stderr else ""
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit status -SIGTERM).
    assert proc.returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Traceback" not in err, err[-2000:]

"""`gatepost demo`: the whole site starts, prints its URLs and logins, runs at speed, reaches central, stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from edge.sim.demo import DemoOptions, DemoSite, run_demo
from tests.support.browser import Browser
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
GATEPOST = [sys.executable, "-c", "from edge.cli import main; main()"]


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_gatepost_demo_runs_hours_at_speed_reaches_central_and_stops_cleanly_on_sigint():
    port = free_port()
    proc = subprocess.Popen(
        [
            *GATEPOST,
            "demo",
            "--speed",
            "3600",
            "--duration",
            "3h",
            "--seed",
            "4",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out: list[str] = []
    reader = threading.Thread(
        target=lambda: out.extend(iter(proc.stdout.readline, "")), daemon=True
    )
    reader.start()
    try:
        banner = _wait(lambda: "Ctrl-C" in "".join(out) and "".join(out), 60, "the demo's banner")
        assert f"http://127.0.0.1:{port}/dashboard" in banner
        logins = dict(
            re.findall(r"^\s+(admin|supervisor|guard)\s+\S+ / (\S+)$", banner, re.MULTILINE)
        )
        assert set(logins) == {"admin", "supervisor", "guard"}
        assert len(set(logins.values())) == 3 and all(len(p) >= 10 for p in logins.values())
        # The booth console and the lobby kiosk answer at the printed URLs; the demo guard is on duty.
        console_url = re.search(r"booth console\s+(http://\S+)", banner).group(1)
        kiosk_url = re.search(r"kiosk\s+(http://\S+)", banner).group(1)
        assert "岗亭" in _get(console_url) and "访客登记" in _get(kiosk_url)
        # A browser that only opened the page sees who is on duty, and nothing it could act on.
        view = Browser.at(console_url).open().get("/api/console").json()
        assert view["duty"]["staff_id"] == "g001" and view["me"] is None and view["lanes"] == []
        pins = dict(re.findall(r"^\s+(g001|g002|s001)\s+(\d{6})\s", banner, re.MULTILINE))
        assert set(pins) == {"g001", "g002", "s001"}
        workdir = Path(re.search(r"work dir: (\S+)", banner).group(1))
        db = workdir / "central.db"
        # Three simulated hours: cars in (cards and badges), cars out, fees paid, all in central's database.
        _wait(
            lambda: _count(db, "SELECT count(*) FROM events WHERE type='vehicle_exited'") >= 3,
            60,
            "exits at central",
        )
        types = {
            t
            for (t,) in sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
                "SELECT DISTINCT type FROM events"
            )
        }
        assert {
            "ticket_issued",
            "vehicle_entered",
            "vehicle_exited",
            "payment_confirmed",
            "barrier_opened",
        } <= types
        devices = {
            d
            for (d,) in sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
                "SELECT DISTINCT device FROM events"
            )
        }
        assert {"demo-entry-1", "demo-entry-2", "demo-exit-1"} <= devices
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(5)
    err = proc.stderr.read()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err and "Traceback" not in "".join(out)
    assert "stopping" in "".join(out)
    assert not workdir.exists(), "the temp dir is removed unless --keep"


def test_run_demo_plays_a_span_and_exits_with_its_threads_stopped(tmp_path):
    before = {t.ident for t in threading.enumerate()}
    started: list[DemoSite] = []
    site = run_demo(
        DemoOptions(
            speed=3600,
            seed=2,
            duration=timedelta(hours=1),
            exit_after=True,
            http_port=0,
            workdir=tmp_path / "site",
        ),
        echo=lambda line: None,
        on_started=started.append,
    )
    tally = site.driver.tally.as_dict()
    assert (
        started and tally["entries"] > 0 and tally["failed"] == 0 and tally["barrier_faults"] == 0
    )
    # Everything the lanes and the kiosk wrote reached central: the outboxes are empty.
    db = tmp_path / "site" / "central.db"
    entered = _count(db, "SELECT count(*) FROM events WHERE type='vehicle_entered'")
    assert entered == tally["entries"]
    for device in ("demo-entry-1", "demo-entry-2", "demo-exit-1", "demo-lobby-1"):
        outbox = tmp_path / "site" / device / "outbox.sqlite3"
        assert _count(outbox, "SELECT count(*) FROM outbox") == 0
    # The guard confirmed each cash payment at the booth console, which printed its receipt (and a shift
    # report at a handover, should the span cross 08:00 or 20:00).
    cash = _count(
        db,
        "SELECT count(*) FROM events WHERE type='payment_confirmed' AND json_extract(data, '$.method')='cash'",
    )
    shifts = _count(db, "SELECT count(*) FROM events WHERE type='shift_closed'")
    assert cash + shifts == site.receipts.printed
    guards = {
        g
        for (g,) in sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
            "SELECT DISTINCT json_extract(data, '$.guard') FROM events WHERE type='payment_confirmed'"
        )
    }
    assert guards <= {"g001 王强 Wang Qiang", "g002 李娜 Li Na"}
    assert _count(db, "SELECT count(*) FROM quarantine") == 0
    deadline = time.monotonic() + 30  # bounds a leak, not the demo's shutdown speed
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t.ident not in before and not t.daemon]
        if not left:
            break
        time.sleep(0.2)
    assert not left, left


def test_demo_command_is_wired_into_the_cli_and_refuses_a_bad_duration():
    from edge.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0 and "--speed" in result.output and "--seed" in result.output
    bad = CliRunner().invoke(cli, ["demo", "--duration", "soon"])
    assert bad.exit_code != 0 and "90m, 6h, 2d" in bad.output

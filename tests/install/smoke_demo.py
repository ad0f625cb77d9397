"""Smoke test of a clean ``pip install '.[demo]'``: ``gatepost demo`` plays one simulated hour and stops.

Run with the venv's python (no pytest in ``[demo]``):

    venv/bin/python tests/install/smoke_demo.py

The installed ``gatepost demo --duration 1h --exit-after`` (embedded broker,
central on SQLite, three lane agents on simulated hardware, booth console,
kiosk) at 600x: while it runs, the printed booth console, kiosk and dashboard
login pages answer; it exits 0 with its tally (no failed transit, no barrier
fault) and central's database holds the lanes' events.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

# Run as a script in a clean venv (no ``tests`` package installed): smoke_common is imported as the
# script's sibling on sys.path[0]. The type checker sees the same file under its package name.
if TYPE_CHECKING:
    from tests.install.smoke_common import check, http, run, wait_for
else:
    from smoke_common import check, http, run, wait_for


def smoke() -> None:
    exe = Path(sys.executable).with_name("gatepost")
    proc = subprocess.Popen(
        [
            str(exe),
            "demo",
            "--duration",
            "1h",
            "--exit-after",
            "--speed",
            "600",
            "--seed",
            "7",
            "--port",
            "0",
            "--broker-port",
            "0",
            "--keep",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=lambda: out.extend(iter(proc.stdout.readline, "")), daemon=True),  # type: ignore[union-attr]
        threading.Thread(target=lambda: err.extend(iter(proc.stderr.readline, "")), daemon=True),  # type: ignore[union-attr]
    ]
    for reader in readers:
        reader.start()
    workdir: Path | None = None
    try:

        def banner_shown() -> str | None:
            if proc.poll() is not None and "Ctrl-C" not in "".join(out):
                raise AssertionError(
                    f"gatepost demo exited {proc.returncode} before its banner: {''.join(err)[-1500:]}"
                )
            return "".join(out) if "Ctrl-C" in "".join(out) else None

        banner = wait_for(banner_shown, timeout=120, what="the demo's banner")
        workdir = Path(re.search(r"work dir: (\S+)", banner).group(1))  # type: ignore[union-attr]
        urls = dict(
            re.findall(r"^\s+(dashboard|booth console|kiosk)\s+(http://\S+)", banner, re.MULTILINE)
        )
        check(
            set(urls) == {"dashboard", "booth console", "kiosk"},
            "banner names the dashboard, console and kiosk",
        )
        if proc.poll() is None:  # at 600x the hour may already be over
            status, _, page = http("GET", urls["booth console"])
            check(status == 200 and "岗亭".encode() in page, "booth console answers")
            status, _, page = http("GET", urls["kiosk"])
            check(status == 200 and "访客登记".encode() in page, "kiosk answers")
            status, _, _ = http("GET", urls["dashboard"].replace("/dashboard", "/login"))
            check(status == 200, "dashboard login page answers")
        rc = proc.wait(180)
        for reader in readers:
            reader.join(10)
        text, errors = "".join(out), "".join(err)
        check(
            rc == 0 and "Traceback" not in text + errors,
            f"gatepost demo exited {rc} with no traceback",
        )
        tally = ast.literal_eval(re.search(r"this run: (\{.*\})", text).group(1))  # type: ignore[union-attr]
        check(
            tally["failed"] == 0 and tally["barrier_faults"] == 0,
            f"one simulated hour played: {tally}",
        )
        with sqlite3.connect(f"file:{workdir / 'central.db'}?mode=ro", uri=True) as db:
            entered = db.execute(
                "SELECT count(*) FROM events WHERE type = 'vehicle_entered'"
            ).fetchone()[0]
            total = db.execute("SELECT count(*) FROM events").fetchone()[0]
        check(
            entered == tally["entries"],
            f"central stored {total} events, {entered} entries (the tally says {tally['entries']})",
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run("demo", smoke))

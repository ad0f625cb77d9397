"""Real processes for the fault tests: a lane pair under traffic, central's ingest, and what they stored.

:class:`LaneSite` runs ``python -m edge.sim.traffic_proc`` (two real lane
agents on simulated hardware, an accelerated clock, simulated cars) and can
SIGKILL it and start it again on the same state directory. :class:`Central`
runs ``gatepost central run --ingest-only`` on SQLite or PostgreSQL.
:func:`audit` compares what the lanes wrote to their outboxes with what
central stored.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from sqlalchemy import Engine, create_engine, text

from edge import wire
from edge.sim.traffic_proc import SimClock
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware_configs"
SITE = "fault-site"
DEVICES = {"entry": "ft-entry-1", "exit": "ft-exit-1"}
PROBE = "ft-probe"
SITE_KEYS = json.dumps({"1": "7c" * 32})

# The shipped Pi 4 lane board, but inputs without debounce (simulated cars move in milliseconds)
# and no camera (card lanes do not need OpenCV).
BOARD = """
kind = "board"
name = "fault-test lane (pi4 pins, no debounce)"
model = "pi4"
pin_factory = "lgpio"

[pins]
barrier_open  = {{ pin = 17, active_high = false }}
barrier_close = {{ pin = 27, active_high = false }}
arming_loop   = {{ pin = 22, pull = "up", bounce_s = 0 }}
safety_loop   = {{ pin = 23, pull = "up", bounce_s = 0 }}
photo_eye     = {{ pin = 24, pull = "up", bounce_s = 0 }}
opened_limit  = {{ pin = 5,  pull = "up", bounce_s = 0 }}
closed_limit  = {{ pin = 6,  pull = "up", bounce_s = 0 }}

[pins.buttons]
confirm_payment = 16
manual_raise    = 20
manual_close    = 21

[parts]
barrier      = "{fw}/barriers/pulse_generic.toml"
card_reader  = "{fw}/readers/pn532_hsu.toml"
badge_reader = "{fw}/readers/rdm6300.toml"
display      = "{fw}/displays/pole_vfd_2x20.toml"
"""

# A quick arm: 500 transits must not wait 3 s of travel each. The pulse stays long enough for
# the simulated controller, which samples its inputs every 10 ms on a busy 2-core machine, to see it.
BARRIER = """
kind = "barrier"
name = "fault-test pulse barrier (fast arm)"
model = "pulse"
pulse_s = 0.15
max_pulse_s = 1.0
travel_s = 0.05
travel_timeout_s = 3.0
"""

LANE = """
[device]
site = "{site}"
id = "{device}"
role = "{role}"
language = "zh-CN"

[hardware]
profile = "{board}"
barrier = "{barrier}"
simulate = true

[lane]
ticket_medium = "card"
capacity = 100000
close_delay_s = 0
state_path = "{state}/lane-state.json"

[tariff]
file = "{fw}/tariffs/day_night_cn.toml"

[keys]
env = "GATEPOST_SITE_KEYS"

[link]
host = "127.0.0.1"
port = {broker_port}
keepalive_s = 5
outbox_path = "{state}/outbox.sqlite3"
replay_rate_per_s = 2000
health_interval_s = 5

[console]
bind = "127.0.0.1"
port = {console_port}
"""


def write_configs(root: Path, broker_port: int) -> dict[str, Path]:
    """Entry and exit lane configs for one simulated site talking to ``broker_port``."""
    root.mkdir(parents=True, exist_ok=True)
    board = root / "board.toml"
    board.write_text(BOARD.format(fw=FIRMWARE), encoding="utf-8")
    barrier = root / "barrier.toml"
    barrier.write_text(BARRIER, encoding="utf-8")
    paths = {}
    for role, device in DEVICES.items():
        path = root / f"{role}.toml"
        path.write_text(
            LANE.format(
                site=SITE,
                device=device,
                role=role,
                board=board,
                barrier=barrier,
                state=root / "state" / role,
                fw=FIRMWARE,
                broker_port=broker_port,
                console_port=free_port(),
            ),
            encoding="utf-8",
        )
        paths[role] = path
    return paths


@dataclass
class Recovery:
    """One lane as its booth API showed it right after a restart, before any car moved."""

    run: int
    role: str
    presence: bool
    barrier: str
    driver: str

    @property
    def safe(self) -> bool:
        if self.presence:  # never closing on a vehicle
            return self.driver == "open" and self.barrier in ("open", "opening")
        return self.driver == "closed" and self.barrier == "closed"


@dataclass
class LaneSite:
    """The traffic process: start, go, kill, restart, stop; its log and its world file."""

    root: Path
    broker_port: int
    cars: int = 250
    speed: float = 60.0
    stay_s: float = 0.3
    clock: SimClock = field(init=False)
    proc: subprocess.Popen | None = None
    recoveries: list[Recovery] = field(default_factory=list)
    kills: int = 0
    _lines: queue.Queue = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        self.configs = write_configs(self.root, self.broker_port)
        # Start the simulated day two hours ago at 07:00 local: stays cross the 08:00 band edge.
        self.clock = SimClock(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), time.time(), self.speed)
        self.state = self.root / "state"
        self.log = self.root / "traffic.log"

    def start(
        self, *, go: bool = True, check_recovery: bool = True, kill_after: str | None = None
    ) -> dict[str, Any]:
        """Start (or restart) the lanes; ``kill_after="exit:payment_confirmed:3"`` makes the process
        SIGKILL itself right after that event is durable, the narrowest window there is."""
        env = os.environ | {"GATEPOST_SITE_KEYS": SITE_KEYS, "PYTHONUNBUFFERED": "1"}
        extra = ["--kill-after", kill_after] if kill_after else []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge.sim.traffic_proc",
                "--entry",
                str(self.configs["entry"]),
                "--exit",
                str(self.configs["exit"]),
                "--state-dir",
                str(self.state),
                "--speed",
                str(self.speed),
                "--anchor-sim",
                self.clock.anchor_sim.isoformat(),
                "--anchor-real",
                repr(self.clock.anchor_real),
                "--cars",
                str(self.cars),
                "--stay",
                str(self.stay_s),
                *extra,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log.open("ab"),
            text=True,
            cwd=ROOT,
            env=env,
        )
        self._lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self._lines), daemon=True).start()
        ready = self.expect("ready", timeout=30)
        if check_recovery:
            self._inspect(ready)
        if go:
            self.send("go")
        return ready

    def _read(self, proc: subprocess.Popen, lines: queue.Queue) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                lines.put(json.loads(line))
            except ValueError:
                lines.put({"noise": line})
        lines.put({"eof": proc.wait()})

    def poll(self, key: str, timeout: float) -> dict[str, Any] | None:
        """The next status line carrying ``key``, or None if none came within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                doc = self._lines.get(timeout=max(0.001, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if key in doc:
                return doc
            if "eof" in doc or "error" in doc:
                raise AssertionError(
                    f"traffic process ended without {key!r}: {doc}; see {self.log}"
                )

    def expect(self, key: str, timeout: float) -> dict[str, Any]:
        doc = self.poll(key, timeout)
        if doc is None:
            raise AssertionError(f"traffic process: no {key!r} after {timeout}s; see {self.log}")
        return doc

    def send(self, word: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def _inspect(self, ready: dict[str, Any]) -> None:
        """Ask each recovered lane's booth API what its barrier does, until it has settled."""
        for role, port in ready["api"].items():
            url = f"http://127.0.0.1:{port}/api/lane"
            deadline = time.monotonic() + 5
            while True:
                doc = httpx.get(url, timeout=5).json()
                seen = Recovery(
                    ready["run"],
                    role,
                    doc["presence"],
                    doc["barrier"],
                    doc["extra"]["barrier_driver"],
                )
                if seen.safe or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.recoveries.append(seen)

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, like pulling the Pi's power."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def died(self, timeout: float) -> bool:
        """True if the process ended (killed itself at its kill point) within ``timeout``."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        self.kills += 1
        return True

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        """Wait for the target (or a ``stop``), the drained outboxes, then stop cleanly."""
        done = self.expect("done", timeout=timeout)
        self.send("quit")
        assert self.proc is not None
        self.proc.wait(30)
        return done

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def world(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.state / "world.sqlite3", timeout=10) as db:
            return db.execute(sql, args).fetchall()

    def outbox(self, role: str) -> tuple[int, int]:
        """(last seq handed out, rows still unsent) of a lane's outbox, read from its file."""
        with sqlite3.connect(self.state / role / "outbox.sqlite3", timeout=10) as db:
            meta = db.execute("SELECT value FROM outbox_meta WHERE key = 'last_seq'").fetchone()
            top, depth = db.execute("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM outbox").fetchone()
        return max(top, meta[0] if meta else 0), depth


class Central:
    """``gatepost central run --ingest-only`` as a process of its own, killable."""

    def __init__(
        self, db_url: str, broker_port: int, log: Path, client_id: str = "fault-central"
    ) -> None:
        self.db_url = db_url
        self.env = os.environ | {
            "GATEPOST_DB_URL": db_url,
            "GATEPOST_BROKER_PORT": str(broker_port),
            "GATEPOST_CLIENT_ID": client_id,
            "GATEPOST_LOG_FORMAT": "json",
        }
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.kills = 0
        self._probes = 0  # probe events sent (their seqs)
        self.engine: Engine = create_engine(db_url)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from edge.cli import main; main()",
                "--log-level",
                "WARNING",
                "central",
                "run",
                "--ingest-only",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            cwd=ROOT,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def wait_subscribed(self, broker_port: int, timeout: float = 30) -> None:
        """Until a probe event is stored: central's persistent session exists, so nothing sent later is missed."""
        self.marker(broker_port, timeout, what="central's ingest subscribed")

    def marker(
        self, broker_port: int, timeout: float = 30, what: str = "central storing a marker"
    ) -> None:
        """Send the next probe event (its own device) and wait until central has stored it.

        A sync point: the broker delivers to central's session in order, so what it
        held for central before the marker (a late re-send) has been delivered by then.
        """
        self._probes += 1
        seq = self._probes
        probe = wire.make_event(
            SITE, PROBE, seq, wire.VehicleArrived(lane_role="entry"), wire.EventType.VEHICLE_ARRIVED
        )
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"fault-probe-{os.getpid()}"
        )
        client.connect("127.0.0.1", broker_port)
        client.loop_start()
        try:

            def stored() -> bool:
                # Re-sent until the ingest process has subscribed; replays are harmless (same id).
                client.publish(wire.event_topic(SITE, PROBE, probe.type), probe.to_json(), qos=1)
                return self.stored(PROBE) >= seq

            wait_until(stored, timeout, what)
        finally:
            client.disconnect()
            client.loop_stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.engine.dispose()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        except Exception as exc:  # tables not created yet: central is still migrating
            if "events" in str(exc) or "no such table" in str(exc) or "does not exist" in str(exc):
                return []
            raise

    def stored(self, device: str) -> int:
        rows = self.rows("SELECT count(*) FROM events WHERE device = :d", d=device)
        return int(rows[0][0]) if rows else 0


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_all_stored(central: Central, site: LaneSite, timeout: float = 60) -> None:
    """Until central holds as many events of each lane as its outbox ever handed out."""
    for role, device in DEVICES.items():
        last, _ = site.outbox(role)

        def arrived(device: str = device, last: int = last) -> bool:
            return central.stored(device) >= last

        wait_until(arrived, timeout, f"{device}: all {last} events")


@dataclass
class Audit:
    """What central holds for the site's devices, checked against the lanes' outboxes."""

    last_seq: dict[str, int]
    stored: dict[str, int]
    distinct_seq: dict[str, int]
    open_gaps: int
    quarantined: int
    per_serial: Counter  # (type, serial) -> rows
    types: Counter

    @property
    def lost(self) -> int:
        return sum(max(0, self.last_seq[d] - self.distinct_seq.get(d, 0)) for d in self.last_seq)

    @property
    def duplicates(self) -> int:
        rows = sum(self.stored.values()) - sum(self.distinct_seq.values())
        once = ("ticket_issued", "vehicle_entered", "vehicle_exited", "payment_confirmed")
        repeated = sum(n - 1 for (t, s), n in self.per_serial.items() if t in once and s and n > 1)
        return rows + repeated


def audit(central: Central, site: LaneSite) -> Audit:
    last, stored, distinct = {}, {}, {}
    for role, device in DEVICES.items():
        seq, depth = site.outbox(role)
        assert depth == 0, f"{device}: {depth} events still in the outbox"
        last[device] = seq
        row = central.rows(
            "SELECT count(*), count(DISTINCT seq), COALESCE(min(seq), 0), COALESCE(max(seq), 0)"
            " FROM events WHERE device = :d",
            d=device,
        )[0]
        stored[device], distinct[device] = int(row[0]), int(row[1])
        assert row[1] == 0 or (row[2], row[3]) == (1, seq), (
            f"{device}: seqs {row[2]}..{row[3]}, outbox {seq}"
        )
    gaps = central.rows("SELECT count(*) FROM seq_gaps WHERE closed_at IS NULL")[0][0]
    quarantined = central.rows("SELECT count(*) FROM quarantine")[0][0]
    per_serial: Counter = Counter()
    types: Counter = Counter()
    for etype, data in central.rows("SELECT type, data FROM events WHERE device != :p", p=PROBE):
        doc = data if isinstance(data, dict) else json.loads(data)
        types[etype] += 1
        if doc.get("serial"):
            per_serial[(etype, doc["serial"])] += 1
    return Audit(last, stored, distinct, int(gaps), int(quarantined), per_serial, types)


def sim_minutes(site: LaneSite, real_from: float, real_to: float) -> float:
    return (site.clock.at(real_to) - site.clock.at(real_from)) / timedelta(minutes=1)


def double_charges(central: Central) -> list[str]:
    """Serials of the exit lane with more than one ``payment_confirmed``: cards charged twice."""
    device = DEVICES["exit"]
    rows = central.rows(
        "SELECT type, data FROM events WHERE device = :d AND type = 'payment_confirmed'", d=device
    )
    paid = Counter(
        (data if isinstance(data, dict) else json.loads(data))["serial"] for _, data in rows
    )
    return sorted(serial for serial, n in paid.items() if n > 1)

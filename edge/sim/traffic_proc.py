"""``python -m edge.sim.traffic_proc``: an entry and an exit lane agent under simulated traffic, in one process.

The fault tests need the real agent (lane + outbox + link) in a process they
can SIGKILL at any moment and start again on the same state directory, with
cars that keep coming at an accelerated clock. This is that process:

* two :class:`~edge.agent.Agent` s (the ``entry`` and ``exit`` configs given,
  ``hardware.simulate = true``) sharing one :class:`SimClock` that runs
  ``--speed`` times faster than the wall clock from a fixed anchor, so every
  restart continues the same simulated day and never steps time backwards;
* a :class:`World` — a small SQLite file beside the agents' state — holding
  what physically survives a Pi crash: each car, the card in its hand (the
  NTAG bytes the entry lane wrote), where it stands, whether it is on the
  safety loop, and whether each arm is up. On a restart the simulated pins are
  put back that way *before* the lane starts, so the lane's recovery meets the
  situation a real reboot meets (a car under a raised arm, a car waiting at
  the loop with its card on the reader);
* a driver thread per lane that moves cars through: entry (card written,
  arm up, drive through), a short stay, exit (card read, fee quoted, the
  guard confirms cash, drive through).

Parent protocol, one JSON object per stdout line:
``{"ready": …}`` once both lanes are up (the parent may inspect the booth APIs;
nothing moves until it writes ``go``); ``{"done": …}`` when the target is
reached or after ``stop`` and the outboxes have drained; then ``quit`` (or
end of stdin) stops the agents cleanly. SIGKILL may come at any point.

Everything a car does is recorded in the world file (``seen``: each event the
lane reported durable, ``passes``: each drive-through), so the parent can
count transits against what central stored.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.agent import Agent
from edge.config import load_config
from edge.errors import GatepostError
from edge.hw.gpio import activate, deactivate
from edge.lane.machine import Emit, LaneRefused, Phase
from edge.sim.pn532_emulator import NtagMemory

log = logging.getLogger("gatepost.sim.traffic")

ROLES = ("entry", "exit")
STEP_S = 0.01
"""Real seconds between a car reaching successive sensors."""
REPLACE_AFTER_S = 2.0
"""A card that brought no answer in this long is lifted and presented again, as a driver does."""
GIVE_UP_S = 30.0
GUARD = "sim-guard"


class SimClock:
    """UTC time running ``speed`` times the wall clock from a fixed (sim, real) anchor pair."""

    def __init__(self, anchor_sim: datetime, anchor_real: float, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.anchor_sim = anchor_sim
        self.anchor_real = anchor_real
        self.speed = speed

    def at(self, real: float) -> datetime:
        return self.anchor_sim + timedelta(seconds=(real - self.anchor_real) * self.speed)

    def __call__(self) -> datetime:
        return self.at(time.time())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS car (
    id INTEGER PRIMARY KEY, uid BLOB NOT NULL, card BLOB, serial TEXT,
    phase TEXT NOT NULL, stage INTEGER NOT NULL DEFAULT 0, parked_at REAL
);
CREATE TABLE IF NOT EXISTS arm (role TEXT PRIMARY KEY, up INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seen (
    id INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT, type TEXT, serial TEXT, at REAL, run INTEGER
);
CREATE TABLE IF NOT EXISTS passes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT, car INTEGER, serial TEXT, at REAL, run INTEGER
);
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL);
CREATE TABLE IF NOT EXISTS guard (
    id INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT, car INTEGER, serial TEXT, action TEXT, detail TEXT, at REAL
);
"""

AT_LOOP, UNDER_ARM, CLEAR = 0, 1, 2
"""``car.stage`` while a car is in a ``*_pass`` phase: where it physically is."""

Car = tuple[int, bytes, bytes | None, str | None, str, int]
"""(id, uid, card bytes, serial, phase, stage)"""


class World:
    """What outlives the lane process: cars, cards, arms, and the record of what happened.

    ``synchronous=OFF`` is enough: the test kills the process, not the machine,
    and the OS keeps what was written.
    """

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.run = (
            self._exec("INSERT INTO runs (started) VALUES (?)", (time.time(),)).lastrowid or 0
        )

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def count(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        return int(self.rows(sql, args)[0][0])

    def car_at(self, role: str) -> Car | None:
        """The car standing at (or driving through) ``role``'s lane, if any."""
        rows = self.rows(
            "SELECT id, uid, card, serial, phase, stage FROM car WHERE phase IN (?, ?) ORDER BY id",
            (role, f"{role}_pass"),
        )
        return rows[0] if rows else None

    def new_car(self) -> int:
        uid = bytes([0x04]) + os.urandom(6)
        return self._exec("INSERT INTO car (uid, phase) VALUES (?, 'entry')", (uid,)).lastrowid or 0

    def set(self, car: int, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        self._exec(f"UPDATE car SET {cols} WHERE id = ?", (*values.values(), car))

    def arm_up(self, role: str) -> bool:
        rows = self.rows("SELECT up FROM arm WHERE role = ?", (role,))
        return bool(rows and rows[0][0])

    def set_arm(self, role: str, up: bool) -> None:
        self._exec(
            "INSERT INTO arm (role, up) VALUES (?, ?) ON CONFLICT (role) DO UPDATE SET up = excluded.up",
            (role, int(up)),
        )

    def saw(self, role: str, event_type: str, serial: str | None) -> None:
        self._exec(
            "INSERT INTO seen (role, type, serial, at, run) VALUES (?, ?, ?, ?, ?)",
            (role, event_type, serial, time.time(), self.run),
        )

    def passed(self, role: str, car: int, serial: str | None) -> None:
        """The car is clear of the lane: its stage and the transit are written together."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("UPDATE car SET stage = ? WHERE id = ?", (CLEAR, car))
            self._db.execute(
                "INSERT INTO passes (role, car, serial, at, run) VALUES (?, ?, ?, ?, ?)",
                (role, car, serial, time.time(), self.run),
            )
            self._db.execute("COMMIT")

    def guard(self, role: str, car: int, serial: str | None, action: str, detail: str) -> None:
        self._exec(
            "INSERT INTO guard (role, car, serial, action, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
            (role, car, serial, action, detail, time.time()),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class TrafficAgent(Agent):
    """A simulated lane agent whose pins are put back as the world left them before the lane starts.

    A card is not put back on the reader: the driver presents it again once the
    parent has looked at the recovered lane (``go``), so what the parent sees is
    the recovery alone.
    """

    def __init__(self, config: Any, world: World, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.world = world
        self.role = config.device.role
        self.rejected: dict[str, str] = {}
        """serial -> reason of the last ticket_rejected, for the driver (the guard reads the display)."""
        self.kill_after: tuple[str, int] | None = None
        """(event type, n): SIGKILL this process right after the n-th such event is durable."""

    def build_hardware(self) -> None:
        super().build_hardware()
        sims = self.assembly.sims
        parts = self.assembly.parts
        assert sims is not None, "traffic_proc needs hardware.simulate = true"
        if self.world.arm_up(self.role):
            sims.mechanics.position = 1.0
            sims.mechanics.poll()
        car = self.world.car_at(self.role)
        if car is None:
            return
        phase, stage = car[4], car[5]
        if phase == self.role or stage == AT_LOOP:
            activate(parts.arming_loop)
        elif stage == UNDER_ARM:
            activate(parts.safety_loop)
            if parts.photo_eye is not None:
                activate(parts.photo_eye)

    def start_lane(self) -> None:
        super().start_lane()
        self.lane.on_effect = self._observe

    def start_booth_api(self) -> None:
        super().start_booth_api()
        # A guard is on duty in the booth for the whole simulated day (cash needs one).
        sign_on = getattr(self.lane, "set_guard_on_duty", None)
        if callable(sign_on):
            sign_on(GUARD)

    def _observe(self, effect: Any) -> None:
        if not isinstance(effect, Emit):
            return
        serial = getattr(effect.data, "serial", None)
        self.world.saw(self.role, str(effect.event_type), serial)
        if self.kill_after is not None and str(effect.event_type) == self.kill_after[0]:
            self.kill_after = (self.kill_after[0], self.kill_after[1] - 1)
            if self.kill_after[1] <= 0:
                # The event is durable and nothing after it has run yet (relay, display, used mark):
                # the narrowest crash window there is, hit on purpose.
                os.kill(os.getpid(), signal.SIGKILL)
        if str(effect.event_type) == "ticket_rejected" and serial:
            self.rejected[serial] = str(getattr(effect.data, "reason", ""))


def _tag(uid: bytes, card: bytes | None) -> NtagMemory:
    return NtagMemory.with_user_memory(card, uid=uid) if card else NtagMemory(uid=uid)


def _arm(lane: Any) -> str:
    """Where the barrier driver says the arm is, from its limit switches."""
    return str(getattr(lane.barrier, "state", "unknown"))


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class Driver:
    """Cars through the entry lane, a short stay, then out through the exit lane."""

    def __init__(
        self,
        agents: dict[str, TrafficAgent],
        world: World,
        *,
        cars: int,
        stay_s: float,
        max_parked: int = 200,
    ) -> None:
        self.agents = agents
        self.world = world
        self.cars = cars
        self.stay_s = stay_s
        self.max_parked = max_parked
        self.stopping = threading.Event()
        self.failed: list[str] = []
        self._threads = [
            threading.Thread(target=self._guarded, args=(self._entry_loop,), name="drive-entry"),
            threading.Thread(target=self._guarded, args=(self._exit_loop,), name="drive-exit"),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _guarded(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Exception as exc:  # reported to the parent, which fails the test with it
            log.exception("driver thread failed")
            self.failed.append(f"{type(exc).__name__}: {exc}")
            self.stopping.set()

    # ------------------------------------------------------------------ the two queues

    def _entry_loop(self) -> None:
        world = self.world
        while True:
            car = world.car_at("entry")
            if car is not None:
                self._transit("entry", car)
                continue
            if self.stopping.is_set() or world.count("SELECT count(*) FROM car") >= self.cars:
                return
            if (
                world.count(
                    "SELECT count(*) FROM car WHERE phase IN ('parked', 'exit', 'exit_pass')"
                )
                >= self.max_parked
            ):
                time.sleep(0.02)
                continue
            world.new_car()

    def _exit_loop(self) -> None:
        world = self.world
        while True:
            car = world.car_at("exit")
            if car is not None:
                self._transit("exit", car)
                continue
            if self.stopping.is_set() and world.car_at("entry") is None:
                return
            ready = world.rows(
                "SELECT id FROM car WHERE phase = 'parked' AND parked_at <= ? ORDER BY id LIMIT 1",
                (time.time() - self.stay_s,),
            )
            if ready:
                world.set(ready[0][0], phase="exit")
                continue
            if (
                world.count("SELECT count(*) FROM car") >= self.cars
                and world.count("SELECT count(*) FROM car WHERE phase != 'gone'") == 0
            ):
                return
            time.sleep(0.02)

    # ------------------------------------------------------------------ one car at one lane

    def _transit(self, role: str, car: Car) -> None:
        """Resume a car where the world left it: waiting, at the loop with the arm up, under it, or clear."""
        car_id, uid, card, serial, phase, stage = car
        lane = self.agents[role].lane
        after = "parked" if role == "entry" else "gone"
        if phase.endswith("_pass") and stage == AT_LOOP and _arm(lane) != "open":
            phase = role  # the lane restarted and closed the arm before the car moved: start over
            self.world.set(car_id, phase=role)
        if phase == role:
            serial = self._let_through(role, car_id, uid, card, serial)
            stage = AT_LOOP
        if stage != CLEAR:
            self._drive_through(role, car_id, serial, stage)
        self.agents[role].assembly.sims.pn532.remove_card()  # type: ignore[union-attr]
        # Stays vary between stay_s and twice that, so some exits are free and some pay.
        self.world.set(car_id, phase=after, parked_at=time.time() + random.uniform(0, self.stay_s))
        self._await_closed(role)

    def _let_through(
        self, role: str, car: int, uid: bytes, card: bytes | None, serial: str | None
    ) -> str | None:
        """Pull up, present the card, do what the lane asks (pay), until the arm is up."""
        agent, world = self.agents[role], self.world
        lane, sims = agent.lane, agent.assembly.sims
        assert sims is not None
        if not lane.arming_loop.is_active:
            self._await_closed(role)  # no tailgating: the arm came down after the car before
            activate(lane.arming_loop)
        tag = _tag(uid, card)
        sims.pn532.place_card(tag)
        started = last_try = time.monotonic()
        while _arm(lane) != "open":
            if time.monotonic() - started > GIVE_UP_S:
                raise RuntimeError(
                    f"{role}: car {car} ({serial}) not let through; lane {lane.status().phase}"
                )
            status = lane.status()
            if (
                role == "exit"
                and status.phase == Phase.AWAITING_PAYMENT
                and status.serial == serial
            ):
                self._guard(
                    role, car, serial, "cash", lambda: lane.payment_received("cash", by=GUARD)
                )
                last_try = time.monotonic()
            elif role == "exit" and serial is not None and serial in agent.rejected:
                reason = agent.rejected.pop(serial)
                if reason != "already_used":
                    raise RuntimeError(f"exit: car {car}'s valid ticket {serial} refused: {reason}")
                # Used before a restart (paid, then the lane went down before the car passed): the
                # guard checks and raises by hand with a reason, which the lane audits.
                self._guard(
                    role,
                    car,
                    serial,
                    "manual_raise",
                    lambda: lane.manual_raise(
                        "card already used before a lane restart; checked by the guard", by=GUARD
                    ),
                )
                last_try = time.monotonic()
            elif time.monotonic() - last_try > REPLACE_AFTER_S and status.phase == Phase.WAITING:
                sims.pn532.remove_card()  # no answer: lift the card and present it again
                time.sleep(0.35)
                sims.pn532.place_card(tag)
                last_try = time.monotonic()
            time.sleep(0.005)
        if role == "entry":
            card = tag.user_memory
            serial = lane.codec.decode_card(card).serial
        world.set_arm(role, True)
        world.set(car, card=card, serial=serial, phase=f"{role}_pass", stage=AT_LOOP)
        return serial

    def _guard(
        self, role: str, car: int, serial: str | None, what: str, action: Callable[[], None]
    ) -> None:
        try:
            action()
            self.world.guard(role, car, serial, what, "ok")
        except LaneRefused as exc:
            self.world.guard(role, car, serial, what, f"refused: {exc}")

    def _drive_through(self, role: str, car: int, serial: str | None, stage: int) -> None:
        """Onto the safety loop and into the beam, off the arming loop, clear; each stage recorded first."""
        lane = self.agents[role].lane
        if stage == AT_LOOP:
            self.world.set(car, stage=UNDER_ARM)
            activate(lane.safety_loop)
            time.sleep(STEP_S)
            if lane.photo_eye is not None:
                activate(lane.photo_eye)
            time.sleep(STEP_S)
        deactivate(lane.arming_loop)
        time.sleep(STEP_S)
        if lane.photo_eye is not None:
            deactivate(lane.photo_eye)
        time.sleep(STEP_S)
        deactivate(lane.safety_loop)
        self.world.passed(role, car, serial)

    def _await_closed(self, role: str) -> None:
        """The arm comes down behind the car (and the world notes it is down)."""
        lane = self.agents[role].lane
        if not _wait(lambda: _arm(lane) == "closed", 10.0):
            raise RuntimeError(f"{role} barrier did not close: {_arm(lane)}")
        self.world.set_arm(role, False)


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def _drain(agents: dict[str, TrafficAgent], timeout: float) -> dict[str, int]:
    _wait(lambda: all(a.outbox.depth == 0 for a in agents.values()), timeout)
    return {a.config.device.id: a.outbox.depth for a in agents.values()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--entry", required=True, help="entry lane config (hardware.simulate = true)"
    )
    parser.add_argument("--exit", required=True, help="exit lane config (hardware.simulate = true)")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--anchor-sim", required=True, help="simulated UTC time at --anchor-real (RFC 3339)"
    )
    parser.add_argument("--anchor-real", required=True, type=float, help="wall-clock epoch seconds")
    parser.add_argument(
        "--cars", type=int, default=250, help="cars that enter and leave (2 transits each)"
    )
    parser.add_argument("--stay", type=float, default=0.3, help="real seconds a car stays parked")
    parser.add_argument(
        "--kill-after",
        metavar="ROLE:TYPE:N",
        default=None,
        help="SIGKILL this process right after ROLE's N-th TYPE event is durable",
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)

    args.state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s",
    )
    clock = SimClock(
        datetime.fromisoformat(args.anchor_sim).astimezone(UTC), args.anchor_real, args.speed
    )
    world = World(args.state_dir / "world.sqlite3")
    agents: dict[str, TrafficAgent] = {}
    for role, path in (("entry", args.entry), ("exit", args.exit)):
        config = load_config(path)
        if config.device.role != role or not config.hardware.simulate:
            parser.error(f"{path}: needs role = {role!r} and hardware.simulate = true")
        agents[role] = TrafficAgent(config, world, state_dir=args.state_dir / role, clock=clock)
    if args.kill_after:
        role, event_type, n = args.kill_after.split(":")
        agents[role].kill_after = (event_type, int(n))
    try:
        for agent in agents.values():
            agent.start()
    except GatepostError as exc:
        _emit({"error": f"agent did not start: {exc}"})
        return 2
    _emit(
        {
            "ready": True,
            "pid": os.getpid(),
            "run": world.run,
            "api": {r: a.config.console.port for r, a in agents.items()},
        }
    )

    driver = Driver(agents, world, cars=args.cars, stay_s=args.stay)
    finished = threading.Event()
    commands = threading.Thread(
        target=_read_commands, args=(driver, finished), daemon=True, name="stdin"
    )
    for line in sys.stdin:
        if line.strip() == "go":
            break
    else:
        finished.set()
    if not finished.is_set():
        commands.start()
        driver.start()
        driver.join()
        left = _drain(agents, timeout=60.0)
        _emit(
            {
                "done": True,
                "failed": driver.failed,
                "outbox_depth": left,
                "passes": world.count("SELECT count(*) FROM passes"),
            }
        )
        finished.wait()
    for agent in agents.values():
        agent.stop()
    world.close()
    return 1 if driver.failed else 0


def _read_commands(driver: Driver, finished: threading.Event) -> None:
    for line in sys.stdin:
        word = line.strip()
        if word == "stop":
            driver.stopping.set()
        elif word == "quit":
            break
    driver.stopping.set()
    finished.set()


if __name__ == "__main__":
    sys.exit(main())

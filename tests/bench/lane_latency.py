"""Lane latency benchmark: card/badge frame on the wire → barrier relay pin high.

Run: ``.venv/bin/python tests/bench/lane_latency.py [--transits 1000]`` (any venv's python
with gatepost installed: the agent is started from beside ``sys.executable``). Prints ONE JSON line:

    {"bench": "lane_latency", "transits": N, "p50_ms": …, "p99_ms": …,
     "baseline_p50_ms": …, "baseline_p99_ms": …, "idle_rss_mb": …, "ready_s": …}

What is measured, all in one process and one run:

* **lane** — half the transits are badge entries (an RDM6300 frame written to
  the emulator's pty), half zero-fee exits (a PN532 card holding a ticket
  inside the grace period). t0 is when the last byte of the last frame the
  lane needed was written into the pty (for the card: the final
  InDataExchange READ answer); t1 is when the barrier's OPEN relay pin went
  to its active level (LOW on the Pi 4 board's low-trigger relays). The lane is
  the agent's own assembly of ``boards/pi4_lane.toml`` with a quicker arm. In between run the real drivers, the machine, the tariff, every
  durable outbox write (fsync'd SQLite on this disk) and the used-ticket mark.
  Each transit then drives the simulated car through so the lane resets.
* **baseline** — a bare loop in this run: the same frames written into a pty,
  read with pyserial until complete, then a mock relay pin toggled.
* **idle_rss_mb / ready_s** — ``gatepost edge`` started as its own process on
  the shipped entry-lane example with ``simulate = true`` (no camera):
  seconds from spawn to "agent ready", and its resident memory once idle.

Targets (issue 2): p99 ≤ 10 ms, idle RSS ≤ 60 MB, ready ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import serial
from gpiozero import OutputDevice
from gpiozero.pins.mock import MockFactory, MockPin

# Run as a script: the checkout's ``edge`` comes first on sys.path (before any installed copy),
# so these imports must follow the insert.
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge.config.profile import OutputPin  # noqa: E402
from edge.config.schema import LaneSection  # noqa: E402
from edge.hw.gpio import activate, deactivate  # noqa: E402
from edge.hw.rdm6300 import encode_frame  # noqa: E402
from edge.lane.occupancy import Occupancy  # noqa: E402
from edge.sim.pn532_emulator import NtagMemory  # noqa: E402
from edge.sim.pty import PtyPair  # noqa: E402
from edge.sim.site import board_profile, build_sim_lane, with_barrier  # noqa: E402
from edge.tariff import load_tariff  # noqa: E402

TARIFF = ROOT / "firmware_configs" / "tariffs" / "grace_per_minute.toml"
GATEPOST = Path(sys.executable).with_name("gatepost")
"""The ``gatepost`` console script of the venv running this benchmark, whichever venv that is."""
PROFILE = with_barrier(
    board_profile("pi4_lane"), pulse_s=0.3, max_pulse_s=1.0, travel_s=0.05, travel_timeout_s=2.0
)
"""The shipped Pi 4 lane board; only the arm is quicker (barrier profile fields), so transits keep up."""


def _barrier_relay() -> OutputPin:
    relay = PROFILE.board.pins.barrier_open
    assert relay is not None, "the Pi 4 lane board drives its barrier through a relay"
    return relay


RELAY = _barrier_relay()


class TimedPin(MockPin):
    """A mock pin that notes (perf_counter) when it goes to ``on_level`` (a relay switching on)."""

    on_level = True

    def _change_state(self, value):
        changed = super()._change_state(value)
        if changed and bool(value) == self.on_level:
            self.went_on = time.perf_counter()
            event = getattr(self, "high_event", None)
            if event is not None:
                event.set()
        return changed


class WireClock:
    """Timestamps every write an emulator makes into its pty (the moment its last byte is in)."""

    def __init__(self, pty: PtyPair) -> None:
        self.last = 0.0
        original = pty.write

        def write(data: bytes) -> None:
            original(data)
            self.last = time.perf_counter()

        pty.write = write  # type: ignore[method-assign]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("simulated lane did not reach the expected state")
        time.sleep(0.0005)


def drive_through(sim) -> None:
    lane = sim.lane
    activate(lane.safety_loop)
    deactivate(lane.arming_loop)
    deactivate(lane.safety_loop)
    wait(lambda: sim.barrier.state == "closed" and lane.status().phase == "idle")


def lane_latencies(workdir: Path, transits: int) -> list[float]:
    tariff = load_tariff(TARIFF)
    badges = {f"{0x1000000000 + i:010X}": "resident" for i in range(transits)}
    occupancy = Occupancy(capacity=100_000)
    samples: list[float] = []
    for role in ("entry", "exit"):
        count = transits // 2 if role == "entry" else transits - transits // 2
        factory = MockFactory(pin_class=TimedPin)
        sim = build_sim_lane(
            role,
            workdir,
            profile=PROFILE,
            tariff=tariff,
            occupancy=occupancy,
            lane=LaneSection(capacity=100_000, close_delay_s=0),
            whitelist=badges,
            camera=False,
            pin_factory=factory,
        )
        relay_pin = factory.pin(RELAY.pin)
        relay_pin.on_level = RELAY.active_high
        relay_pin.high_event = threading.Event()
        wire = WireClock(sim.pn532._pty)  # badge frames are timed where the bench writes them
        now = datetime.now(UTC)
        cards = []
        if role == "exit":
            for i in range(count):
                ticket = sim.codec.make(f"BENCH{i:06d}", now - timedelta(minutes=5), "car")
                cards.append(NtagMemory.with_user_memory(sim.codec.encode_card(ticket)))
        try:
            for i in range(count):
                activate(sim.lane.arming_loop)
                wait(lambda sim=sim: sim.lane.status().phase == "waiting")
                relay_pin.high_event.clear()
                if role == "entry":
                    assert sim.rdm6300 is not None  # the entry lane has its badge reader
                    sim.rdm6300.send_raw(encode_frame(f"{0x1000000000 + i:010X}"))
                    wire.last = time.perf_counter()
                else:
                    sim.pn532.place_card(cards[i])
                if not relay_pin.high_event.wait(5):
                    raise TimeoutError(f"{role} transit {i}: barrier never opened")
                samples.append((relay_pin.went_on - wire.last) * 1000)
                wait(lambda sim=sim: sim.barrier.state == "open")
                if role == "exit":
                    sim.pn532.remove_card()
                drive_through(sim)
        finally:
            sim.close()
    return samples


def baseline_latencies(transits: int) -> list[float]:
    """Same frames through a pty, read with pyserial, then a relay pin toggled: nothing else."""
    factory = MockFactory(pin_class=TimedPin)
    relay = OutputDevice(RELAY.pin, pin_factory=factory)
    pin = factory.pin(RELAY.pin)
    pty = PtyPair()
    port = serial.Serial(pty.device_path, 9600, timeout=1)
    frames = [encode_frame(f"{0x1000000000 + i:010X}") for i in range(transits)]
    samples: list[float] = []
    done = threading.Event()

    def loop() -> None:
        for frame in frames:
            data = b""
            while len(data) < len(frame):
                data += port.read(len(frame) - len(data))
            relay.on()
            done.set()

    reader = threading.Thread(target=loop, daemon=True)
    reader.start()
    for frame in frames:
        relay.off()
        done.clear()
        pty.write(frame)
        written = time.perf_counter()
        done.wait(5)
        samples.append((pin.went_on - written) * 1000)
    reader.join(2)
    port.close()
    pty.close()
    relay.close()
    return samples


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def agent_ready_and_rss(workdir: Path) -> tuple[float, float]:
    """Spawn `gatepost edge` on the simulated example config; time to ready and idle RSS."""
    text = (ROOT / "firmware_configs" / "examples" / "entry_lane.toml").read_text(encoding="utf-8")
    text = text.replace("simulate = false", "simulate = true")
    text = text.replace(
        'profile = "boards/pi4_lane.toml"',
        f'profile = "{ROOT}/firmware_configs/boards/pi4_lane.toml"',
    )
    text = text.replace(
        'file = "../tariffs/day_night_cn.toml"',
        f'file = "{ROOT}/firmware_configs/tariffs/day_night_cn.toml"',
    )
    text = text.replace("port = 8080", f"port = {_free_port()}")
    config = workdir / "entry_sim.toml"
    config.write_text(text, encoding="utf-8")
    env = dict(
        os.environ, GATEPOST_SITE_KEYS=json.dumps({"1": "ab" * 32}), GATEPOST_LOG_FORMAT="json"
    )
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            str(GATEPOST),
            "edge",
            "--config",
            str(config),
            "--state-dir",
            str(workdir / "agent"),
            "--offline",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    ready_s = float("nan")
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "agent ready" in line:
                ready_s = time.perf_counter() - started
                break
        time.sleep(2.0)  # idle
        rss_kb = 0
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss_kb = int(line.split()[1])
        return ready_s, rss_kb / 1024
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transits", type=int, default=1000)
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="gatepost-bench-") as tmp:
        workdir = Path(tmp)
        lane = lane_latencies(workdir, args.transits)
        base = baseline_latencies(args.transits)
        ready_s, rss_mb = agent_ready_and_rss(workdir)
    print(
        json.dumps(
            {
                "bench": "lane_latency",
                "transits": len(lane),
                "p50_ms": round(statistics.median(lane), 3),
                "p99_ms": round(percentile(lane, 0.99), 3),
                "baseline_p50_ms": round(statistics.median(base), 3),
                "baseline_p99_ms": round(percentile(base, 0.99), 3),
                "idle_rss_mb": round(rss_mb, 1),
                "ready_s": round(ready_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()

"""``gatepost demo``: a whole simulated car park on this machine, narrated.

One entry and one exit lane, each the real lane code on the real drivers,
with simulated cars, cards, badges and barrier arms (edge/sim/site.py). It
needs nothing set up: state goes to a temporary directory. The script walks
through what a guard sees in a day — a visitor issued a timed card, a
resident badging in, the exit fee sentence and the cash confirmation, a
replayed card refused, a lost card, a full lot and the guard's override — and
prints every message shown to the driver and every event written.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import click

from edge.lane.machine import Effect, Emit, Show
from edge.lane.occupancy import Occupancy
from edge.sim.site import SimulatedLane, build_sim_lane
from edge.tariff import load_tariff
from edge.wire import EventType

TARIFF = Path(__file__).resolve().parents[2] / "firmware_configs" / "tariffs" / "day_night_cn.toml"


class DemoClock:
    """Real time plus an offset the demo moves forward ("two hours later…")."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        with self._lock:
            self.offset += timedelta(**kwargs)


class Narrator:
    """Prints what each lane shows and records, one line each, in order."""

    QUIET: ClassVar[frozenset[EventType]] = frozenset({EventType.BARRIER_CLOSED})

    def __init__(self, echo: Callable[[str], None], verbose: bool) -> None:
        self.echo = echo
        self.verbose = verbose
        self._lock = threading.Lock()

    def watch(self, sim: SimulatedLane) -> None:
        name = sim.lane.name

        def seen(effect: Effect) -> None:
            if isinstance(effect, Show):
                self.say(f"  [{name}] 显示 {effect.message.zh}  |  {effect.message.en}")
            elif isinstance(effect, Emit) and (self.verbose or effect.event_type not in self.QUIET):
                data = effect.data.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                data.pop("lines", None)
                self.say(f"  [{name}] event {effect.event_type}: {data}")

        sim.lane.on_effect = _chain(sim.lane.on_effect, seen)

    def say(self, line: str) -> None:
        with self._lock:
            self.echo(line)


def _chain(first: Callable[[Effect], None] | None, second: Callable[[Effect], None]) -> Callable[[Effect], None]:
    def both(effect: Effect) -> None:
        if first is not None:
            first(effect)
        second(effect)

    return both


def _wait(predicate: Callable[[], bool], timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def run_demo(echo: Callable[[str], None] = click.echo, *, rounds: int = 1, verbose: bool = False,
             workdir: Path | None = None) -> dict[str, int]:
    """Run the scripted day ``rounds`` times; return event counts per type (for tests)."""
    tariff = load_tariff(TARIFF)
    clock = DemoClock()
    occupancy = Occupancy(capacity=20, reserved=2, occupied=12)
    narrator = Narrator(echo, verbose)
    with tempfile.TemporaryDirectory(prefix="gatepost-demo-") as tmp:
        root = workdir or Path(tmp)
        entry = build_sim_lane("entry", root, tariff=tariff, occupancy=occupancy, clock=clock,
                               device="demo-entry-1", camera=False)
        exit_ = build_sim_lane("exit", root, tariff=tariff, occupancy=occupancy, clock=clock,
                               device="demo-exit-1", camera=False)
        try:
            narrator.watch(entry)
            narrator.watch(exit_)
            for n in range(rounds):
                _day(entry, exit_, clock, occupancy, narrator, n)
            counts: dict[str, int] = {}
            for sim in (entry, exit_):
                for row in sim.outbox.pending(limit=100_000):
                    counts[row.event_type] = counts.get(row.event_type, 0) + 1
            echo(f"\n事件合计 events written: {dict(sorted(counts.items()))}")
            echo(f"车位 occupancy: {occupancy.snapshot().occupied}/{occupancy.snapshot().capacity}")
            return counts
        finally:
            entry.close()
            exit_.close()


def _drive(sim: SimulatedLane, narrator: Narrator, present: Callable[[], None], what: str) -> bool:
    car = sim.vehicle()
    car.arrive()
    time.sleep(0.1)
    present()
    if not _wait(lambda: sim.barrier.state == "open"):
        narrator.say(f"  ({what}: barrier stayed closed; the car backs away)")
        car.leave()
        return False
    car.drive_through()
    _wait(lambda: sim.barrier.state == "closed")
    return True


def _day(entry: SimulatedLane, exit_: SimulatedLane, clock: DemoClock, occupancy: Occupancy,
         narrator: Narrator, round_no: int) -> None:
    say = narrator.say
    say(f"\n== 第{round_no + 1}天 day {round_no + 1}: 访客进车写卡 a visitor takes a timed card ==")
    card_holder: list = []

    def blank_card() -> None:
        card_holder.append(entry.place_card())

    _drive(entry, narrator, blank_card, "visitor entry")
    entry.pn532.remove_card()

    say("\n== 业主刷卡进场 a resident badges in (no ticket, no fee) ==")
    _drive(entry, narrator, lambda: entry.rdm6300.present("0A1B2C3D4E"), "resident")
    entry.rdm6300.remove()

    say("\n== 两小时后,出车验卡收费 two hours later the visitor leaves and pays ==")
    clock.advance(hours=2, minutes=5)
    car = exit_.vehicle()
    car.arrive()
    time.sleep(0.1)
    exit_.pn532.place_card(card_holder[0])
    if _wait(lambda: exit_.payments.due is not None):
        time.sleep(0.3)
        say("  (岗亭确认收现金 the guard confirms the cash)")
        exit_.lane.payment_received("cash", by="demo guard")
        _wait(lambda: exit_.barrier.state == "open")
        car.drive_through()
        _wait(lambda: exit_.barrier.state == "closed")
    exit_.pn532.remove_card()
    time.sleep(0.4)

    say("\n== 同一张卡再用一次 the same card again: refused ==")
    again = exit_.vehicle()
    again.arrive()
    exit_.pn532.place_card(card_holder[0])
    _wait(lambda: exit_.lane.status().message == "rejected_already_used", timeout=3)
    again.leave()
    exit_.pn532.remove_card()
    time.sleep(0.4)

    say("\n== 遗失卡 a driver lost the card: the guard notes the plate ==")
    lost = exit_.vehicle()
    lost.arrive()
    time.sleep(0.1)
    exit_.lane.lost_ticket("粤B12345", by="demo guard")
    if exit_.payments.due is not None:
        exit_.lane.payment_received("cash", by="demo guard")
    if _wait(lambda: exit_.barrier.state == "open"):
        lost.drive_through()
        _wait(lambda: exit_.barrier.state == "closed")

    say("\n== 车位已满 the lot is full: refused, then the guard overrides ==")
    occupancy.correct(occupancy.snapshot().capacity)
    full = entry.vehicle()
    full.arrive()
    _wait(lambda: entry.lane.status().phase == "refused_full", timeout=3)
    time.sleep(0.2)
    say("  (岗亭放行并填写原因 the guard overrides with a reason)")
    entry.lane.override_full("业主访客 guest of unit 3-502", by="demo guard")
    entry.place_card()
    if _wait(lambda: entry.barrier.state == "open"):
        full.drive_through()
        _wait(lambda: entry.barrier.state == "closed")
    entry.pn532.remove_card()
    occupancy.correct(12)
    time.sleep(0.4)


@click.command("demo")
@click.option("--rounds", default=1, show_default=True, type=click.IntRange(1, 1000),
              help="how many times to run the day's script")
@click.option("--verbose", is_flag=True, help="also print barrier_closed events")
def demo(rounds: int, verbose: bool) -> None:
    """Run a simulated entry and exit lane and narrate what happens."""
    if not verbose:
        # The narration says what happens; the lanes' own warnings would repeat it as JSON.
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    click.echo("Gatepost demo: 入口 demo-entry-1 + 出口 demo-exit-1, simulated cars, cards, badges and barriers")
    run_demo(click.echo, rounds=rounds, verbose=verbose)

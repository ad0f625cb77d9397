"""The booth console against simulated lanes (real drivers on ptys + MockFactory pins), a real roster and store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.console.app import create_console_app, serve_console
from edge.console.guards import Guard, GuardRoster, hash_pin
from edge.console.store import ConsoleStore
from edge.hw.printer import TicketPrinter
from edge.serve import RunningApp
from edge.sim.site import SimulatedLane, build_sim_lane
from edge.tariff import Tariff, load_tariff
from edge.ticket import new_serial
from tests.lane.sim import SCENARIO_BOARDS, lane_config, sim_profile, wait_for
from tests.support.services import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
TARIFF_PATH = ROOT / "firmware_configs" / "tariffs" / "hourly_capped.toml"
PINS = {"g001": "1234", "g002": "5678", "s001": "9999"}
RECEIPT_KEY = b"receipt-test-key-0123456789abcdef"


@pytest.fixture(scope="session")
def pin_hashes() -> dict[str, str]:
    return {staff: hash_pin(pin) for staff, pin in PINS.items()}


def make_roster(pin_hashes: dict[str, str], clock: Any = None, **kwargs: Any) -> GuardRoster:
    guards = [
        Guard("g001", "王强", pin_hashes["g001"], "guard", "0C0C0C0C0C"),
        Guard("g002", "李娜", pin_hashes["g002"], "guard", "0D0D0D0D0D"),
        Guard("s001", "张主管", pin_hashes["s001"], "supervisor"),
    ]
    return GuardRoster(guards, clock or (lambda: datetime.now(UTC)), **kwargs)


@pytest.fixture
def tariff() -> Tariff:
    return load_tariff(TARIFF_PATH)


@dataclass
class Post:
    """A running booth: its lanes, console app and server, store and receipt printer."""

    lanes: dict[str, SimulatedLane]
    app: Any
    store: ConsoleStore
    printer: TicketPrinter
    server: RunningApp | None = None
    closers: list[Any] = field(default_factory=list)

    @property
    def booth(self) -> Any:
        return self.app.state.booth

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url.rstrip("/")

    def car_with_ticket(self, lane: str, minutes: float) -> Any:
        """A car at ``lane`` holding a genuine card issued ``minutes`` ago; returns the car once the fee is due."""
        sim = self.lanes[lane]
        entry_at = datetime.now(UTC) - timedelta(minutes=minutes)
        ticket = sim.codec.make(new_serial("entry-1", entry_at), entry_at, "car")
        car = sim.vehicle()
        car.arrive()
        sim.place_card(sim.codec.encode_card(ticket))
        payments = sim.payments
        assert payments is not None  # an exit lane has a payment desk
        wait_for(lambda: payments.due is not None, what="fee due")
        return car


@pytest.fixture(params=SCENARIO_BOARDS)
def board(request: pytest.FixtureRequest) -> str:
    """Every booth test runs on the lanes of each shipped lane board (tests/lane/sim.py)."""
    return str(request.param)


@pytest.fixture
def make_post(tmp_path, tariff, pin_hashes, board):
    made: list[Post] = []

    def make(
        names: tuple[str, ...] = ("exit-1",),
        *,
        serve: bool = True,
        sims: dict[str, SimulatedLane] | None = None,
        **kwargs: Any,
    ) -> Post:
        lanes = sims or {
            name: build_sim_lane(
                "exit" if "exit" in name else "entry",
                tmp_path,
                tariff=tariff,
                profile=sim_profile(board),
                lane=lane_config(),
                device=name,
                camera=False,
            )
            for name in names
        }
        store = ConsoleStore(tmp_path / f"console-{len(made)}.sqlite3")
        printer = TicketPrinter.open("dummy")
        app = create_console_app(
            [s.lane for s in lanes.values()],
            kwargs.pop("roster", None) or make_roster(pin_hashes),
            store,
            post="booth-a",
            site="demo",
            clock=lambda: datetime.now(UTC),
            printer=printer,
            receipt_key=RECEIPT_KEY,
            **kwargs,
        )
        post = Post(lanes=lanes, app=app, store=store, printer=printer)
        if serve:
            port = free_port()
            post.server = serve_console(app, "127.0.0.1", port)
            wait_for_port(port)
        made.append(post)
        return post

    yield make
    for post in made:
        if post.server is not None:
            post.server.stop()
        for sim in post.lanes.values():
            sim.close()
        post.store.close()

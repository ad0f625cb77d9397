"""A simulated lane built from the real drivers and the in-package simulators.

Everything below the lane logic is the code that runs on a Pi: the barrier
with its relay watchdog and limit switches, the loop sensors, the PN532 card
station and the RDM6300 badge reader, the outbox. Only the far side of each
wire is simulated: gpiozero MockFactory pins moved by a
:class:`~edge.sim.vehicle.VehicleSimulator` and a
:class:`~edge.sim.vehicle.LimitSwitchSimulator`, and byte-exact emulators on
ptys. The demo, the lane tests and the latency benchmark all build lanes here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from edge.hw.barrier import Barrier
from edge.hw.card_station import CardStation
from edge.hw.gpio import make_pin_factory
from edge.hw.pole_display import CapturedDisplay
from edge.hw.printer import TicketPrinter
from edge.hw.rdm6300 import BadgeReader
from edge.hw.sensors import ArmingLoop, BoothButtons, PhotoEye, SafetyLoop
from edge.lane.codec import SiteTickets
from edge.lane.lane import Lane, LaneParts
from edge.lane.machine import LaneMachine, LaneSettings, Show
from edge.lane.occupancy import Occupancy
from edge.lane.payments import PaymentDesk
from edge.lane.used_tickets import UsedTickets
from edge.link.outbox import Outbox
from edge.sim.pn532_emulator import NtagMemory, PN532Emulator
from edge.sim.rdm6300_emulator import RDM6300Emulator
from edge.sim.vehicle import LimitSwitchSimulator, VehicleSimulator
from edge.tariff import Tariff, quote
from edge.ticket import KeyRing, new_serial

log = logging.getLogger("gatepost.sim")

# BCM pin numbers of the simulated lane controller board.
PINS = {
    "barrier_open": 17, "barrier_close": 27, "opened_limit": 22, "closed_limit": 23,
    "arming_loop": 5, "safety_loop": 6, "photo_eye": 13,
    "confirm_payment": 16, "manual_raise": 20, "manual_close": 21,
}
DEMO_KEYS = KeyRing({1: bytes.fromhex("9f" * 32)})
"""Demo-only site key. A real site's keys come from the environment, never from code."""
DEMO_WHITELIST = {"0A1B2C3D4E": "resident", "0B0B0B0B0B": "staff"}


class CapturedText:
    """The text side of a simulated lane's display and voice: what was shown and said.

    The pole display itself is a real :class:`CapturedDisplay` (byte level); this
    keeps the full bilingual lines for tests and echoes them for the demo.
    """

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.shown: list[list[str]] = []
        self.said: list[str] = []
        self._echo = echo
        self._lock = threading.Lock()

    def show(self, lines: list[str]) -> None:
        with self._lock:
            self.shown.append(list(lines))
        if self._echo is not None:
            self._echo(" | ".join(lines))

    def say(self, text: str) -> None:
        with self._lock:
            self.said.append(text)

    @property
    def last(self) -> list[str]:
        with self._lock:
            return self.shown[-1] if self.shown else []


@dataclass
class SimulatedLane:
    """A running lane and the simulator handles a test or the demo drives it with."""

    lane: Lane
    role: Literal["entry", "exit"]
    pn532: PN532Emulator
    rdm6300: RDM6300Emulator
    mechanics: LimitSwitchSimulator
    text: CapturedText
    display: CapturedDisplay
    printer: TicketPrinter
    camera_source: Any
    outbox: Outbox
    store: UsedTickets
    codec: SiteTickets
    payments: PaymentDesk
    buttons: BoothButtons
    factory: Any
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def barrier(self) -> Barrier:
        return self.lane.barrier  # type: ignore[return-value]

    def vehicle(self, **kwargs: Any) -> VehicleSimulator:
        """A car for this lane; it drives once the barrier reports open."""
        kwargs.setdefault("step_s", 0.03)
        return VehicleSimulator(arming_loop=self.lane.arming_loop, safety_loop=self.lane.safety_loop,
                                photo_eye=self.lane.photo_eye, barrier=self.barrier, **kwargs)

    def place_card(self, data: bytes | None = None, uid: bytes | None = None) -> NtagMemory:
        """Put an NTAG card on the station: blank, or holding ``data`` in user memory."""
        if data is not None:
            tag = NtagMemory.with_user_memory(data, uid=uid)
        else:
            tag = NtagMemory(uid=uid) if uid else NtagMemory()
        self.pn532.place_card(tag)
        return tag

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:
                log.debug("closing simulated part failed", exc_info=True)


def build_sim_lane(
    role: Literal["entry", "exit"],
    workdir: str | Path,
    *,
    tariff: Tariff,
    site: str = "demo",
    device: str | None = None,
    occupancy: Occupancy | None = None,
    medium: Literal["card", "paper"] = "card",
    keys: KeyRing = DEMO_KEYS,
    whitelist: dict[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
    echo: Callable[[str], None] | None = None,
    travel_s: float = 0.2,
    travel_timeout_s: float = 2.0,
    issue_delay_s: float = 0.5,
    camera: bool | None = None,
    pin_factory: Any = None,
    start: bool = True,
) -> SimulatedLane:
    """Assemble (and by default start) one simulated lane with its own mock pins and ptys.

    ``camera`` (default: on for an exit lane) adds the lane camera filming a
    :class:`SimulatedCameraSource`; it loads OpenCV, so lanes that do not read
    paper tickets leave it off.
    """
    workdir = Path(workdir)
    device = device or f"{role}-1"
    wall = clock or (lambda: datetime.now(UTC))
    closers: list[Callable[[], None]] = []
    factory = pin_factory or make_pin_factory("mock")
    arming = ArmingLoop(PINS["arming_loop"], name="arming loop", pin_factory=factory, bounce_time=None)
    safety = SafetyLoop(PINS["safety_loop"], name="safety loop", pin_factory=factory, bounce_time=None)
    eye = PhotoEye(PINS["photo_eye"], name="photo-eye", pin_factory=factory, bounce_time=None)
    closers += [arming.close, safety.close, eye.close]
    barrier = Barrier(model="pulse", open_pin=PINS["barrier_open"], close_pin=PINS["barrier_close"],
                      opened_limit_pin=PINS["opened_limit"], closed_limit_pin=PINS["closed_limit"],
                      pulse_s=0.3, max_pulse_s=1.0, travel_timeout_s=travel_timeout_s,
                      pin_factory=factory, name=f"{device} barrier")
    barrier.register_presence(safety)
    barrier.register_presence(eye)
    closers.append(barrier.close_device)
    mechanics = LimitSwitchSimulator.for_barrier(barrier, travel_s=travel_s).start()
    closers.append(mechanics.stop)
    pn532 = PN532Emulator()
    closers.append(pn532.close)
    station = CardStation(pn532.device_path)
    closers.append(station.close)
    rdm = RDM6300Emulator()
    closers.append(rdm.close)
    badges = BadgeReader(rdm.device_path)
    closers.append(badges.close)
    text = CapturedText(echo)
    display = CapturedDisplay()
    printer = TicketPrinter.open("dummy")
    camera_source: Any = None
    lane_camera: Any = None
    if camera if camera is not None else role == "exit":
        # OpenCV is large: loaded only for lanes that film paper tickets.
        from edge.hw.camera import Camera
        from edge.sim.camera_source import SimulatedCameraSource

        camera_source = SimulatedCameraSource(320, 240, seed=1)
        lane_camera = Camera(camera_source)
        closers.append(lane_camera.close)
    outbox = Outbox(workdir / f"{device}-outbox.db", site, device, clock=wall)
    closers.append(outbox.close)
    store = UsedTickets(workdir / f"{device}-state.db", outbox=outbox)
    closers.append(store.close)
    codec = SiteTickets(keys, site, device)
    machine = LaneMachine(
        LaneSettings(role=role, currency=tariff.currency, medium=medium, issue_delay_s=issue_delay_s),
        clock=wall,
        occupancy=occupancy or Occupancy(capacity=100),
        quoter=lambda entry, exit, cls, lost: quote(tariff, entry, exit, cls, lost),
        serials=lambda now: new_serial(device, now),
        whitelist=DEMO_WHITELIST if whitelist is None else whitelist,
    )
    payments = PaymentDesk()
    lane = Lane(
        machine,
        LaneParts(barrier=barrier, arming_loop=arming, safety_loop=safety, photo_eye=eye,
                  card_station=station, badge_reader=badges, display=display,
                  announcer=text, printer=printer, camera=lane_camera),
        sink=outbox, store=store, codec=codec, payments=payments, name=device,
    )
    closers.append(lane.stop)
    buttons = BoothButtons(confirm_payment=PINS["confirm_payment"], manual_raise=PINS["manual_raise"],
                           manual_close=PINS["manual_close"], pin_factory=factory, bounce_time=None,
                           on_press=lane.booth_button)
    closers.append(buttons.close)
    lane.on_effect = lambda effect: text.show(effect.message.lines()) if isinstance(effect, Show) else None
    sim = SimulatedLane(
        lane=lane, role=role, pn532=pn532, rdm6300=rdm, mechanics=mechanics, text=text, display=display,
        printer=printer, camera_source=camera_source, outbox=outbox, store=store, codec=codec,
        payments=payments, buttons=buttons, factory=factory, closers=closers,
    )
    if start:
        lane.start()
    return sim



class SimClock:
    """The one clock of a simulated site: it runs at wall-clock rate and jumps forward on demand.

    The demo's lanes, tariff and traffic all read it. Between jumps it ticks
    like a real clock, so a lane's second-scale timers (close delay, open
    timeout) behave as on a real lane while the traffic driver skips the quiet
    minutes between cars; that is how ``--speed`` accelerates a day without
    squeezing a barrier's travel into a millisecond. It never runs backwards.
    """

    def __init__(self, start: datetime, mono: Callable[[], float] | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be zone-aware")
        self._mono = mono or time.monotonic
        self._lock = threading.Lock()
        self._base = start.astimezone(UTC)
        self._base_mono = self._mono()

    def __call__(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=self._mono() - self._base_mono)

    def advance_to(self, when: datetime) -> datetime:
        """Jump forward to ``when`` (no-op if the clock is already past it); the time now."""
        with self._lock:
            now = self._base + timedelta(seconds=self._mono() - self._base_mono)
            if when > now:
                self._base, self._base_mono = when.astimezone(UTC), self._mono()
                return self._base
            return now

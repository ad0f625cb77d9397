"""A simulated lane: the agent's own assembly from a shipped hardware profile, on simulators.

A simulated lane is built by :func:`edge.lane.assemble.assemble_lane` and
:func:`~edge.lane.assemble.build_lane`, the code the agent runs on a Pi, from
a board profile in ``firmware_configs/boards/`` and a ``[lane]`` config. The
simulation swaps only the far side of each wire: gpiozero MockFactory pins
(moved by a :class:`~edge.sim.vehicle.VehicleSimulator` and a
:class:`~edge.sim.vehicle.LimitSwitchSimulator`) and byte-exact emulators on
ptys in place of the profile's serial ports. Pins, levels, the barrier model
and every timing come from the profile and the lane config; a test that wants
a quicker arm changes the barrier profile's fields (:func:`with_barrier`), as
an installer would for a quicker controller. The lane tests, the console tests
and the latency benchmark build lanes here; the demo runs whole agents.
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

from edge.config.load import load_profile
from edge.config.profile import BarrierProfile, CameraProfile, HardwareProfile
from edge.config.schema import LaneSection
from edge.hw.barrier import Barrier
from edge.hw.pole_display import CapturedDisplay
from edge.hw.sensors import BoothButtons
from edge.lane.assemble import Assembly, LazyCamera, assemble_lane, build_lane, lane_settings
from edge.lane.codec import SiteTickets
from edge.lane.lane import Lane
from edge.lane.machine import Show
from edge.lane.occupancy import Occupancy
from edge.lane.payments import PaymentDesk
from edge.lane.used_tickets import UsedTickets
from edge.link.outbox import Outbox
from edge.sim.pn532_emulator import NtagMemory, PN532Emulator
from edge.sim.rdm6300_emulator import RDM6300Emulator
from edge.sim.vehicle import LimitSwitchSimulator, VehicleSimulator
from edge.tariff import Tariff, quote
from edge.ticket import KeyRing

log = logging.getLogger("gatepost.sim")

BOARDS = Path(__file__).resolve().parents[2] / "firmware_configs" / "boards"
"""The shipped board profiles (``pi4_lane``, ``pi_zero_2w_lane`` …)."""
DEMO_KEYS = KeyRing({1: bytes.fromhex("9f" * 32)})
"""Demo-only site key. A real site's keys come from the environment, never from code."""
DEMO_WHITELIST = {"0A1B2C3D4E": "resident", "0B0B0B0B0B": "staff"}


def board_profile(board: str | Path) -> HardwareProfile:
    """A board profile by its name under ``firmware_configs/boards`` (``"pi4_lane"``) or by path."""
    path = Path(board)
    if not path.suffix:
        path = BOARDS / f"{board}.toml"
    return load_profile(path)


def with_barrier(profile: HardwareProfile, **fields: Any) -> HardwareProfile:
    """``profile`` with its barrier profile's fields changed (e.g. a quicker arm), validated again.

    These are the fields an installer sets in ``barriers/*.toml`` and the agent reads; the
    result passes the same checks (pulse within its watchdog, travel within its timeout).
    """
    if profile.barrier is None:
        raise ValueError(f"board {profile.board.name!r} has no barrier")
    barrier = BarrierProfile.model_validate({**profile.barrier.model_dump(), **fields})
    return HardwareProfile.model_validate({**profile.model_dump(), "barrier": barrier.model_dump()})


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
    """A running lane and the simulator handles a test drives it with.

    Parts the profile does not have are None (the Pi Zero 2 W lane has no badge
    reader, printer, camera or CLOSE relay).
    """

    lane: Lane
    role: Literal["entry", "exit"]
    profile: HardwareProfile
    assembly: Assembly
    pn532: PN532Emulator
    rdm6300: RDM6300Emulator | None
    mechanics: LimitSwitchSimulator
    text: CapturedText
    display: CapturedDisplay
    printer: Any
    outbox: Outbox
    store: UsedTickets
    codec: SiteTickets
    payments: PaymentDesk | None
    buttons: BoothButtons | None
    factory: Any
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def barrier(self) -> Barrier:
        return self.lane.barrier  # type: ignore[return-value]

    @property
    def camera_source(self) -> Any:
        """The simulated scene the lane camera films (None without a camera).

        An entry lane opens its camera at the first snapshot (:class:`LazyCamera`); asking for
        the scene opens it now, so a test can stage what the camera will see.
        """
        camera = self.lane.camera
        if camera is None:
            return None
        if isinstance(camera, LazyCamera):
            camera._get()
        assert self.assembly.sims is not None
        return self.assembly.sims.camera_source

    @property
    def has_limit_switches(self) -> bool:
        return bool(self.barrier.has_limit_switches)

    def vehicle(self, **kwargs: Any) -> VehicleSimulator:
        """A car for this lane on the profile's loops and photo-eye; it drives once the barrier reports open."""
        kwargs.setdefault("step_s", 0.03)
        return VehicleSimulator(
            arming_loop=self.lane.arming_loop,
            safety_loop=self.lane.safety_loop,
            photo_eye=self.lane.photo_eye,
            barrier=self.barrier,
            **kwargs,
        )

    def place_card(self, data: bytes | None = None, uid: bytes | None = None) -> NtagMemory:
        """Put an NTAG card on the station: blank, or holding ``data`` in user memory."""
        if data is not None:
            tag = NtagMemory.with_user_memory(data, uid=uid)
        else:
            tag = NtagMemory(uid=uid) if uid else NtagMemory()
        self.pn532.place_card(tag)
        return tag

    def close(self) -> None:
        sim_close(self.closers)


def sim_close(closers: list[Callable[[], None]]) -> None:
    """Run ``closers`` newest first; one failing does not keep the others from running."""
    for closer in reversed(closers):
        try:
            closer()
        except Exception:
            log.debug("closing simulated part failed", exc_info=True)


def build_sim_lane(
    role: Literal["entry", "exit"],
    workdir: str | Path,
    *,
    profile: HardwareProfile | str | Path,
    tariff: Tariff,
    lane: LaneSection | None = None,
    site: str = "demo",
    device: str | None = None,
    occupancy: Occupancy | None = None,
    keys: KeyRing = DEMO_KEYS,
    whitelist: dict[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
    echo: Callable[[str], None] | None = None,
    camera: bool | None = None,
    pin_factory: Any = None,
    start: bool = True,
) -> SimulatedLane:
    """Assemble (and by default start) one simulated lane from a hardware profile, as the agent does.

    ``profile``: a :class:`HardwareProfile` or a board name/path (:func:`board_profile`).
    ``lane``: the ``[lane]`` config (medium and timings); default: the schema's defaults with
    room for 100 cars. ``occupancy`` replaces the one made from ``lane`` (lanes sharing a lot).
    ``camera``: None keeps the profile's camera; False builds the board without one (it loads
    OpenCV and films all the time); True requires one and makes it a simulated source.
    ``pin_factory``: a MockFactory of the caller's (a benchmark's timed pins).
    """
    workdir = Path(workdir)
    device = device or f"{role}-1"
    hardware = board_profile(profile) if isinstance(profile, str | Path) else profile
    lane_cfg = lane or LaneSection(capacity=100)
    if camera is False and hardware.board.camera is not None:
        hardware = hardware.model_copy(
            update={"board": hardware.board.model_copy(update={"camera": None})}
        )
    elif camera and hardware.board.camera is None:
        board = hardware.board.model_copy(update={"camera": CameraProfile(source="sim")})
        hardware = hardware.model_copy(update={"board": board})
    wall = clock or (lambda: datetime.now(UTC))
    closers: list[Callable[[], None]] = []
    try:
        outbox = Outbox(workdir / f"{device}-outbox.db", site, device, clock=wall)
        closers.append(outbox.close)
        store = UsedTickets(workdir / f"{device}-state.db", outbox=outbox)
        closers.append(store.close)
        assembly = assemble_lane(
            hardware,
            role=role,
            medium=lane_cfg.ticket_medium,
            simulate=True,
            pin_factory=pin_factory,
            initially_open=store.get("barrier") == "open",
        )
        closers.append(assembly.close)
        sims = assembly.sims
        assert sims is not None and sims.mechanics is not None
        if sims.pn532 is None:
            raise ValueError(
                f"board {hardware.board.name!r} has no card reader: a simulated lane needs one"
            )
        display = assembly.parts.display
        if display is None:
            raise ValueError(f"board {hardware.board.name!r} has no fee display")
        assert isinstance(display, CapturedDisplay)  # a simulated lane's display is always captured
        text = CapturedText(echo)
        assembly.parts.announcer = text  # the voice's far end: what the lane says is captured
        codec = SiteTickets(keys, site, device)
        lane_obj = build_lane(
            assembly,
            lane_settings(role, lane_cfg, currency=tariff.currency, language="zh"),
            device=device,
            clock=wall,
            occupancy=occupancy or Occupancy(lane_cfg.capacity, lane_cfg.reserved_spaces),
            quoter=lambda entry, exit, cls, lost: quote(tariff, entry, exit, cls, lost),
            sink=outbox,
            store=store,
            codec=codec,
            guard_on_duty="booth",
            whitelist=DEMO_WHITELIST if whitelist is None else whitelist,
            storage=lane_cfg,
        )
        closers.append(lane_obj.stop)
        lane_obj.on_effect = lambda effect: (
            text.show(effect.message.lines()) if isinstance(effect, Show) else None
        )
        payments = lane_obj.payments if isinstance(lane_obj.payments, PaymentDesk) else None
        sim = SimulatedLane(
            lane=lane_obj,
            role=role,
            profile=hardware,
            assembly=assembly,
            pn532=sims.pn532,
            rdm6300=sims.rdm6300,
            mechanics=sims.mechanics,
            text=text,
            display=display,
            printer=assembly.parts.printer,
            outbox=outbox,
            store=store,
            codec=codec,
            payments=payments,
            buttons=assembly.buttons,
            factory=assembly.factory,
            closers=closers,
        )
        if start:
            lane_obj.start()
    except BaseException:
        sim_close(closers)  # a board the simulation cannot run leaves no port or file open
        raise
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

"""Build a lane from its hardware profile and lane config: the one way every lane is made.

The hardware profile (``firmware_configs/boards/*.toml`` and the parts it
names) fixes pins, ports and barrier timings; :func:`assemble_lane` turns it
into a :class:`~edge.lane.lane.LaneParts`, and :func:`build_lane` puts the
state machine (settings from the ``[lane]`` config) on those parts. The agent,
the demo (through the agent) and the simulated lanes of the tests and the
benchmark (:func:`edge.sim.site.build_sim_lane`) all come through here, so the
tested wiring is the shipped wiring.

With ``simulate = true`` the drivers are exactly the same and only the far end
of each wire changes: mock pins (with a limit-switch simulator moving the arm
in the profile's ``travel_s``), PN532/RDM6300 emulators on ptys in place of the
profile's serial ports, a captured pole display and a dummy ESC/POS printer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from edge.config.profile import HardwareProfile
from edge.config.schema import LaneSection
from edge.errors import ConfigError, DeviceError
from edge.hw.card_station import CardStation
from edge.hw.lane_gpio import LaneGpio
from edge.hw.pole_display import CapturedDisplay, PoleDisplay
from edge.hw.rdm6300 import BadgeReader
from edge.hw.sensors import BoothButtons
from edge.lane.lane import Lane, LaneParts
from edge.lane.machine import LaneMachine, LaneSettings
from edge.lane.messages import Language
from edge.lane.occupancy import Occupancy
from edge.lane.payments import PaymentDesk
from edge.lane.ports import EventSink, Quoter, TicketCodec
from edge.lane.snapshots import Snapshots
from edge.lane.used_tickets import UsedTickets
from edge.ticket import new_serial

log = logging.getLogger("gatepost.lane.assemble")


@dataclass
class Simulators:
    """Handles on the far side of the wires, when the lane is simulated."""

    pn532: Any = None
    rdm6300: Any = None
    mechanics: Any = None
    camera_source: Any = None


@dataclass
class Assembly:
    parts: LaneParts
    closers: list[Callable[[], None]] = field(default_factory=list)
    sims: Simulators | None = None
    factory: Any = None
    buttons: BoothButtons | None = None
    """The guard's booth buttons; the agent routes presses to ``Lane.booth_button``."""

    def close(self) -> None:
        _close_all(self.closers)


def _close_all(closers: list[Callable[[], None]]) -> None:
    """Close parts newest first; one failing does not keep the others open."""
    for closer in reversed(closers):
        try:
            closer()
        except Exception:
            log.debug("closing a lane part failed", exc_info=True)


class LazyCamera:
    """A camera opened, and OpenCV imported, on first use (an entry lane's snapshot camera).

    Reports ``status`` "ok" until then: an entry lane's first snapshot is what
    finds out whether the camera works (the snapshot log says so).
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._camera: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._camera is not None

    @property
    def status(self) -> str:
        camera = self._camera
        return "ok" if camera is None else str(camera.status)

    def _get(self) -> Any:
        with self._lock:
            if self._camera is None:
                try:
                    self._camera = self._make()
                except ImportError as exc:
                    raise DeviceError(f"camera support (OpenCV) not installed: {exc}") from exc
            return self._camera

    def snapshot(self) -> Any:
        return self._get().snapshot()

    def save_snapshot(self, directory: Any, ref: str) -> Any:
        return self._get().save_snapshot(directory, ref)

    def close(self) -> None:
        with self._lock:
            if self._camera is not None:
                self._camera.close()


class LazyPrinter:
    """An exit lane's receipt printer, opened (and python-escpos imported) at the first receipt.

    An idle exit lane keeps its memory (the Pi's idle budget); a printer that
    cannot be opened is a :class:`DeviceError` at that receipt, which the booth
    console logs and reports ("the receipt printer is not working").
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._printer: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._printer is not None

    def _get(self) -> Any:
        with self._lock:
            if self._printer is None:
                try:
                    self._printer = self._make()
                except ImportError as exc:
                    raise DeviceError(
                        f"receipt printing (python-escpos) not installed: {exc}"
                    ) from exc
            return self._printer

    @property
    def captured(self) -> bytes:
        """What the dummy printer got (simulated lanes); nothing printed yet is no bytes."""
        return b"" if self._printer is None else bytes(self._printer.captured)

    def print_receipt(self, lines: Any, qr_text: str | None = None) -> None:
        self._get().print_receipt(lines, qr_text)

    def print_ticket(self, ticket_qr_text: str, lines: Any) -> None:
        self._get().print_ticket(ticket_qr_text, lines)

    def close(self) -> None:
        with self._lock:
            if self._printer is not None:
                self._printer.close()


def assemble_lane(
    profile: HardwareProfile,
    *,
    role: str,
    medium: str,
    simulate: bool,
    pin_factory: Any = None,
    initially_open: bool = False,
) -> Assembly:
    """The lane's devices from ``profile``; raises :class:`ConfigError` for an unusable profile.

    ``pin_factory`` replaces the profile's (a simulated lane may bring its own MockFactory, e.g. a
    benchmark's timed pins); ``initially_open`` keeps a hold barrier's relay energised from the
    first instant when the lane persisted its arm as open, so a restart never drops the arm before
    the lane's recovery has looked at the loops (see :meth:`Barrier.recover`).
    """
    board = profile.board
    pins = board.pins
    if profile.barrier is None or pins.barrier_open is None:
        raise ConfigError(f"board {board.name!r} has no barrier: a lane needs one")
    if pins.arming_loop is None or pins.safety_loop is None:
        raise ConfigError(
            f"board {board.name!r} needs an arming_loop and a safety_loop pin for a lane"
        )
    sims = Simulators() if simulate else None
    closers: list[Callable[[], None]] = []

    try:
        # Pins, levels, the barrier's timings and its safety wiring: one builder (LaneGpio) for all.
        gpio = LaneGpio.from_profile(
            profile, simulate=simulate, pin_factory=pin_factory, initially_open=initially_open
        )
        closers.append(gpio.close)
        factory = gpio.pin_factory
        barrier, arming, safety, eye = (
            gpio.barrier,
            gpio.arming_loop,
            gpio.safety_loop,
            gpio.photo_eye,
        )
        assert barrier is not None and arming is not None and safety is not None  # checked above
        if sims is not None:
            from edge.sim.vehicle import LimitSwitchSimulator

            # The simulated arm takes the profile's own travel time: a test that wants a quicker arm
            # says so in the barrier profile, as an installer would for a quicker controller.
            sims.mechanics = LimitSwitchSimulator.for_barrier(
                barrier, travel_s=profile.barrier.travel_s
            ).start()
            closers.append(sims.mechanics.stop)

        station = None
        if profile.card_reader is not None:
            port = profile.card_reader.port
            if sims is not None:
                from edge.sim.pn532_emulator import PN532Emulator

                sims.pn532 = PN532Emulator()
                closers.append(sims.pn532.close)
                port = sims.pn532.device_path
            station = CardStation(
                port,
                timeout=profile.card_reader.timeout_s,
                poll_interval=profile.card_reader.poll_interval_s,
            )
            closers.append(station.close)

        badges = None
        reader = profile.badge_reader
        if reader is not None and reader.model == "rdm6300" and reader.port is not None:
            port = reader.port
            if sims is not None:
                from edge.sim.rdm6300_emulator import RDM6300Emulator

                sims.rdm6300 = RDM6300Emulator()
                closers.append(sims.rdm6300.close)
                port = sims.rdm6300.device_path
            badges = BadgeReader(port, baudrate=reader.baudrate, debounce_s=reader.repeat_gap_s)
            closers.append(badges.close)

        display: PoleDisplay | None = None
        if profile.display is not None:
            d = profile.display
            if simulate or d.model == "captured" or d.port is None:
                display = CapturedDisplay(cols=d.columns, rows=d.rows, encoding=d.encoding)
            else:
                display = PoleDisplay(
                    d.port, cols=d.columns, rows=d.rows, baudrate=d.baudrate, encoding=d.encoding
                )
            closers.append(display.close)

        printer: Any = None
        if medium == "paper" and role == "entry" and profile.printer is None:
            raise ConfigError(
                "lane.ticket_medium = 'paper' needs a printer in the hardware profile"
            )
        if profile.printer is not None and (
            (medium == "paper" and role == "entry") or role == "exit"
        ):
            p = profile.printer
            width = 32 if p.paper_width_mm == 58 else 48

            def open_printer() -> Any:
                # python-escpos brings Pillow and qrcode (~9 MB): loaded only where something prints.
                from edge.hw.printer import TicketPrinter

                if simulate or p.connection == "dummy":
                    return TicketPrinter.open("dummy", width=width, cut=p.cut)
                if p.connection == "serial":
                    return TicketPrinter.open(
                        "serial", devfile=p.port, baudrate=p.baudrate, width=width, cut=p.cut
                    )
                return TicketPrinter.open(
                    "usb",
                    idVendor=p.usb_vendor_id,
                    idProduct=p.usb_product_id,
                    width=width,
                    cut=p.cut,
                )

            # A paper-ticket entry lane prints its tickets from the first car on; at an exit lane the
            # profile's printer is the booth console's receipt printer, opened at the first receipt.
            printer = open_printer() if role == "entry" else LazyPrinter(open_printer)
            closers.append(printer.close)

        camera: Any = None
        if board.camera is not None:
            camera_spec: Any = board.camera.source
            sim_camera = simulate or camera_spec == "sim"

            def open_camera() -> Any:
                from edge.hw.camera import Camera

                source: Any = camera_spec
                if sim_camera:
                    from edge.sim.camera_source import SimulatedCameraSource

                    source = SimulatedCameraSource(320, 240)
                    if sims is not None:
                        sims.camera_source = source
                return Camera(source)

            # OpenCV is large (~30 MB) and slow to import on a Pi: an exit lane reads paper tickets
            # with it from the start; an entry lane only takes snapshots, so it loads it at the first.
            camera = open_camera() if role == "exit" else LazyCamera(open_camera)
            closers.append(camera.close)

        parts = LaneParts(
            barrier=barrier,
            arming_loop=arming,
            safety_loop=safety,
            photo_eye=eye,
            card_station=station,
            badge_reader=badges,
            display=display,
            printer=printer,
            camera=camera,
        )
    except BaseException:
        _close_all(closers)  # a part that failed leaves no pin, port or emulator of the others open
        raise

    return Assembly(parts, closers, sims, factory, gpio.buttons)


def lane_settings(
    role: Literal["entry", "exit"], lane: LaneSection, *, currency: str, language: Language
) -> LaneSettings:
    """The state machine's settings from the ``[lane]`` config: every timing the lane runs on."""
    return LaneSettings(
        role=role,
        currency=currency,
        medium=lane.ticket_medium,
        language=language,
        close_delay_s=lane.close_delay_s,
        issue_delay_s=lane.issue_delay_s,
        unattended_mode=lane.unattended_mode,
        storage_fault_badges=lane.storage_fault_badges,
    )


def build_lane(
    assembly: Assembly,
    settings: LaneSettings,
    *,
    device: str,
    clock: Callable[[], datetime],
    occupancy: Occupancy,
    quoter: Quoter,
    sink: EventSink,
    store: UsedTickets,
    codec: TicketCodec,
    guard_on_duty: str | None,
    whitelist: Mapping[str, str] | None = None,
    storage: LaneSection,
    snapshots: Snapshots | None = None,
) -> Lane:
    """The lane (state machine on the assembled parts), not yet started; booth buttons routed to it.

    An exit lane takes payments at its own :class:`PaymentDesk`; an entry lane takes none.
    ``storage``: the ``[lane]`` config whose hold bound and probe interval the lane's
    :class:`~edge.link.storage.StorageGuard` uses (events the disk refuses wait in memory).
    """
    machine = LaneMachine(
        settings,
        clock=clock,
        occupancy=occupancy,
        quoter=quoter,
        serials=lambda now: new_serial(device, now),
        whitelist=whitelist,
        guard_on_duty=guard_on_duty,
    )
    lane = Lane(
        machine,
        assembly.parts,
        sink=sink,
        store=store,
        codec=codec,
        payments=PaymentDesk() if settings.role == "exit" else None,
        name=device,
        snapshots=snapshots,
        storage_hold_bound=storage.storage_hold_bound,
        storage_probe_s=storage.storage_probe_s,
    )
    if assembly.buttons is not None:
        assembly.buttons.on_press = lane.booth_button
    return lane

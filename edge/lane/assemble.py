"""Build a lane's parts from its hardware profile: real drivers, or the same drivers on simulators.

The hardware profile (``firmware_configs/boards/*.toml`` and the parts it
names) fixes pins and ports; this module turns it into a
:class:`~edge.lane.lane.LaneParts`. With ``simulate = true`` the drivers are
exactly the same and only the far end of each wire changes: mock pins with a
limit-switch simulator, PN532/RDM6300 emulators on ptys, a captured pole
display and a dummy ESC/POS printer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.config.profile import HardwareProfile, InputPin
from edge.errors import ConfigError, DeviceError
from edge.hw.barrier import Barrier
from edge.hw.card_station import CardStation
from edge.hw.gpio import make_pin_factory
from edge.hw.pole_display import CapturedDisplay, PoleDisplay
from edge.hw.rdm6300 import BadgeReader
from edge.hw.sensors import ArmingLoop, BoothButtons, PhotoEye, PresenceSensor, SafetyLoop
from edge.lane.lane import LaneParts

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
        for closer in reversed(self.closers):
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
                    raise DeviceError(f"receipt printing (python-escpos) not installed: {exc}") from exc
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


def _sensor(cls: type[PresenceSensor], spec: InputPin, name: str, factory: Any) -> PresenceSensor:
    return cls(spec.pin, name=name, pull=spec.pull, active_high=spec.active_high,
               bounce_time=spec.bounce_s or None, pin_factory=factory)


def assemble_lane(profile: HardwareProfile, *, role: str, medium: str, simulate: bool) -> Assembly:
    """The lane's devices from ``profile``; raises :class:`ConfigError` for an unusable profile."""
    board = profile.board
    pins = board.pins
    if profile.barrier is None or pins.barrier_open is None:
        raise ConfigError(f"board {board.name!r} has no barrier: a lane needs one")
    if pins.arming_loop is None or pins.safety_loop is None:
        raise ConfigError(f"board {board.name!r} needs an arming_loop and a safety_loop pin for a lane")
    factory = make_pin_factory("mock" if simulate else board.pin_factory)
    sims = Simulators() if simulate else None
    closers: list[Callable[[], None]] = []

    arming = _sensor(ArmingLoop, pins.arming_loop, "arming loop", factory)
    safety = _sensor(SafetyLoop, pins.safety_loop, "safety loop", factory)
    eye = _sensor(PhotoEye, pins.photo_eye, "photo-eye", factory) if pins.photo_eye else None
    closers += [s.close for s in (arming, safety, eye) if s is not None]

    spec = profile.barrier
    limit = pins.opened_limit or pins.closed_limit
    barrier = Barrier(
        model=spec.model, open_pin=pins.barrier_open.pin,
        close_pin=pins.barrier_close.pin if pins.barrier_close else None,
        opened_limit_pin=pins.opened_limit.pin if pins.opened_limit else None,
        closed_limit_pin=pins.closed_limit.pin if pins.closed_limit else None,
        pulse_s=spec.pulse_s, max_pulse_s=spec.max_pulse_s, travel_timeout_s=spec.travel_timeout_s,
        travel_s=spec.travel_s, max_hold_s=spec.max_hold_s if spec.model == "hold" else None,
        relay_active_high=pins.barrier_open.active_high,
        limit_pull=limit.pull if limit else "up",
        limit_active_high=limit.active_high if limit else None,
        pin_factory=factory, name="barrier",
    )
    barrier.register_presence(safety)
    if eye is not None:
        barrier.register_presence(eye)
    closers.append(barrier.close_device)
    if sims is not None:
        from edge.sim.vehicle import LimitSwitchSimulator

        sims.mechanics = LimitSwitchSimulator.for_barrier(barrier, travel_s=min(spec.travel_s, 1.0)).start()
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
            display = PoleDisplay(d.port, cols=d.columns, rows=d.rows, baudrate=d.baudrate, encoding=d.encoding)
        closers.append(display.close)

    printer: Any = None
    if medium == "paper" and role == "entry" and profile.printer is None:
        raise ConfigError("lane.ticket_medium = 'paper' needs a printer in the hardware profile")
    if profile.printer is not None and ((medium == "paper" and role == "entry") or role == "exit"):
        p = profile.printer
        width = 32 if p.paper_width_mm == 58 else 48

        def open_printer() -> Any:
            # python-escpos brings Pillow and qrcode (~9 MB): loaded only where something prints.
            from edge.hw.printer import TicketPrinter

            if simulate or p.connection == "dummy":
                return TicketPrinter.open("dummy", width=width, cut=p.cut)
            if p.connection == "serial":
                return TicketPrinter.open("serial", devfile=p.port, baudrate=p.baudrate, width=width, cut=p.cut)
            return TicketPrinter.open("usb", idVendor=p.usb_vendor_id, idProduct=p.usb_product_id,
                                      width=width, cut=p.cut)

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

    buttons = None
    if any(getattr(pins.buttons, name) is not None for name in BoothButtons.NAMES):
        buttons = BoothButtons(confirm_payment=pins.buttons.confirm_payment, manual_raise=pins.buttons.manual_raise,
                               manual_close=pins.buttons.manual_close, pin_factory=factory)
        closers.append(buttons.close)

    parts = LaneParts(barrier=barrier, arming_loop=arming, safety_loop=safety, photo_eye=eye,
                      card_station=station, badge_reader=badges, display=display, printer=printer,
                      camera=camera)
    return Assembly(parts, closers, sims, factory, buttons)

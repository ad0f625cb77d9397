"""Hardware profiles: what is wired where, as declared in ``firmware_configs/``.

A *board* profile (``boards/*.toml``) fixes the GPIO pin map of one kind of Pi
build and names the *part* profiles it is built from: the barrier controller
(``barriers/``), card and badge readers (``readers/``), the fee display
(``displays/``) and the ticket printer (``printers/``). A lane config picks a
board profile and may swap the barrier or override serial ports.

Every file carries ``kind`` so that pointing ``barrier =`` at a reader file is
caught with a clear message instead of a confusing field error.

Cross-field problems are raised as ``ValueError("dotted.field: what is wrong")``
so the loader can point at the line of that field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

UART_PINS = {14: "UART TX", 15: "UART RX"}
"""GPIO14/15 carry the primary UART the PN532 card reader uses; never reuse them."""

Strict = ConfigDict(extra="forbid", frozen=True)

Bcm = Annotated[
    int,
    Field(
        ge=2, le=27, description="BCM GPIO number (2–27); GPIO0/1 are reserved for the HAT EEPROM"
    ),
]
SerialPort = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^(/dev/\S+|COM\d+|sim:\S*)$",
        description="a device path such as /dev/serial0 or /dev/gatepost-card (udev); sim: for emulators",
    ),
]


class OutputPin(BaseModel):
    """A relay output. Many relay boards switch on a LOW level: set ``active_high = false``."""

    model_config = Strict
    pin: Bcm
    active_high: bool = Field(default=True, description="true if a HIGH level energises the relay")


class InputPin(BaseModel):
    """A dry-contact or opto input (loop detector relay, photo-eye, limit switch)."""

    model_config = Strict
    pin: Bcm
    pull: Literal["up", "down", "off"] = Field(
        default="up", description="internal pull resistor; 'up' = contact to ground, active LOW"
    )
    active_high: bool | None = Field(
        default=None,
        description="only with pull='off' (external resistor): which level means active",
    )
    bounce_s: float = Field(default=0.05, ge=0, le=1, description="debounce time in seconds")

    @model_validator(mode="after")
    def _level_matches_pull(self) -> InputPin:
        if self.pull == "up" and self.active_high is True:
            raise ValueError(
                "active_high: pull='up' makes the input active LOW; remove active_high or use pull='off'"
            )
        if self.pull == "down" and self.active_high is False:
            raise ValueError(
                "active_high: pull='down' makes the input active HIGH; remove active_high or use pull='off'"
            )
        if self.pull == "off" and self.active_high is None:
            raise ValueError("active_high: pull='off' needs active_high = true or false")
        return self


class ButtonPins(BaseModel):
    """The guard's booth buttons; each wired from the pin to ground (internal pull-up)."""

    model_config = Strict
    confirm_payment: Bcm | None = Field(
        default=None, description="guard confirms the driver has paid"
    )
    manual_raise: Bcm | None = Field(
        default=None, description="guard raises the barrier by hand (audited)"
    )
    manual_close: Bcm | None = Field(default=None, description="guard closes the barrier by hand")


class PinMap(BaseModel):
    """Every GPIO a lane uses. A kiosk board leaves them all out."""

    model_config = Strict
    barrier_open: OutputPin | None = Field(
        default=None, description="relay to the controller's OPEN input (or the hold relay)"
    )
    barrier_close: OutputPin | None = Field(
        default=None, description="relay to the controller's CLOSE input (pulse model only)"
    )
    arming_loop: InputPin | None = Field(
        default=None, description="loop in front of the barrier: a vehicle has arrived"
    )
    safety_loop: InputPin | None = Field(
        default=None, description="loop under the arm: never close while active"
    )
    photo_eye: InputPin | None = Field(
        default=None, description="beam across the lane: never close while broken"
    )
    opened_limit: InputPin | None = Field(
        default=None, description="switch made when the arm is fully up"
    )
    closed_limit: InputPin | None = Field(
        default=None, description="switch made when the arm is fully down"
    )
    buttons: ButtonPins = Field(default_factory=lambda: ButtonPins())

    def used(self) -> list[tuple[str, int]]:
        """(dotted field, BCM pin) for every pin in use, in file order."""
        out: list[tuple[str, int]] = []
        for name in (
            "barrier_open",
            "barrier_close",
            "arming_loop",
            "safety_loop",
            "photo_eye",
            "opened_limit",
            "closed_limit",
        ):
            spec = getattr(self, name)
            if spec is not None:
                out.append((f"pins.{name}.pin", spec.pin))
        for name in ("confirm_payment", "manual_raise", "manual_close"):
            pin = getattr(self.buttons, name)
            if pin is not None:
                out.append((f"pins.buttons.{name}", pin))
        return out

    @model_validator(mode="after")
    def _pins_unique_and_free(self) -> PinMap:
        seen: dict[int, str] = {}
        for field, pin in self.used():
            if pin in UART_PINS:
                raise ValueError(
                    f"{field}: GPIO{pin} is the {UART_PINS[pin]} pin of the card reader's UART; "
                    "choose another pin"
                )
            if pin in seen:
                raise ValueError(f"{field}: GPIO{pin} is already used by {seen[pin]}")
            seen[pin] = field
        if self.opened_limit is not None and self.closed_limit is not None:
            a, b = self.opened_limit, self.closed_limit
            if (a.pull, a.active_high) != (b.pull, b.active_high):
                raise ValueError(
                    "pins.closed_limit: wire both limit switches alike (same pull and active_high)"
                )
        return self


class CameraProfile(BaseModel):
    """The lane or kiosk camera, read with OpenCV."""

    model_config = Strict
    source: int | str = Field(
        default=0, description="OpenCV device index, /dev/videoN, an RTSP URL, or 'sim'"
    )
    width: int = Field(default=1280, ge=160, le=4096)
    height: int = Field(default=720, ge=120, le=3072)


class BarrierProfile(BaseModel):
    """A barrier controller's input model and timings (``barriers/*.toml``)."""

    model_config = Strict
    kind: Literal["barrier"] = "barrier"
    name: str = Field(description="make/model, for the installer", min_length=1, max_length=80)
    model: Literal["pulse", "hold"] = Field(
        description="'pulse': momentary OPEN/CLOSE contacts; 'hold': relay held = open, released = close"
    )
    pulse_s: float = Field(
        default=0.5, gt=0, le=5, description="length of an OPEN/CLOSE pulse (pulse model)"
    )
    max_pulse_s: float = Field(
        default=2.0, gt=0, le=10, description="relay watchdog ends any pulse longer than this"
    )
    travel_s: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="arm travel time assumed when no limit switch is fitted",
    )
    travel_timeout_s: float = Field(
        default=6.0,
        gt=0,
        le=120,
        description="a fitted limit switch must confirm a move within this, or fault",
    )
    max_hold_s: float | None = Field(
        default=600,
        gt=0,
        le=86400,
        description="hold model: longest the arm may be held open; omit for no limit",
    )
    controller_auto_closes: bool = Field(
        default=False,
        description="pulse model without a CLOSE output: the controller closes by itself after the car",
    )

    @model_validator(mode="after")
    def _timings(self) -> BarrierProfile:
        if self.pulse_s > self.max_pulse_s:
            raise ValueError(
                f"pulse_s: {self.pulse_s} s is longer than max_pulse_s ({self.max_pulse_s} s)"
            )
        if self.travel_s > self.travel_timeout_s:
            raise ValueError(f"travel_timeout_s: must be at least travel_s ({self.travel_s} s)")
        return self


class CardReaderProfile(BaseModel):
    """Timed-card reader/writer (``readers/*.toml``, kind = card_reader)."""

    model_config = Strict
    kind: Literal["card_reader"] = "card_reader"
    name: str = Field(min_length=1, max_length=80)
    model: Literal["pn532_hsu"] = Field(
        description="PN532 over UART (HSU), NTAG21x / Ultralight cards"
    )
    port: SerialPort = "/dev/serial0"
    baudrate: Literal[9600, 19200, 38400, 57600, 115200, 230400, 460800] = 115200
    timeout_s: float = Field(default=0.5, gt=0, le=10, description="wait for an answer frame")
    poll_interval_s: float = Field(
        default=0.05,
        gt=0,
        le=5,
        description="least time between two card listings that found nothing "
        "(for a chip that answers 'no card' at once instead of waiting for one)",
    )


class BadgeReaderProfile(BaseModel):
    """Resident/staff badge reader (``readers/*.toml``, kind = badge_reader)."""

    model_config = Strict
    kind: Literal["badge_reader"] = "badge_reader"
    name: str = Field(min_length=1, max_length=80)
    model: Literal["rdm6300", "pn532_uid"] = Field(
        description="'rdm6300': 125 kHz EM4100 serial frames; 'pn532_uid': UID read on the card reader"
    )
    port: SerialPort | None = Field(
        default="/dev/gatepost-badge", description="not used by pn532_uid"
    )
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 9600
    repeat_gap_s: float = Field(
        default=1.5, ge=0, le=30, description="same badge within this gap counts once"
    )


class DisplayProfile(BaseModel):
    """Fee display at the lane (``displays/*.toml``)."""

    model_config = Strict
    kind: Literal["display"] = "display"
    name: str = Field(min_length=1, max_length=80)
    model: Literal["pole_vfd", "captured"] = Field(
        description="'pole_vfd': Epson-style 2×20 serial display"
    )
    port: SerialPort | None = "/dev/gatepost-display"
    baudrate: Literal[2400, 4800, 9600, 19200, 38400, 115200] = 9600
    columns: int = Field(default=20, ge=8, le=64)
    rows: int = Field(default=2, ge=1, le=8)
    encoding: Literal["gb18030", "gb2312", "ascii", "utf-8"] = "gb18030"


class PrinterProfile(BaseModel):
    """ESC/POS ticket / receipt / visitor-pass printer (``printers/*.toml``)."""

    model_config = Strict
    kind: Literal["printer"] = "printer"
    name: str = Field(min_length=1, max_length=80)
    model: Literal["escpos"] = "escpos"
    connection: Literal["serial", "usb", "dummy"] = Field(
        description="'dummy' captures bytes (tests, demo)"
    )
    port: SerialPort | None = Field(default=None, description="serial connection only")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 9600
    usb_vendor_id: int | None = Field(
        default=None, ge=0, le=0xFFFF, description="usb connection only, e.g. 0x0416"
    )
    usb_product_id: int | None = Field(default=None, ge=0, le=0xFFFF)
    paper_width_mm: Literal[58, 80] = 80
    encoding: Literal["gb18030", "cp437"] = "gb18030"
    cut: bool = Field(default=True, description="the printer has an auto-cutter")

    @model_validator(mode="after")
    def _connection_fields(self) -> PrinterProfile:
        if self.connection == "serial" and self.port is None:
            raise ValueError('port: a serial printer needs port = "/dev/…"')
        if self.connection == "usb" and (self.usb_vendor_id is None or self.usb_product_id is None):
            raise ValueError("usb_vendor_id: a USB printer needs usb_vendor_id and usb_product_id")
        return self


class PartRefs(BaseModel):
    """Paths to part profiles, relative to firmware_configs/ (or to the board file)."""

    model_config = Strict
    barrier: str | None = None
    card_reader: str | None = None
    badge_reader: str | None = None
    display: str | None = None
    printer: str | None = None


class BoardProfile(BaseModel):
    """One Pi build (``boards/*.toml``): the board, its pin factory, pins and part references."""

    model_config = Strict
    kind: Literal["board"] = "board"
    name: str = Field(min_length=1, max_length=80)
    model: Literal["pi4", "pi5", "pi_zero_2w"] = Field(description="the Raspberry Pi model")
    pin_factory: Literal["lgpio", "rpigpio", "mock"] = Field(
        default="lgpio", description="gpiozero pin factory; the Pi 5 needs lgpio"
    )
    pins: PinMap = Field(default_factory=lambda: PinMap())
    parts: PartRefs = Field(default_factory=lambda: PartRefs())
    camera: CameraProfile | None = None

    @model_validator(mode="after")
    def _factory_fits_board(self) -> BoardProfile:
        if self.model == "pi5" and self.pin_factory == "rpigpio":
            raise ValueError("pin_factory: RPi.GPIO does not work on a Pi 5; use 'lgpio'")
        return self


class HardwareProfile(BaseModel):
    """A board with its parts loaded: everything the agent needs to build its devices."""

    model_config = Strict
    board: BoardProfile
    barrier: BarrierProfile | None = None
    card_reader: CardReaderProfile | None = None
    badge_reader: BadgeReaderProfile | None = None
    display: DisplayProfile | None = None
    printer: PrinterProfile | None = None

    @model_validator(mode="after")
    def _barrier_fits_pins(self) -> HardwareProfile:
        pins = self.board.pins
        if self.barrier is None:
            return self
        if pins.barrier_open is None:
            raise ValueError("pins.barrier_open: a barrier is configured but no OPEN relay pin is")
        if self.barrier.model == "hold" and pins.barrier_close is not None:
            raise ValueError(
                "pins.barrier_close: a 'hold' barrier uses one relay; remove barrier_close"
            )
        if (
            self.barrier.model == "pulse"
            and pins.barrier_close is None
            and not self.barrier.controller_auto_closes
        ):
            raise ValueError(
                "pins.barrier_close: this pulse barrier needs a CLOSE relay pin "
                "(or controller_auto_closes = true in its profile)"
            )
        return self

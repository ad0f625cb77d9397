"""Choosing the gpiozero pin factory: the one seam between Gatepost and the GPIO chip.

A hardware profile names the factory (``lgpio`` on a Pi 5 — RPi.GPIO and pigpio
do not work there; ``lgpio`` or ``rpigpio`` on a Pi 4 / Zero 2 W; ``mock`` for
tests and the demo). Every device is then built with that factory passed
explicitly, so no hidden global decides which chip a relay is on.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from edge.errors import ConfigError

log = logging.getLogger(__name__)

PinFactoryName = Literal["lgpio", "rpigpio", "mock"]

INSTALL_HINT: dict[str, str] = {
    "lgpio": "pip install 'gatepost[pi]' (the lgpio package, 64-bit Raspberry Pi OS), "
    "or apt install python3-lgpio with a venv made with --system-site-packages",
    "rpigpio": "pip install RPi.GPIO, or apt install python3-rpi.gpio with a venv made with --system-site-packages",
    "mock": "pip install 'gatepost[edge]'",
}
"""What to install for each factory, said when its library is missing (README: "The agent")."""


def make_pin_factory(name: PinFactoryName, *, mock_revision: str | None = None) -> Any:
    """Build the gpiozero pin factory ``name``; a missing driver library is a ConfigError.

    ``mock_revision`` picks the board a MockFactory pretends to be (gpiozero's
    revision codes, e.g. ``"c03111"`` for a Pi 4B, ``"d04170"`` for a Pi 5).
    """
    try:
        if name == "mock":
            from gpiozero.pins.mock import MockFactory

            return MockFactory(revision=mock_revision)
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory

            return LGPIOFactory()
        if name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory

            return RPiGPIOFactory()
    except ImportError as exc:
        log.error("pin factory %r: the %s package is not installed", name, exc.name)
        raise ConfigError(
            f"pin factory {name!r} needs the {exc.name} package: {INSTALL_HINT[name]}; "
            "or set [hardware] simulate = true"
        ) from exc
    except Exception as exc:  # e.g. no /dev/gpiochip on a laptop
        raise ConfigError(f"pin factory {name!r} cannot start here: {exc}") from exc
    raise ConfigError(f"unknown pin factory {name!r}; use 'lgpio', 'rpigpio' or 'mock'")


def activate(device: Any) -> None:
    """Drive a mocked input so that ``device.is_active`` becomes True (tests, simulators).

    Uses the device's own active level, so callers need not know how it is wired.
    """
    _drive(device, True)


def deactivate(device: Any) -> None:
    """Drive a mocked input so that ``device.is_active`` becomes False."""
    _drive(device, False)


def _drive(device: Any, active: bool) -> None:
    inner = getattr(device, "device", device)  # a PresenceSensor wraps a gpiozero device
    pin = inner.pin
    level = bool(inner._active_state) if active else not bool(inner._active_state)
    if not hasattr(pin, "drive_high"):
        raise ConfigError(f"{pin!r} is a real pin; only mock pins can be driven by software")
    if level:
        pin.drive_high()
    else:
        pin.drive_low()

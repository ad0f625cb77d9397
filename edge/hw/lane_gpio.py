"""All the GPIO devices of one lane, built from its hardware profile.

Like gpiozero's ``TrafficLights(red=…, amber=…, green=…)``, a lane's GPIO is a
board of named parts: ``gpio.barrier``, ``gpio.arming_loop``, ``gpio.safety_loop``,
``gpio.photo_eye``, ``gpio.buttons``. The profile only fixes pins; this module
wires the safety rules between the parts (the safety loop and photo-eye are
registered with the barrier) so no caller can forget them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.config.profile import HardwareProfile, InputPin
from edge.errors import ConfigError
from edge.hw.barrier import Barrier
from edge.hw.gpio import make_pin_factory
from edge.hw.sensors import ArmingLoop, BoothButtons, PhotoEye, PresenceSensor, SafetyLoop

log = logging.getLogger(__name__)


@dataclass
class LaneGpio:
    """The lane's barrier, loops, photo-eye and booth buttons, ready to use."""

    pin_factory: Any
    barrier: Barrier | None = None
    arming_loop: ArmingLoop | None = None
    safety_loop: SafetyLoop | None = None
    photo_eye: PhotoEye | None = None
    buttons: BoothButtons | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @classmethod
    def from_profile(
        cls,
        profile: HardwareProfile,
        *,
        simulate: bool = False,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
        initially_open: bool = False,
        auto_check: bool = True,
    ) -> LaneGpio:
        """Build every device the profile declares; ``simulate`` uses gpiozero's MockFactory.

        ``initially_open`` is for an agent restarting over an arm it persisted as open (hold
        barriers only; see :meth:`Barrier.recover`).
        """
        if pin_factory is None:
            pin_factory = make_pin_factory("mock" if simulate else profile.board.pin_factory)
        gpio = cls(pin_factory=pin_factory)
        pins = profile.board.pins
        try:
            gpio.arming_loop = _sensor(
                ArmingLoop, pins.arming_loop, "arming loop", pin_factory, gpio
            )
            gpio.safety_loop = _sensor(
                SafetyLoop, pins.safety_loop, "safety loop", pin_factory, gpio
            )
            gpio.photo_eye = _sensor(PhotoEye, pins.photo_eye, "photo-eye", pin_factory, gpio)
            if profile.barrier is not None:
                if pins.barrier_open is None:
                    raise ConfigError("the profile has a barrier but no barrier_open pin")
                spec = profile.barrier
                limit = pins.opened_limit or pins.closed_limit
                gpio.barrier = Barrier(
                    model=spec.model,
                    open_pin=pins.barrier_open.pin,
                    close_pin=pins.barrier_close.pin if pins.barrier_close else None,
                    opened_limit_pin=pins.opened_limit.pin if pins.opened_limit else None,
                    closed_limit_pin=pins.closed_limit.pin if pins.closed_limit else None,
                    pulse_s=spec.pulse_s,
                    max_pulse_s=spec.max_pulse_s,
                    travel_timeout_s=spec.travel_timeout_s,
                    travel_s=spec.travel_s,
                    max_hold_s=spec.max_hold_s,
                    initially_open=initially_open,
                    relay_active_high=pins.barrier_open.active_high,
                    close_active_high=pins.barrier_close.active_high
                    if pins.barrier_close
                    else None,
                    limit_pull=limit.pull if limit else "up",
                    limit_active_high=limit.active_high if limit else None,
                    pin_factory=pin_factory,
                    clock=clock,
                    auto_check=auto_check,
                )
                gpio._closers.append(gpio.barrier.close_device)
                for sensor in (gpio.safety_loop, gpio.photo_eye):
                    if sensor is not None:
                        gpio.barrier.register_presence(sensor)
            b = pins.buttons
            if any((b.confirm_payment, b.manual_raise, b.manual_close)):
                gpio.buttons = BoothButtons(
                    confirm_payment=b.confirm_payment,
                    manual_raise=b.manual_raise,
                    manual_close=b.manual_close,
                    pin_factory=pin_factory,
                )
                gpio._closers.append(gpio.buttons.close)
        except Exception:
            gpio.close()
            raise
        log.info(
            "lane GPIO ready (%s): barrier=%s",
            type(pin_factory).__name__,
            gpio.barrier.model if gpio.barrier else "none",
        )
        return gpio

    def close(self) -> None:
        """Release every pin, barrier first (it ends any pulse in progress)."""
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("closing lane GPIO failed")
        self._closers.clear()


def _sensor(
    cls: type[PresenceSensor], spec: InputPin | None, name: str, factory: Any, gpio: LaneGpio
) -> Any:
    if spec is None:
        return None
    sensor = cls(
        spec.pin,
        name=name,
        pull=spec.pull,
        active_high=spec.active_high,
        bounce_time=spec.bounce_s or None,
        pin_factory=factory,
    )
    gpio._closers.append(sensor.close)
    return sensor

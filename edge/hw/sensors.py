"""Lane inputs: vehicle loops, the photo-eye, limit switches and the booth buttons.

Loop detectors and photo-eyes hand the Pi a dry contact (or an opto-isolated
output). How that contact is wired decides the pull resistor and which level
means "vehicle present", so both come from the hardware profile rather than
being guessed here. ``is_active`` always means *presence* (or *pressed*, or
*at the limit*), whatever the wiring.

gpiozero devices keep a single ``when_activated`` callback. A lane needs more
than one listener on the same loop (the lane logic *and* the barrier's safety
layer), so :class:`PresenceSensor` fans events out to any number of
subscribers and keeps ``when_activated``/``when_deactivated`` for the lane.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

from gpiozero import Button, DigitalInputDevice
from gpiozero.exc import GPIOZeroError

from edge.errors import ConfigError

log = logging.getLogger(__name__)

Pull = Literal["up", "down", "off"]
Listener = Callable[[], None]


def input_kwargs(pull: Pull, active_high: bool | None) -> dict[str, Any]:
    """Translate a profile's (pull, active_high) into gpiozero's (pull_up, active_state).

    gpiozero ties the active level to the pull when a pull is used (pulled up ⇒
    active low), and needs an explicit level when the pin floats. A profile that
    contradicts that would invert presence — the most dangerous mistake an
    installer can make here — so it is refused, not silently corrected.
    """
    if pull == "up":
        if active_high is True:
            raise ConfigError(
                "pull='up' means the input is active low; active_high=true contradicts it"
            )
        return {"pull_up": True}
    if pull == "down":
        if active_high is False:
            raise ConfigError(
                "pull='down' means the input is active high; active_high=false contradicts it"
            )
        return {"pull_up": False}
    if pull == "off":
        if active_high is None:
            raise ConfigError(
                "pull='off' (external resistor) needs active_high set to true or false"
            )
        return {"pull_up": None, "active_state": active_high}
    raise ConfigError(f"pull must be 'up', 'down' or 'off', not {pull!r}")


class PresenceSensor:
    """A digital input that reports a vehicle (loop, photo-eye) or a position (limit switch).

    ``name`` appears in logs and faults so the installer knows which wire to check.
    """

    def __init__(
        self,
        pin: int | str,
        *,
        name: str,
        pull: Pull = "up",
        active_high: bool | None = None,
        bounce_time: float | None = 0.05,
        pin_factory: Any = None,
    ) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._subscribers: list[tuple[Listener | None, Listener | None]] = []
        self.when_activated: Listener | None = None
        self.when_deactivated: Listener | None = None
        try:
            self.device = DigitalInputDevice(
                pin,
                bounce_time=bounce_time,
                pin_factory=pin_factory,
                **input_kwargs(pull, active_high),
            )
        except GPIOZeroError as exc:
            raise ConfigError(f"{name}: cannot use pin {pin!r}: {exc}") from exc
        self.device.when_activated = self._activated
        self.device.when_deactivated = self._deactivated

    @property
    def is_active(self) -> bool:
        """True while the sensor sees a vehicle (or the switch is made)."""
        return bool(self.device.is_active)

    @property
    def pin(self) -> Any:
        """The underlying gpiozero pin (a MockPin in tests and the demo)."""
        return self.device.pin

    @property
    def active_high(self) -> bool:
        """Which electrical level means active; simulators use it to drive the pin."""
        return bool(self.device._active_state)

    def subscribe(
        self, activated: Listener | None = None, deactivated: Listener | None = None
    ) -> None:
        """Add a listener beside ``when_activated``; used by the barrier's safety layer."""
        with self._lock:
            self._subscribers.append((activated, deactivated))

    def _activated(self) -> None:
        log.debug("%s active", self.name)
        self._fire(0, self.when_activated)

    def _deactivated(self) -> None:
        log.debug("%s clear", self.name)
        self._fire(1, self.when_deactivated)

    def _fire(self, which: int, own: Listener | None) -> None:
        # Safety subscribers first: the barrier must react before lane logic runs.
        with self._lock:
            listeners = [pair[which] for pair in self._subscribers] + [own]
        for listener in listeners:
            if listener is None:
                continue
            try:
                listener()
            except Exception:  # a listener bug must not silence the others
                log.exception("%s listener failed", self.name)

    def close(self) -> None:
        """Release the pin."""
        self.device.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} active={self.is_active}>"


class ArmingLoop(PresenceSensor):
    """The loop in front of the barrier: a vehicle has arrived at the lane."""


class SafetyLoop(PresenceSensor):
    """The loop under the barrier arm: while active the arm must never come down."""


class PhotoEye(PresenceSensor):
    """The light beam across the lane: a broken beam forbids closing, like the safety loop."""


class LimitSwitch(PresenceSensor):
    """A switch made when the arm reaches fully open or fully closed."""


class BoothButtons:
    """The guard's buttons in the booth: confirm payment, raise by hand, close by hand.

    Buttons are wired to ground with the Pi's pull-up (gpiozero ``Button``
    defaults). Any button may be absent (``None``) on a given board.
    ``on_press(name)`` receives ``"confirm_payment"``, ``"manual_raise"`` or
    ``"manual_close"`` so one handler can route all three.
    """

    NAMES = ("confirm_payment", "manual_raise", "manual_close")

    def __init__(
        self,
        *,
        confirm_payment: int | str | None = None,
        manual_raise: int | str | None = None,
        manual_close: int | str | None = None,
        bounce_time: float | None = 0.05,
        pin_factory: Any = None,
        on_press: Callable[[str], None] | None = None,
    ) -> None:
        self.on_press = on_press
        self.buttons: dict[str, Button] = {}
        for name, pin in zip(
            self.NAMES, (confirm_payment, manual_raise, manual_close), strict=True
        ):
            if pin is None:
                continue
            try:
                button = Button(pin, bounce_time=bounce_time, pin_factory=pin_factory)
            except GPIOZeroError as exc:
                self.close()
                raise ConfigError(f"booth button {name}: cannot use pin {pin!r}: {exc}") from exc
            button.when_pressed = self._pressed_handler(name)
            self.buttons[name] = button

    @property
    def confirm_payment(self) -> Button | None:
        return self.buttons.get("confirm_payment")

    @property
    def manual_raise(self) -> Button | None:
        return self.buttons.get("manual_raise")

    @property
    def manual_close(self) -> Button | None:
        return self.buttons.get("manual_close")

    def _pressed_handler(self, name: str) -> Listener:
        def pressed() -> None:
            log.info("booth button pressed: %s", name)
            if self.on_press is None:
                return
            try:
                self.on_press(name)
            except Exception:
                log.exception("booth button handler failed for %s", name)

        return pressed

    def close(self) -> None:
        for button in self.buttons.values():
            button.close()
        self.buttons.clear()

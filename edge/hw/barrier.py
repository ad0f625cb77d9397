"""The barrier arm, its relay(s), limit switches and the safety rules around them.

Two kinds of barrier controller are in the field:

``pulse``
    A momentary contact on the controller's OPEN input raises the arm; another
    on its CLOSE input lowers it (or the controller closes by itself once the
    car has passed, when no CLOSE output is wired).
``hold``
    One relay: energised = open, released = close. Losing power closes it.

Whatever the lane logic asks, this class enforces the rules a property
manager's insurer cares about:

* the arm is never commanded down while a registered presence sensor (safety
  loop, photo-eye) is active — :meth:`Barrier.close` refuses and returns False;
* if presence appears while the arm is coming down it goes back up at once;
* where limit switches are fitted, a move that is not confirmed within
  ``travel_timeout_s`` puts the barrier in ``fault`` and calls ``on_fault``;
  without them the state follows the command after ``travel_s``;
* a relay pulse never outlives ``max_pulse_s`` (and a held relay never outlives
  ``max_hold_s`` unless a vehicle is under the arm): a :class:`RelayWatchdog`
  that knows nothing of this class switches it off.

Callbacks (``on_state(state)``, ``on_fault(expected, detail)``,
``on_watchdog(relay_name, on_for_s)``) are called *after* the internal lock is
released, so a handler may call back into the barrier without deadlocking.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from gpiozero import OutputDevice
from gpiozero.exc import GPIOZeroError

from edge.errors import ConfigError
from edge.hw.relay_watchdog import RelayWatchdog
from edge.hw.sensors import LimitSwitch, Pull

log = logging.getLogger(__name__)

BarrierModel = Literal["pulse", "hold"]
BarrierState = Literal["opening", "open", "closing", "closed", "fault", "unknown"]
STATES: tuple[str, ...] = ("opening", "open", "closing", "closed", "fault", "unknown")


class Presence(Protocol):
    """Anything that can say a vehicle is there: a PresenceSensor, a gpiozero device, a stub."""

    @property
    def is_active(self) -> bool: ...


class Barrier:
    """One barrier arm driven through gpiozero outputs, with the safety layer built in."""

    def __init__(
        self,
        *,
        model: BarrierModel,
        open_pin: int | str,
        close_pin: int | str | None = None,
        opened_limit_pin: int | str | None = None,
        closed_limit_pin: int | str | None = None,
        pulse_s: float = 0.5,
        max_pulse_s: float = 2.0,
        travel_timeout_s: float = 6.0,
        travel_s: float | None = None,
        max_hold_s: float | None = 600.0,
        initially_open: bool = False,
        relay_active_high: bool = True,
        close_active_high: bool | None = None,
        limit_pull: Pull = "up",
        limit_active_high: bool | None = None,
        pin_factory: Any = None,
        clock: Callable[[], float] = time.monotonic,
        watchdog: RelayWatchdog | None = None,
        auto_check: bool = True,
        tick_s: float = 0.02,
        name: str = "barrier",
    ) -> None:
        _validate(model, close_pin, pulse_s, max_pulse_s, travel_timeout_s, travel_s, max_hold_s)
        self.model: BarrierModel = model
        self.name = name
        self.pulse_s = pulse_s
        self.max_pulse_s = max_pulse_s
        self.travel_timeout_s = travel_timeout_s
        self.travel_s = travel_s if travel_s is not None else min(3.0, travel_timeout_s)
        self.max_hold_s = max_hold_s
        self._clock = clock
        self._pin_factory = pin_factory
        self._lock = threading.RLock()
        self._pending: list[Callable[[], None]] = []
        self._dispatching = False

        self.on_state: Callable[[str], None] | None = None
        self.on_fault: Callable[[str, str], None] | None = None
        self.on_watchdog: Callable[[str, float], None] | None = None

        self._devices: list[Any] = []
        try:
            # A pulse relay starts off (ending a pulse is always safe). A hold relay starts as
            # ``initially_open`` says: an agent restarting over an open arm passes True so the arm
            # is not dropped before recover() has looked at the presence sensors.
            self.relay = self._output(
                open_pin, relay_active_high, model == "hold" and initially_open
            )
            self.close_relay = (
                self._output(
                    close_pin,
                    relay_active_high if close_active_high is None else close_active_high,
                    False,
                )
                if close_pin is not None
                else None
            )
            self.opened_limit = self._limit(
                opened_limit_pin, "opened limit", limit_pull, limit_active_high, pin_factory
            )
            self.closed_limit = self._limit(
                closed_limit_pin, "closed limit", limit_pull, limit_active_high, pin_factory
            )
        except Exception:
            self._close_all()
            raise

        self._presence: list[Presence] = []
        self._pulse_end: dict[int, float] = {}  # id(relay) -> clock time the pulse ends
        self._target: Literal["open", "closed"] | None = None
        self._deadline: float | None = None
        self._last_command: Literal["open", "close"] | None = None
        self._fault: str | None = None
        self._state: BarrierState = self._state_from_limits() or "unknown"

        self._own_watchdog = watchdog is None
        self.watchdog = watchdog or RelayWatchdog(clock=clock)
        if model == "pulse":
            for relay, label in ((self.relay, "OPEN pulse"), (self.close_relay, "CLOSE pulse")):
                if relay is not None:
                    self.watchdog.watch(
                        relay, max_pulse_s, name=f"{name} {label}", on_forced=self._watchdog_fired
                    )
        elif max_hold_s is not None:
            self.watchdog.watch(
                self.relay,
                max_hold_s,
                name=f"{name} hold relay",
                on_forced=self._watchdog_fired,
                may_release=lambda: not self.presence_active,
            )

        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if auto_check:
            if self._own_watchdog:
                self.watchdog.start()
            self._ticker = threading.Thread(
                target=self._tick, args=(tick_s,), name=f"{name}-tick", daemon=True
            )
            self._ticker.start()
        log.info("%s ready: model=%s state=%s", name, model, self._state)

    # ------------------------------------------------------------------ construction helpers

    def _output(self, pin: int | str, active_high: bool, initial: bool | None) -> OutputDevice:
        try:
            device = OutputDevice(
                pin, active_high=active_high, initial_value=initial, pin_factory=self._pin_factory
            )
        except GPIOZeroError as exc:
            raise ConfigError(f"{self.name}: cannot use relay pin {pin!r}: {exc}") from exc
        self._devices.append(device)
        return device

    def _limit(
        self, pin: int | str | None, label: str, pull: Pull, active_high: bool | None, factory: Any
    ) -> LimitSwitch | None:
        if pin is None:
            return None
        switch = LimitSwitch(
            pin,
            name=f"{self.name} {label}",
            pull=pull,
            active_high=active_high,
            bounce_time=0.02,
            pin_factory=factory,
        )
        self._devices.append(switch)
        switch.subscribe(activated=self._limit_changed, deactivated=self._limit_changed)
        return switch

    # ------------------------------------------------------------------ public API

    @property
    def state(self) -> BarrierState:
        """Where the arm is (or is going): opening, open, closing, closed, fault or unknown."""
        return self._state

    @property
    def fault(self) -> str | None:
        """The detail of the current fault, or None."""
        return self._fault

    @property
    def relays(self) -> tuple[OutputDevice, ...]:
        """Every relay output this barrier drives (OPEN first)."""
        return tuple(r for r in (self.relay, self.close_relay) if r is not None)

    @property
    def has_limit_switches(self) -> bool:
        return self.opened_limit is not None or self.closed_limit is not None

    def register_presence(self, sensor: Presence) -> None:
        """Make ``sensor`` (safety loop, photo-eye…) forbid closing and re-open a closing arm.

        Sensors with ``subscribe`` (our PresenceSensor) are reacted to at once; any
        other object with ``is_active`` is polled by :meth:`check`.
        """
        with self._lock:
            self._presence.append(sensor)
        subscribe = getattr(sensor, "subscribe", None)
        if callable(subscribe):
            subscribe(activated=self._presence_appeared)

    @property
    def presence_active(self) -> bool:
        return bool(self._present_names())

    def open(self) -> None:
        """Raise the arm. Always allowed (raising never hurts anyone); also the way out of a fault."""
        with self._lock:
            self._drive_open()
            self._move("opening", "open", cause="open")
        self._flush()

    def close(self, force: bool = False) -> bool:
        """Lower the arm; refuses (returns False, logs) while any presence sensor is active.

        ``force`` only lets a guard close a barrier that is in ``fault`` after checking it
        by eye; it never overrides presence.
        """
        with self._lock:
            present = self._present_names()
            if present:
                log.warning("%s: close refused, presence on %s", self.name, ", ".join(present))
                return False
            if self._state == "fault" and not force:
                log.warning(
                    "%s: close refused while in fault (%s); use force after checking the arm",
                    self.name,
                    self._fault,
                )
                return False
            if self._state in ("closed", "closing") and self._last_command == "close":
                return True
            self._drive_close()
            self._move("closing", "closed", cause="close")
        self._flush()
        return True

    def reset(self) -> None:
        """Clear a fault after a guard has looked at the arm; state comes from the limit switches."""
        with self._lock:
            if self._state != "fault":
                return
            log.warning("%s: fault cleared by reset (%s)", self.name, self._fault)
            self._fault = None
            self._target = self._deadline = None
            self._set_state(self._state_from_limits() or "unknown")
        self._flush()

    def recover(self, persisted: str | None) -> BarrierState:
        """Bring the arm to a safe state after a restart, from what the lane persisted.

        Limit switches, where fitted, beat the persisted state. A barrier known closed is
        left alone. Otherwise: a vehicle under the arm keeps it (or puts it) up; with the
        lane clear it is closed.
        """
        with self._lock:
            actual = self._state_from_limits()
            log.info(
                "%s: recovering; persisted=%s, limit switches say %s, presence=%s",
                self.name,
                persisted,
                actual or "nothing",
                self._present_names() or "none",
            )
            if actual == "closed" or (
                actual is None
                and persisted == "closed"
                and not self.has_limit_switches
                and not (self.model == "hold" and self.relay.is_active)
            ):
                self._last_command = "close"
                if self.model == "hold":
                    self.relay.off()  # keep a closed arm closed, whatever initially_open said
                self._set_state("closed")
            elif self.presence_active:
                self._drive_open()
                self._move("opening", "open", cause="recover")
            else:
                self._drive_close()
                self._move("closing", "closed", cause="recover")
            state = self._state
        self._flush()
        return state

    def check(self) -> BarrierState:
        """Advance timers: end pulses, poll presence, confirm travel or raise a fault."""
        with self._lock:
            now = self._clock()
            for relay in self.relays:
                end = self._pulse_end.get(id(relay))
                if end is not None and now >= end:
                    relay.off()
                    del self._pulse_end[id(relay)]
            if self._present_names():
                self._reopen_if_coming_down()
            if self._target is not None and self._deadline is not None and now >= self._deadline:
                self._travel_elapsed()
            state = self._state
        self._flush()
        return state

    def close_device(self) -> None:
        """Stop the timers and release the pins (a pulse in progress is ended first)."""
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=2)
        if self._own_watchdog:
            self.watchdog.stop()
        with self._lock:
            for relay in self.relays:
                self.watchdog.unwatch(relay)
                if self._pulse_end.pop(id(relay), None) is not None:
                    relay.off()
            self._close_all()

    def __repr__(self) -> str:
        return f"<Barrier {self.name} model={self.model} state={self._state}>"

    # ------------------------------------------------------------------ internals (lock held)

    def _present_names(self) -> list[str]:
        names = []
        for sensor in list(self._presence):
            try:
                if sensor.is_active:
                    names.append(getattr(sensor, "name", repr(sensor)))
            except Exception:  # a sensor we cannot read counts as present: fail safe
                log.exception(
                    "%s: cannot read presence sensor %r; treating as present", self.name, sensor
                )
                names.append(repr(sensor))
        return names

    def _pulse(self, relay: OutputDevice) -> None:
        relay.on()
        self._pulse_end[id(relay)] = self._clock() + self.pulse_s

    def _end_pulse(self, relay: OutputDevice | None) -> None:
        if relay is not None and self._pulse_end.pop(id(relay), None) is not None:
            relay.off()

    def _drive_open(self) -> None:
        self._last_command = "open"
        if self.model == "hold":
            self.relay.on()
            return
        self._end_pulse(self.close_relay)
        if id(self.relay) not in self._pulse_end:
            self._pulse(self.relay)

    def _drive_close(self) -> None:
        self._last_command = "close"
        if self.model == "hold":
            self.relay.off()
            return
        self._end_pulse(self.relay)
        if self.close_relay is not None:
            self._pulse(self.close_relay)
        # Without a CLOSE output the controller lowers the arm itself once the car has passed.

    def _move(self, moving: BarrierState, target: Literal["open", "closed"], *, cause: str) -> None:
        limit = self.opened_limit if target == "open" else self.closed_limit
        if limit is not None and limit.is_active:
            self._target = self._deadline = None
            self._fault = None
            self._set_state(target)
            return
        self._target = target
        wait = self.travel_timeout_s if limit is not None else self.travel_s
        self._deadline = self._clock() + wait
        log.info("%s: %s (%s)", self.name, moving, cause)
        if self._state != "fault":
            self._set_state(moving)

    def _travel_elapsed(self) -> None:
        target = self._target
        assert target is not None
        limit = self.opened_limit if target == "open" else self.closed_limit
        self._target = self._deadline = None
        if limit is None:
            if self._state != "fault":
                self._set_state(target)
            return
        detail = f"{limit.name} not reached within {self.travel_timeout_s:g} s"
        self._raise_fault(target, detail)

    def _raise_fault(self, expected: Literal["open", "closed"], detail: str) -> None:
        log.error("%s: FAULT (expected %s): %s", self.name, expected, detail)
        self._fault = detail
        self._set_state("fault")
        handler = self.on_fault
        if handler is not None:
            self._pending.append(lambda: handler(expected, detail))

    def _set_state(self, state: BarrierState) -> None:
        if state == self._state:
            return
        self._state = state
        handler = self.on_state
        if handler is not None:
            self._pending.append(lambda: handler(state))

    def _state_from_limits(self) -> BarrierState | None:
        opened = self.opened_limit is not None and self.opened_limit.is_active
        closed = self.closed_limit is not None and self.closed_limit.is_active
        if opened and closed:
            return "fault"
        if opened:
            return "open"
        if closed:
            return "closed"
        return None

    def _reopen_if_coming_down(self) -> None:
        if self._last_command != "close" or self._state == "closed":
            return
        names = ", ".join(self._present_names())
        log.warning("%s: presence on %s while coming down; re-opening", self.name, names)
        self._drive_open()
        self._move("opening", "open", cause=f"presence on {names}")

    # ------------------------------------------------------------------ event handlers

    def _presence_appeared(self) -> None:
        with self._lock:
            self._reopen_if_coming_down()
        self._flush()

    def _limit_changed(self) -> None:
        with self._lock:
            seen = self._state_from_limits()
            if seen == "fault":
                self._target = self._deadline = None
                self._raise_fault(
                    "open" if self._last_command == "open" else "closed",
                    "both limit switches report at once; check the wiring",
                )
            elif seen is not None:
                if self._target is not None and seen != self._target:
                    log.warning(
                        "%s: arm reached %s while %s was commanded", self.name, seen, self._target
                    )
                if self._target is None or seen == self._target:
                    self._target = self._deadline = None
                if self._state == "fault":
                    log.info("%s: fault cleared, arm confirmed %s", self.name, seen)
                self._fault = None
                self._set_state(seen)
            elif self._target is None and self._state in ("open", "closed"):
                # The arm left its position without a command from us: the controller's own
                # auto-close (pulse model) or someone moving the arm by hand.
                if self._state == "open":
                    log.info(
                        "%s: arm left open position by itself (controller auto-close)", self.name
                    )
                    self._last_command = "close"
                    self._move("closing", "closed", cause="controller")
                else:
                    log.warning("%s: arm left closed position without a command", self.name)
                    self._set_state("unknown")
        self._flush()

    def _watchdog_fired(self, relay_name: str, on_for: float) -> None:
        with self._lock:
            self._pulse_end.clear()
            if self.model == "hold":
                # The watchdog released the hold relay: physically the arm is now coming down.
                self._last_command = "close"
                detail = f"held open too long ({on_for:.0f} s > {self.max_hold_s:g} s); hold relay released"
                self._move("closing", "closed", cause="watchdog")
                handler = self.on_fault
                if handler is not None:
                    self._pending.append(lambda: handler("closed", detail))
            handler2 = self.on_watchdog
            if handler2 is not None:
                self._pending.append(lambda: handler2(relay_name, on_for))
        self._flush()

    def _tick(self, tick_s: float) -> None:
        while not self._stop.wait(tick_s):
            try:
                self.check()
            except Exception:
                log.exception("%s: check failed", self.name)

    def _flush(self) -> None:
        """Run queued callbacks outside the lock, in order, one dispatcher at a time."""
        with self._lock:
            if self._dispatching or not self._pending:
                return
            self._dispatching = True
        while True:
            with self._lock:
                if not self._pending:
                    self._dispatching = False
                    return
                batch, self._pending = self._pending, []
            for callback in batch:
                try:
                    callback()
                except Exception:
                    log.exception("%s: callback failed", self.name)

    def _close_all(self) -> None:
        for device in reversed(self._devices):
            try:
                device.close()
            except Exception:
                log.exception("%s: closing %r failed", self.name, device)
        self._devices.clear()


def _validate(
    model: str,
    close_pin: int | str | None,
    pulse_s: float,
    max_pulse_s: float,
    travel_timeout_s: float,
    travel_s: float | None,
    max_hold_s: float | None,
) -> None:
    if model not in ("pulse", "hold"):
        raise ConfigError(f"barrier model must be 'pulse' or 'hold', not {model!r}")
    if model == "hold" and close_pin is not None:
        raise ConfigError(
            "a 'hold' barrier has one relay (energised = open); close_pin must not be set"
        )
    if not 0 < pulse_s <= max_pulse_s:
        raise ConfigError(f"need 0 < pulse_s ({pulse_s}) <= max_pulse_s ({max_pulse_s})")
    if travel_timeout_s <= 0:
        raise ConfigError(f"travel_timeout_s must be positive, not {travel_timeout_s}")
    if travel_s is not None and not 0 < travel_s <= travel_timeout_s:
        raise ConfigError(
            f"need 0 < travel_s ({travel_s}) <= travel_timeout_s ({travel_timeout_s})"
        )
    if max_hold_s is not None and max_hold_s <= 0:
        raise ConfigError(f"max_hold_s must be positive or None, not {max_hold_s}")

"""Cars and a barrier arm made of mock pins, for tests and the demo.

:class:`VehicleSimulator` drives the loop and photo-eye inputs the way a car
does when it pulls up, waits, and drives under the arm. :class:`LimitSwitchSimulator`
plays the barrier's mechanics: it watches the relay outputs and makes the limit
switches after the travel time, so the real :class:`edge.hw.Barrier` sees its
moves confirmed (or, after :meth:`LimitSwitchSimulator.jam`, never confirmed).

Both work only on gpiozero MockFactory pins and know nothing of the lane logic;
a scenario hooks in through ``on_arrived`` (e.g. to present a card on the PN532
emulator) and ``on_passed``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from edge.hw.gpio import activate, deactivate

log = logging.getLogger(__name__)

Outcome = Literal["passed", "timed_out", "left"]


@dataclass(frozen=True, slots=True)
class Trip:
    """How one simulated car fared at the lane."""

    outcome: Outcome
    waited_s: float


class VehicleSimulator:
    """One car at a lane: arrive on the arming loop, wait for the arm, drive through, clear.

    ``gate_open`` says when the car may go (default: ``barrier.state == "open"``).
    ``step_s`` is the time between the car reaching successive sensors.
    """

    def __init__(
        self,
        *,
        arming_loop: Any,
        safety_loop: Any = None,
        photo_eye: Any = None,
        barrier: Any = None,
        gate_open: Callable[[], bool] | None = None,
        step_s: float = 0.05,
        on_arrived: Callable[[VehicleSimulator], None] | None = None,
        on_passed: Callable[[VehicleSimulator], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if gate_open is None:
            if barrier is None:
                raise ValueError("give either barrier or gate_open")

            def barrier_open() -> bool:
                return barrier.state == "open"

            gate_open = barrier_open
        self.arming_loop = arming_loop
        self.safety_loop = safety_loop
        self.photo_eye = photo_eye
        self.gate_open = gate_open
        self.step_s = step_s
        self.on_arrived = on_arrived
        self.on_passed = on_passed
        self._sleep = sleep
        self._clock = clock

    def arrive(self) -> None:
        """Pull up onto the arming loop."""
        log.info("sim car: arriving")
        activate(self.arming_loop)
        if self.on_arrived is not None:
            self.on_arrived(self)

    def wait_for_gate(self, timeout_s: float) -> float | None:
        """Wait until the gate opens; the seconds waited, or None on timeout."""
        started = self._clock()
        while not self.gate_open():
            if self._clock() - started >= timeout_s:
                return None
            self._sleep(min(0.01, self.step_s))
        return self._clock() - started

    def drive_through(self, linger_s: float = 0.0) -> None:
        """Drive under the arm: safety loop, photo-eye, off the arming loop, clear.

        ``linger_s`` keeps the car stopped under the arm (on the safety loop and
        in the beam) — the case the barrier must never close on.
        """
        log.info("sim car: driving through")
        if self.safety_loop is not None:
            activate(self.safety_loop)
        self._sleep(self.step_s)
        if self.photo_eye is not None:
            activate(self.photo_eye)
        self._sleep(self.step_s)
        deactivate(self.arming_loop)
        self._sleep(max(self.step_s, linger_s))
        if self.photo_eye is not None:
            deactivate(self.photo_eye)
        self._sleep(self.step_s)
        if self.safety_loop is not None:
            deactivate(self.safety_loop)
        log.info("sim car: clear of the lane")
        if self.on_passed is not None:
            self.on_passed(self)

    def leave(self) -> None:
        """Back off the arming loop without passing (refused, or gave up)."""
        log.info("sim car: leaving without passing")
        deactivate(self.arming_loop)

    def run(self, *, timeout_s: float = 10.0, linger_s: float = 0.0) -> Trip:
        """The whole trip; a car that is not let through in ``timeout_s`` backs away."""
        self.arrive()
        waited = self.wait_for_gate(timeout_s)
        if waited is None:
            self.leave()
            return Trip("timed_out", timeout_s)
        self.drive_through(linger_s)
        return Trip("passed", waited)

    def run_in_thread(self, **kwargs: Any) -> tuple[threading.Thread, list[Trip]]:
        """Run :meth:`run` on a daemon thread; the list receives the Trip when done."""
        result: list[Trip] = []
        thread = threading.Thread(
            target=lambda: result.append(self.run(**kwargs)), name="sim-vehicle", daemon=True
        )
        thread.start()
        return thread, result


class LimitSwitchSimulator:
    """The arm's mechanics: follows the relay outputs and makes the limit switches.

    ``position`` runs from 0.0 (closed) to 1.0 (open) in ``travel_s``. Pulse
    controllers start a move on the rising edge of an OPEN or CLOSE pulse; hold
    controllers move up while the relay is energised and down when it is not.
    ``jam()`` freezes the arm where it is, so the barrier's travel timeout fires.

    Like a real controller, it never misses a pulse: mock relays keep a history
    of their changes, and a pulse that began and ended between two samples is
    read from it (the controller's input latch). The limit switches are made
    and released from a thread of their own, because making one runs the
    barrier's and the lane's callbacks in that thread: a lane busy there for
    longer than a pulse must not stop the arm (it did, and the barrier faulted).
    """

    def __init__(
        self,
        *,
        model: Literal["pulse", "hold"],
        open_relay: Any,
        close_relay: Any = None,
        opened_limit: Any = None,
        closed_limit: Any = None,
        travel_s: float = 0.3,
        position: float = 0.0,
        interval_s: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if travel_s <= 0:
            raise ValueError("travel_s must be positive")
        self.model = model
        self.open_relay = open_relay
        self.close_relay = close_relay
        self.opened_limit = opened_limit
        self.closed_limit = closed_limit
        self.travel_s = travel_s
        self.position = position
        self.direction = 0  # +1 rising, -1 falling, 0 still
        self.jammed = False
        self.interval_s = interval_s
        self._clock = clock
        self._last = clock()
        self._was_on = {"open": False, "close": False}
        self._seen = {"open": _history_length(open_relay), "close": _history_length(close_relay)}
        self._histories = {"open": _history(open_relay), "close": _history(close_relay)}
        self._lock = threading.Lock()
        self._wiring_lock = threading.Lock()
        self._limits_due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wiring: threading.Thread | None = None
        self._drive_limits()

    @classmethod
    def for_barrier(cls, barrier: Any, **kwargs: Any) -> LimitSwitchSimulator:
        """Attach to an :class:`edge.hw.Barrier`'s own relays and limit switches."""
        kwargs.setdefault("position", 1.0 if barrier.state == "open" else 0.0)
        return cls(
            model=barrier.model,
            open_relay=barrier.relay,
            close_relay=barrier.close_relay,
            opened_limit=barrier.opened_limit,
            closed_limit=barrier.closed_limit,
            **kwargs,
        )

    def jam(self) -> None:
        """The arm sticks: it stops moving and no further limit switch is made."""
        with self._lock:
            self.jammed = True
            log.warning("sim barrier: jammed at %.0f%%", self.position * 100)

    def unjam(self) -> None:
        with self._lock:
            self.jammed = False

    def poll(self, drive: bool = True) -> None:
        """Follow the relays and advance the arm by the time since the last poll.

        ``drive``: make/release the limit switches now, in this thread (a test that
        sets :attr:`position` by hand); the running simulator leaves that to its wiring thread.
        """
        with self._lock:
            now = self._clock()
            dt, self._last = now - self._last, now
            open_on = bool(self.open_relay.is_active)
            close_on = bool(self.close_relay.is_active) if self.close_relay is not None else False
            if self.model == "hold":
                self.direction = 1 if open_on else -1
            else:
                pulses = [
                    (at, step)
                    for at, step in (
                        (self._latched("open", self.open_relay, open_on), 1),
                        (self._latched("close", self.close_relay, close_on), -1),
                    )
                    if at is not None
                ]
                if pulses:
                    self.direction = max(pulses)[
                        1
                    ]  # two pulses since the last sample: the later one counts
            self._was_on = {"open": open_on, "close": close_on}
            if not self.jammed and self.direction:
                self.position = min(
                    1.0, max(0.0, self.position + self.direction * dt / self.travel_s)
                )
                if self.position in (0.0, 1.0):
                    self.direction = 0 if self.model == "pulse" else self.direction
        if drive:
            self._drive_limits()
        else:
            self._limits_due.set()

    def _latched(self, name: str, relay: Any, on: bool) -> float | None:
        """When ``relay`` was last switched on since the previous sample (None: it was not)."""
        pin: Any = getattr(relay, "pin", None)
        states = getattr(pin, "states", None)
        if relay is None or states is None or not hasattr(pin, "_last_change"):
            # A pin without a history (not a mock): a rising level is all there is to see.
            return self._clock() if on and not self._was_on[name] else None
        end, seen = len(states), self._seen[name]
        self._seen[name] = end
        if states is not self._histories[name]:
            # MockPin.clear_states starts a new list: every change in it is new to us (checking the
            # length alone missed a pulse that began right after a clear).
            self._histories[name] = states
            seen = 0
        active = bool(relay.active_high)
        at = float(pin._last_change)
        for index in range(end - 1, max(seen, 1) - 1, -1):
            if bool(states[index].state) == active:
                return at
            at -= float(states[index].timestamp)
        return None

    def _drive_limits(self) -> None:
        with self._wiring_lock:  # one writer of the limit pins, whichever thread asks
            with self._lock:
                limits = (
                    (self.opened_limit, self.position >= 1.0),
                    (self.closed_limit, self.position <= 0.0),
                )
            # Release before make: an arm that crossed its whole travel within one poll must never
            # show both switches made at once (the barrier would rightly call that a wiring fault).
            for device, made in sorted(limits, key=lambda pair: pair[1]):
                if device is None:
                    continue
                if made and not device.is_active:
                    activate(device)
                elif not made and device.is_active:
                    deactivate(device)

    def start(self) -> LimitSwitchSimulator:
        if self._thread is None:
            self._last = self._clock()
            self._thread = threading.Thread(target=self._run, name="sim-barrier", daemon=True)
            self._wiring = threading.Thread(
                target=self._run_wiring, name="sim-barrier-limits", daemon=True
            )
            self._thread.start()
            self._wiring.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll(drive=False)
            except Exception:  # pins closed under us at shutdown
                log.debug("sim barrier: poll failed", exc_info=True)

    def _run_wiring(self) -> None:
        while not self._stop.is_set():
            if not self._limits_due.wait(0.1):
                continue
            self._limits_due.clear()
            try:
                self._drive_limits()
            except Exception:  # pins closed under us at shutdown
                log.debug("sim barrier: limit switch update failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._limits_due.set()
        for thread in (self._thread, self._wiring):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=2)
        self._thread = self._wiring = None


def _history(relay: Any) -> Any:
    """A mock relay pin's list of changes (None for other pins)."""
    return getattr(getattr(relay, "pin", None), "states", None)


def _history_length(relay: Any) -> int:
    """How many changes a mock relay's pin has recorded so far (0 for other pins)."""
    states = getattr(getattr(relay, "pin", None), "states", None)
    return len(states) if states is not None else 0

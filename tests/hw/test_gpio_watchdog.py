"""The relay watchdog ends any output left on past its maximum, whoever left it on."""

from __future__ import annotations

import threading
import time

from gpiozero import OutputDevice

from edge.hw import Barrier, RelayWatchdog, SafetyLoop
from edge.hw.gpio import activate, deactivate
from tests.support.wait import wait_until


def test_stuck_caller_thread_cannot_keep_relay_on(mock_factory):
    """A caller turns the relay on and then hangs forever; the watchdog thread ends the pulse."""
    relay = OutputDevice(17, pin_factory=mock_factory)
    forced = []
    dog = RelayWatchdog(interval_s=0.01)
    dog.watch(relay, 0.15, name="OPEN pulse", on_forced=lambda name, s: forced.append((name, s)))
    dog.start()
    hang = threading.Event()

    def stuck_caller():
        relay.on()
        hang.wait()  # the code that should switch it off never runs

    caller = threading.Thread(target=stuck_caller, daemon=True)
    started = time.monotonic()
    caller.start()
    try:
        assert wait_until(lambda: relay.is_active, 10)
        assert wait_until(lambda: not relay.is_active, 10), "watchdog did not end the pulse"
        assert time.monotonic() - started >= 0.14  # not before its maximum
        assert wait_until(lambda: forced, 10)  # reported just after the relay is off
        assert forced[0][0] == "OPEN pulse" and forced[0][1] > 0.15
        assert caller.is_alive()  # the caller is still stuck; the relay is off anyway
    finally:
        hang.set()
        dog.stop()
        relay.close()


def test_short_pulses_are_left_alone(mock_factory, fake_clock):
    relay = OutputDevice(17, pin_factory=mock_factory)
    dog = RelayWatchdog(clock=fake_clock)
    dog.watch(relay, 2.0, name="OPEN pulse")
    for _ in range(3):
        relay.on()
        dog.poll()
        fake_clock.advance(1.9)
        assert dog.poll() == []
        relay.off()
        dog.poll()
        fake_clock.advance(5)
    assert dog.forced_count == 0
    relay.on()
    dog.poll()
    fake_clock.advance(2.01)
    assert dog.poll() == ["OPEN pulse"]
    assert not relay.is_active and dog.forced_count == 1
    relay.close()


def test_barrier_pulse_is_ended_even_if_its_own_timer_dies(mock_factory):
    """The barrier's pulse timer is stopped (as if its thread died); the watchdog still ends the pulse."""
    barrier = Barrier(
        model="pulse",
        open_pin=17,
        close_pin=27,
        pulse_s=0.1,
        max_pulse_s=0.2,
        pin_factory=mock_factory,
        auto_check=True,
    )
    fired = []
    barrier.on_watchdog = lambda name, s: fired.append(name)
    try:
        barrier._stop.set()  # kill the barrier's own ticker: pulses will not be ended by it
        barrier._ticker.join(1)
        barrier.open()
        assert barrier.relay.is_active
        assert wait_until(lambda: not barrier.relay.is_active, 10)
        assert wait_until(lambda: fired == ["barrier OPEN pulse"], 10)
    finally:
        barrier.close_device()


def test_barrier_real_timer_ends_pulse_before_the_watchdog(mock_factory):
    """The pulse's own timer ends it; the watchdog (max 5 s here) never has to."""
    barrier = Barrier(
        model="pulse", open_pin=17, pulse_s=0.1, max_pulse_s=5.0, pin_factory=mock_factory
    )
    try:
        barrier.open()
        assert wait_until(lambda: not barrier.relay.is_active, 10)
        assert barrier.watchdog.forced_count == 0
    finally:
        barrier.close_device()


def test_hold_relay_released_after_max_hold_unless_vehicle_under_arm(mock_factory, fake_clock):
    barrier = Barrier(
        model="hold",
        open_pin=17,
        max_hold_s=600,
        pin_factory=mock_factory,
        clock=fake_clock,
        auto_check=False,
    )
    loop = SafetyLoop(22, name="safety loop", pin_factory=mock_factory)
    barrier.register_presence(loop)
    faults = []
    barrier.on_fault = lambda expected, detail: faults.append((expected, detail))
    barrier.open()
    barrier.watchdog.poll()
    activate(loop)
    fake_clock.advance(601)
    assert barrier.watchdog.poll() == []  # a car is under the arm: never drop it
    assert barrier.relay.is_active
    deactivate(loop)
    assert barrier.watchdog.poll() == ["barrier hold relay"]
    assert not barrier.relay.is_active
    assert barrier.state == "closing"
    assert faults and faults[0][0] == "closed" and "held open too long" in faults[0][1]
    barrier.close_device()
    loop.close()


def test_watchdog_survives_an_unreadable_device(fake_clock):
    class Broken:
        @property
        def is_active(self):
            raise OSError("gone")

        def off(self):
            raise OSError("gone")

    dog = RelayWatchdog(clock=fake_clock)
    dog.watch(Broken(), 1.0, name="broken")
    assert dog.poll() == []
    assert dog.poll() == []

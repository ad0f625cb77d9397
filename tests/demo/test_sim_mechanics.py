"""The simulated barrier controller follows every relay pulse, however busy the lane logic is.

A real controller latches a pulse on its OPEN/CLOSE input in hardware. The
simulator used to sample the relays from the same thread that delivers the
limit-switch changes into the lane: while the lane handled "arm is open"
(writing events, a snapshot, the next car's card) inside that callback, a
0.1 s CLOSE pulse could start and end unseen, the arm stayed up and the
barrier rightly faulted ("closed limit not reached") — the exit lane's fault
in the first soak runs.
"""

from __future__ import annotations

import threading
import time

from edge.hw import Barrier
from edge.hw.gpio import make_pin_factory
from edge.sim.vehicle import LimitSwitchSimulator


def _wait(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def _barrier(factory, **kwargs) -> Barrier:
    return Barrier(
        model="pulse",
        open_pin=17,
        close_pin=27,
        opened_limit_pin=5,
        closed_limit_pin=6,
        pulse_s=0.1,
        max_pulse_s=1.0,
        travel_timeout_s=1.5,
        pin_factory=factory,
        name="sim",
        **kwargs,
    )


def test_a_pulse_given_while_the_limit_switch_callback_is_busy_still_moves_the_arm():
    factory = make_pin_factory("mock")
    barrier = _barrier(factory)
    arm = LimitSwitchSimulator.for_barrier(barrier, travel_s=0.2).start()
    busy_in: list[str] = []
    try:
        assert _wait(lambda: barrier.state == "closed", 15) or barrier.state == "unknown"

        def slow_lane(state: str) -> None:
            # The lane reacts to "open" by closing at once (the car already passed), then spends longer
            # than the pulse on its own work in the thread that delivered the limit switch.
            if state == "open":
                busy_in.append(threading.current_thread().name)
                barrier.close()
                time.sleep(0.4)

        barrier.on_state = slow_lane
        barrier.open()
        assert _wait(lambda: busy_in, 15), "the arm never reached open"
        assert _wait(lambda: barrier.state == "closed", 15), (barrier.state, barrier.fault)
        assert barrier.fault is None
    finally:
        arm.stop()
        barrier.close_device()


def test_opposite_pulses_between_two_samples_leave_the_arm_going_the_last_way():
    factory = make_pin_factory("mock")
    barrier = _barrier(factory, auto_check=False)
    arm = LimitSwitchSimulator.for_barrier(barrier, travel_s=0.2)  # sampled by hand below
    try:
        arm.position = 0.5  # mid-travel, so either pulse moves it
        arm.poll()
        # OPEN then CLOSE pulses both start and end before the controller samples: the later one wins.
        for relay in (barrier.relay, barrier.close_relay):
            relay.on()
            relay.off()
        arm.poll()
        assert arm.direction == -1
        for relay in (barrier.close_relay, barrier.relay):
            relay.on()
            relay.off()
        arm.poll()
        assert arm.direction == 1
    finally:
        barrier.close_device()

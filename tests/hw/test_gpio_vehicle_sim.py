"""The vehicle and barrier-arm simulators driving a real Barrier on mock pins, in real time."""

from __future__ import annotations

import pytest

from edge.hw import ArmingLoop, Barrier, PhotoEye, SafetyLoop
from edge.sim.vehicle import LimitSwitchSimulator, VehicleSimulator
from tests.support.wait import wait_until


@pytest.fixture
def lane(mock_factory):
    barrier = Barrier(
        model="pulse",
        open_pin=17,
        close_pin=27,
        opened_limit_pin=5,
        closed_limit_pin=6,
        pulse_s=0.05,
        max_pulse_s=0.5,
        travel_timeout_s=0.6,
        pin_factory=mock_factory,
    )
    arming = ArmingLoop(24, name="arming loop", pin_factory=mock_factory)
    safety = SafetyLoop(22, name="safety loop", pin_factory=mock_factory)
    eye = PhotoEye(23, name="photo-eye", pin_factory=mock_factory)
    barrier.register_presence(safety)
    barrier.register_presence(eye)
    arm = LimitSwitchSimulator.for_barrier(barrier, travel_s=0.15).start()
    yield barrier, arming, safety, eye, arm
    arm.stop()
    barrier.close_device()
    for s in (arming, safety, eye):
        s.close()


def test_car_passes_and_barrier_closes_behind_it(lane):
    barrier, arming, safety, eye, _ = lane
    assert barrier.state == "closed"  # the arm simulator made the closed limit
    states = []
    barrier.on_state = states.append
    # minimal "lane logic": open when a car arrives, close when the safety loop clears
    safety.when_deactivated = lambda: barrier.close()
    car = VehicleSimulator(
        arming_loop=arming,
        safety_loop=safety,
        photo_eye=eye,
        barrier=barrier,
        step_s=0.02,
        on_arrived=lambda c: barrier.open(),
    )
    trip = car.run(timeout_s=2)
    assert trip.outcome == "passed" and 0.1 < trip.waited_s < 2.0
    assert wait_until(lambda: barrier.state == "closed")
    assert states == ["opening", "open", "closing", "closed"]
    assert not any(r.is_active for r in barrier.relays)


def test_car_lingering_under_arm_blocks_close(lane):
    barrier, arming, safety, eye, arm = lane
    car = VehicleSimulator(
        arming_loop=arming,
        safety_loop=safety,
        photo_eye=eye,
        barrier=barrier,
        step_s=0.02,
        on_arrived=lambda c: barrier.open(),
    )
    thread, trips = car.run_in_thread(timeout_s=2, linger_s=0.4)
    assert wait_until(lambda: safety.is_active)
    assert barrier.close() is False  # a car is under the arm
    assert barrier.state == "open" and arm.position == 1.0
    thread.join(3)
    assert trips[0].outcome == "passed"
    assert barrier.close() is True
    assert wait_until(lambda: barrier.state == "closed")


def test_car_times_out_when_gate_stays_shut(lane):
    barrier, arming, safety, _, _ = lane
    arrived = []
    car = VehicleSimulator(
        arming_loop=arming,
        safety_loop=safety,
        barrier=barrier,
        step_s=0.01,
        on_arrived=lambda c: arrived.append(arming.is_active),
    )
    trip = car.run(timeout_s=0.1)
    assert trip.outcome == "timed_out" and arrived == [True]
    assert not arming.is_active and not safety.is_active


def test_jammed_arm_raises_travel_fault(lane):
    barrier, *_, arm = lane
    faults = []
    barrier.on_fault = lambda expected, detail: faults.append(expected)
    arm.jam()
    barrier.open()
    assert wait_until(lambda: barrier.state == "fault", 10)
    assert faults == ["open"]
    arm.unjam()
    barrier.open()  # the guard retries; the arm now reaches the top and clears the fault
    assert wait_until(lambda: barrier.state == "open", 10)
    assert barrier.fault is None


def test_hold_barrier_follows_relay(mock_factory):
    barrier = Barrier(
        model="hold",
        open_pin=17,
        opened_limit_pin=5,
        closed_limit_pin=6,
        travel_timeout_s=0.6,
        pin_factory=mock_factory,
    )
    arm = LimitSwitchSimulator.for_barrier(barrier, travel_s=0.1).start()
    try:
        assert wait_until(lambda: barrier.state == "closed")
        barrier.open()
        assert wait_until(lambda: barrier.state == "open")
        barrier.close()
        assert wait_until(lambda: barrier.state == "closed")
    finally:
        arm.stop()
        barrier.close_device()

"""Lane GPIO built from the shipped hardware profiles, driven by the simulators."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_profile
from edge.hw import Barrier, SafetyLoop
from edge.hw.gpio import activate
from edge.hw.lane_gpio import LaneGpio
from edge.sim.site import with_barrier
from edge.sim.vehicle import LimitSwitchSimulator, VehicleSimulator
from tests.support.wait import wait_until

BOARDS = Path(__file__).resolve().parents[2] / "firmware_configs" / "boards"


@pytest.mark.parametrize("board", ["pi4_lane", "pi5_lane", "pi_zero_2w_lane"])
def test_simulated_car_passes_on_each_lane_board(board):
    # a quicker arm, through the barrier profile's own field; every other timing is the profile's
    profile = with_barrier(load_profile(BOARDS / f"{board}.toml"), travel_s=0.1)
    gpio = LaneGpio.from_profile(profile, simulate=True)
    barrier = gpio.barrier
    arm = LimitSwitchSimulator.for_barrier(barrier, travel_s=profile.barrier.travel_s).start()
    try:
        assert gpio.safety_loop.name == "safety loop" and not gpio.safety_loop.is_active
        gpio.safety_loop.when_deactivated = lambda: barrier.close()
        car = VehicleSimulator(
            arming_loop=gpio.arming_loop,
            safety_loop=gpio.safety_loop,
            photo_eye=gpio.photo_eye,
            barrier=barrier,
            step_s=0.02,
            on_arrived=lambda c: barrier.open(),
        )
        trip = car.run(timeout_s=4)
        assert trip.outcome == "passed"
        assert wait_until(lambda: barrier.state == "closed", 10)
    finally:
        arm.stop()
        gpio.close()


def test_active_low_relays_from_profile():
    profile = load_profile(BOARDS / "pi4_lane.toml")
    gpio = LaneGpio.from_profile(profile, simulate=True, auto_check=False)
    try:
        pin = gpio.pin_factory.pin(17)
        assert pin.state is True  # relay off = line HIGH on a low-trigger relay board
        gpio.barrier.open()
        assert pin.state is False and gpio.barrier.relay.is_active
        pressed = []
        gpio.buttons.on_press = pressed.append
        gpio.pin_factory.pin(16).drive_low()
        assert pressed == ["confirm_payment"]
    finally:
        gpio.close()


def test_hold_barrier_restart_over_a_car_keeps_arm_up(mock_factory):
    barrier = Barrier(
        model="hold", open_pin=17, initially_open=True, pin_factory=mock_factory, auto_check=False
    )
    loop = SafetyLoop(23, name="safety loop", pin_factory=mock_factory)
    barrier.register_presence(loop)
    try:
        assert barrier.relay.is_active  # never released between start and recover()
        activate(loop)
        assert barrier.recover("open") == "opening"
        assert barrier.relay.is_active
    finally:
        barrier.close_device()
        loop.close()


def test_hold_barrier_restart_with_arm_closed_releases_relay(mock_factory):
    barrier = Barrier(
        model="hold",
        open_pin=17,
        closed_limit_pin=6,
        initially_open=True,
        pin_factory=mock_factory,
        auto_check=False,
    )
    try:
        activate(barrier.closed_limit)
        assert barrier.recover("open") == "closed"  # the limit switch beats the persisted state
        assert not barrier.relay.is_active
    finally:
        barrier.close_device()

"""Loops, photo-eye and booth buttons on MockFactory pins."""

from __future__ import annotations

import pytest

from edge.errors import ConfigError
from edge.hw import ArmingLoop, BoothButtons, PhotoEye
from edge.hw.gpio import activate, deactivate, make_pin_factory


def test_pulled_up_loop_is_active_low(mock_factory):
    loop = ArmingLoop(24, name="arming loop", pull="up", pin_factory=mock_factory)
    pin = mock_factory.pin(24)
    assert not loop.is_active  # pull-up holds the line high: no vehicle
    pin.drive_low()
    assert loop.is_active
    loop.close()


def test_external_resistor_needs_explicit_level(mock_factory):
    eye = PhotoEye(23, name="photo-eye", pull="off", active_high=True, pin_factory=mock_factory)
    mock_factory.pin(23).drive_high()
    assert eye.is_active
    eye.close()
    with pytest.raises(ConfigError, match="active_high"):
        PhotoEye(23, name="photo-eye", pull="off", pin_factory=mock_factory)


@pytest.mark.parametrize("pull, active_high", [("up", True), ("down", False)])
def test_contradictory_wiring_is_refused(mock_factory, pull, active_high):
    with pytest.raises(ConfigError, match="contradicts"):
        ArmingLoop(
            24, name="arming loop", pull=pull, active_high=active_high, pin_factory=mock_factory
        )


def test_every_listener_hears_presence_even_if_one_fails(mock_factory):
    loop = ArmingLoop(24, name="arming loop", pin_factory=mock_factory)
    heard = []

    def broken():
        raise RuntimeError("listener bug")

    loop.subscribe(activated=broken)
    loop.subscribe(
        activated=lambda: heard.append("safety"), deactivated=lambda: heard.append("safety clear")
    )
    loop.when_activated = lambda: heard.append("lane")
    loop.when_deactivated = lambda: heard.append("lane clear")
    activate(loop)
    deactivate(loop)
    assert heard == ["safety", "lane", "safety clear", "lane clear"]
    loop.close()


def test_pin_in_use_is_config_error(mock_factory):
    first = ArmingLoop(24, name="arming loop", pin_factory=mock_factory)
    with pytest.raises(ConfigError, match="safety loop: cannot use pin 24"):
        ArmingLoop(24, name="safety loop", pin_factory=mock_factory)
    first.close()


def test_booth_buttons_route_by_name(mock_factory):
    pressed = []
    buttons = BoothButtons(
        confirm_payment=16,
        manual_raise=20,
        manual_close=None,
        pin_factory=mock_factory,
        on_press=pressed.append,
    )
    assert buttons.manual_close is None
    mock_factory.pin(20).drive_low()  # buttons short to ground
    mock_factory.pin(20).drive_high()
    mock_factory.pin(16).drive_low()
    assert pressed == ["manual_raise", "confirm_payment"]
    buttons.close()


def test_unknown_pin_factory_is_config_error():
    with pytest.raises(ConfigError, match="unknown pin factory"):
        make_pin_factory("pigpio")
    assert type(make_pin_factory("mock")).__name__ == "MockFactory"

"""Barrier safety with gpiozero MockFactory pins and a hand-wound fake_clock.

Pins (BCM): 17 OPEN relay, 27 CLOSE relay, 5 opened limit, 6 closed limit,
22 safety loop, 23 photo-eye. Limit switches and loops are wired to ground with
the Pi's pull-up here (active low), as most dry contacts are.
"""

from __future__ import annotations

import pytest

from edge.errors import ConfigError
from edge.hw import Barrier, PhotoEye, SafetyLoop
from edge.hw.gpio import activate, deactivate


def make(mock_factory, fake_clock, **kw):
    args = {
        "model": "pulse",
        "open_pin": 17,
        "close_pin": 27,
        "pulse_s": 0.5,
        "max_pulse_s": 2.0,
        "travel_timeout_s": 6.0,
        "pin_factory": mock_factory,
        "clock": fake_clock,
        "auto_check": False,
    }
    args.update(kw)
    return Barrier(**args)


@pytest.fixture
def lane(mock_factory, fake_clock):
    """A pulse barrier with both limit switches, a safety loop and a photo-eye."""
    barrier = make(mock_factory, fake_clock, opened_limit_pin=5, closed_limit_pin=6)
    loop = SafetyLoop(22, name="safety loop", pin_factory=mock_factory)
    eye = PhotoEye(23, name="photo-eye", pin_factory=mock_factory)
    barrier.register_presence(loop)
    barrier.register_presence(eye)
    states, faults = [], []
    barrier.on_state = states.append
    barrier.on_fault = lambda expected, detail: faults.append((expected, detail))
    activate(barrier.closed_limit)  # starts closed
    states.clear()
    yield barrier, loop, eye, states, faults
    barrier.close_device()
    loop.close()
    eye.close()


def test_open_pulses_relay_for_pulse_s_and_limit_confirms(lane, fake_clock):
    barrier, _, _, states, faults = lane
    assert barrier.state == "closed"
    barrier.open()
    assert barrier.relay.is_active and barrier.state == "opening"
    fake_clock.advance(0.4)
    barrier.check()
    assert barrier.relay.is_active
    fake_clock.advance(0.2)
    barrier.check()
    assert not barrier.relay.is_active  # pulse ended at 0.5 s
    deactivate(barrier.closed_limit)
    activate(barrier.opened_limit)
    assert barrier.state == "open"
    assert states == ["opening", "open"] and faults == []


def test_close_refused_while_safety_loop_or_photo_eye_active(lane, fake_clock):
    barrier, loop, eye, _, _ = lane
    barrier.open()
    activate(barrier.opened_limit)
    deactivate(barrier.closed_limit)
    for sensor in (loop, eye):
        activate(sensor)
        assert barrier.close() is False
        assert barrier.close(force=True) is False  # force never overrides presence
        assert not barrier.close_relay.is_active
        assert barrier.state == "open"
        deactivate(sensor)
    assert barrier.close() is True
    assert barrier.close_relay.is_active and barrier.state == "closing"


def test_reopens_when_presence_appears_while_closing(lane, fake_clock):
    barrier, _, eye, states, _ = lane
    barrier.open()
    activate(barrier.opened_limit)
    deactivate(barrier.closed_limit)
    fake_clock.advance(1)
    barrier.check()
    assert barrier.close()
    deactivate(barrier.opened_limit)  # arm starts coming down
    assert barrier.close_relay.is_active
    activate(eye)  # a pedestrian or car breaks the beam
    assert not barrier.close_relay.is_active, "close pulse must be cut at once"
    assert barrier.relay.is_active, "open pulse must be sent at once"
    assert barrier.state == "opening"
    activate(barrier.opened_limit)
    assert barrier.state == "open"
    assert states[-3:] == ["closing", "opening", "open"]


def test_polled_presence_sensor_also_reopens(mock_factory, fake_clock):
    class Stub:
        is_active = False

    stub = Stub()
    barrier = make(mock_factory, fake_clock)
    barrier.register_presence(stub)
    barrier.open()
    fake_clock.advance(3.1)
    barrier.check()
    assert barrier.state == "open"  # no limit switches: follows command after travel_s
    assert barrier.close()
    stub.is_active = True
    barrier.check()
    assert barrier.state == "opening" and barrier.relay.is_active
    barrier.close_device()


def test_travel_timeout_without_limit_confirmation_is_a_fault(lane, fake_clock):
    barrier, _, _, _, faults = lane
    barrier.open()
    deactivate(barrier.closed_limit)  # arm leaves closed but never reaches open (jammed)
    fake_clock.advance(5.9)
    barrier.check()
    assert barrier.state == "opening" and faults == []
    fake_clock.advance(0.2)
    barrier.check()
    assert barrier.state == "fault"
    assert faults == [("open", "barrier opened limit not reached within 6 s")]
    assert barrier.fault == "barrier opened limit not reached within 6 s"
    # close is refused in fault unless the guard forces it after looking
    assert barrier.close() is False
    assert barrier.close(force=True) is True
    activate(barrier.closed_limit)
    assert barrier.state == "closed" and barrier.fault is None


def test_close_timeout_fault_and_reset(lane, fake_clock):
    barrier, _, _, _, faults = lane
    barrier.open()
    deactivate(barrier.closed_limit)
    activate(barrier.opened_limit)
    assert barrier.close()
    deactivate(barrier.opened_limit)
    fake_clock.advance(6.5)
    barrier.check()
    assert barrier.state == "fault" and faults[0][0] == "closed"
    barrier.reset()
    assert barrier.state == "unknown"


def test_without_limit_switches_state_follows_commands_after_travel_time(mock_factory, fake_clock):
    barrier = make(mock_factory, fake_clock, travel_s=2.0)
    seen = []
    barrier.on_state = seen.append
    assert barrier.state == "unknown"
    barrier.open()
    fake_clock.advance(2.0)
    barrier.check()
    assert barrier.state == "open"
    barrier.close()
    fake_clock.advance(2.0)
    barrier.check()
    assert barrier.state == "closed"
    assert seen == ["opening", "open", "closing", "closed"]
    barrier.close_device()


def test_hold_model_energised_is_open(mock_factory, fake_clock):
    barrier = make(mock_factory, fake_clock, model="hold", close_pin=None, travel_s=1.0)
    barrier.open()
    fake_clock.advance(10)
    barrier.check()
    assert barrier.relay.is_active and barrier.state == "open"  # held, not pulsed
    assert barrier.close()
    assert not barrier.relay.is_active and barrier.state == "closing"
    barrier.close_device()


def test_hold_model_reopens_on_presence(mock_factory, fake_clock):
    barrier = make(mock_factory, fake_clock, model="hold", close_pin=None)
    loop = SafetyLoop(22, name="safety loop", pin_factory=mock_factory)
    barrier.register_presence(loop)
    barrier.open()
    barrier.close()
    activate(loop)
    assert barrier.relay.is_active and barrier.state == "opening"
    barrier.close_device()
    loop.close()


def test_callback_may_call_back_into_barrier(lane, fake_clock):
    """Handlers run outside the lock: closing from on_state must not deadlock."""
    barrier, _, _, _, _ = lane
    seen = []

    def on_state(state):
        seen.append(state)
        if state == "open":
            barrier.close()

    barrier.on_state = on_state
    barrier.open()
    deactivate(barrier.closed_limit)
    activate(barrier.opened_limit)
    assert seen == ["opening", "open", "closing"]


def test_both_limits_at_once_is_a_wiring_fault(lane):
    barrier, _, _, _, faults = lane
    activate(barrier.opened_limit)
    assert barrier.state == "fault"
    assert "both limit switches" in faults[0][1]


def test_recover_after_restart(mock_factory, fake_clock):
    # persisted "open", arm actually open (limit), car under it: keep it up
    barrier = make(mock_factory, fake_clock, opened_limit_pin=5, closed_limit_pin=6)
    loop = SafetyLoop(22, name="safety loop", pin_factory=mock_factory)
    barrier.register_presence(loop)
    activate(barrier.opened_limit)
    activate(loop)
    assert barrier.recover("open") == "open"
    assert not barrier.close_relay.is_active
    # car gone: recovering closes
    deactivate(loop)
    assert barrier.recover("open") == "closing"
    assert barrier.close_relay.is_active
    barrier.close_device()
    loop.close()


def test_recover_without_limits_trusts_persisted_closed(mock_factory, fake_clock):
    barrier = make(mock_factory, fake_clock)
    assert barrier.recover("closed") == "closed"
    assert not any(r.is_active for r in barrier.relays)
    assert barrier.recover("opening") == "closing"
    barrier.close_device()


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"model": "swing"}, "model"),
        ({"model": "hold"}, "close_pin"),
        ({"pulse_s": 3.0}, "pulse_s"),
        ({"travel_timeout_s": 0}, "travel_timeout_s"),
        ({"max_hold_s": -1}, "max_hold_s"),
    ],
)
def test_bad_arguments_are_config_errors(mock_factory, fake_clock, kw, needle):
    with pytest.raises(ConfigError, match=needle):
        make(mock_factory, fake_clock, **kw)


def test_pin_used_twice_is_config_error_and_releases_pins(mock_factory, fake_clock):
    with pytest.raises(ConfigError, match="relay pin 17"):
        make(mock_factory, fake_clock, close_pin=17)
    make(mock_factory, fake_clock).close_device()  # pin 17 free again

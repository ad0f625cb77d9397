"""GPIO hardware of a lane: barrier relay(s), loops, photo-eye, limit switches, booth buttons.

Only this package imports gpiozero; the lane logic talks to these classes.
"""

from edge.hw.barrier import STATES, Barrier, BarrierModel, BarrierState
from edge.hw.lane_gpio import LaneGpio
from edge.hw.relay_watchdog import RelayWatchdog
from edge.hw.sensors import (
    ArmingLoop,
    BoothButtons,
    LimitSwitch,
    PhotoEye,
    PresenceSensor,
    SafetyLoop,
)

__all__ = [
    "STATES",
    "ArmingLoop",
    "Barrier",
    "BarrierModel",
    "BarrierState",
    "BoothButtons",
    "LaneGpio",
    "LimitSwitch",
    "PhotoEye",
    "PresenceSensor",
    "RelayWatchdog",
    "SafetyLoop",
]

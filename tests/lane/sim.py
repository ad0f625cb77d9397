"""Helpers for the simulated-lane tests: the shipped boards they run on, wait for a condition, read the outbox."""

from __future__ import annotations

import json

from edge.config.profile import HardwareProfile
from edge.config.schema import LaneSection
from edge.lane.lane import Lane
from edge.link.outbox import Outbox
from edge.sim.site import board_profile, with_barrier
from tests.support.wait import wait_until as wait_for  # the lane tests' name for it

SCENARIO_BOARDS = ("pi4_lane", "pi_zero_2w_lane")
"""The shipped boards the scenario tests run on: the Pi 4 pulse barrier with limit switches,
CLOSE relay, active-low relays and a badge reader; the Pi Zero 2 W hold barrier without limit
switches, with active-high opto inputs and no badge reader, printer or camera."""
QUICK_ARM = {"pulse_s": 0.3, "max_pulse_s": 1.0, "travel_s": 0.2, "travel_timeout_s": 2.0}
"""A quicker barrier controller than the shipped ones, set through the barrier profile's own fields."""
QUICK_LANE = {"close_delay_s": 0.0, "issue_delay_s": 0.5}
"""Shorter lane timings, set through the [lane] config fields the agent reads."""


def sim_profile(board: str, **barrier: object) -> HardwareProfile:
    """The shipped board profile ``board`` with a quicker arm (``barrier`` changes more fields)."""
    return with_barrier(board_profile(board), **{**QUICK_ARM, **barrier})


def lane_config(**fields: object) -> LaneSection:
    """A ``[lane]`` config with the quicker test timings (``fields`` override)."""
    return LaneSection.model_validate({"capacity": 100, **QUICK_LANE, **fields})


def event_types(outbox: Outbox) -> list[str]:
    return [row.event_type for row in outbox.pending(limit=10_000)]


def events_of(outbox: Outbox, event_type: str) -> list[dict]:
    return [
        json.loads(row.payload)["data"]
        for row in outbox.pending(limit=10_000)
        if row.event_type == event_type
    ]


def settled(lane: Lane) -> None:
    """Return once the input the lane is handling, and any queued behind it, have run.

    The lane handles an input and carries out its effects under one lock, which
    :meth:`Lane.status` takes too: a sync point before asserting that something
    (a raise, an event) did *not* follow an input already seen to arrive.
    """
    lane.status()


class HandledInputs:
    """Records every input the lane's machine handles, in order (a test-side spy, nothing faked).

    For "this input changed nothing": wait until it was handled, then assert
    the absence — instead of sleeping and hoping the lane got there.
    """

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.items: list[object] = []
        handle = lane.machine.handle

        def recording(item):
            try:
                return handle(item)
            finally:
                self.items.append(item)

        lane.machine.handle = recording  # type: ignore[method-assign]

    def count(self, kind: type) -> int:
        return sum(isinstance(item, kind) for item in list(self.items))

    def wait(self, kind: type, count: int, what: str) -> None:
        """Wait until ``count`` inputs of ``kind`` were handled and their effects have run."""
        wait_for(lambda: self.count(kind) >= count, what=what)
        settled(self.lane)

"""Fixtures for the lane tests: the real site tariff, real ticket serials, a stepped clock, and
simulated lanes assembled from a shipped board profile (``board``; scenario modules parametrize it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.lane.machine import LaneMachine, LaneSettings
from edge.lane.occupancy import Occupancy
from edge.sim.site import build_sim_lane
from edge.tariff import Tariff, load_tariff, quote
from edge.ticket import new_serial
from tests.lane.clock import StepClock
from tests.lane.sim import lane_config, sim_profile

ROOT = Path(__file__).resolve().parents[2]
TARIFF_PATH = ROOT / "firmware_configs" / "tariffs" / "grace_per_minute.toml"
WHITELIST = {"0A1B2C3D4E": "resident", "04AABBCCDD": "staff"}


@pytest.fixture
def tariff() -> Tariff:
    return load_tariff(TARIFF_PATH)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


def build_machine(
    role: str,
    tariff: Tariff,
    clock: StepClock,
    *,
    capacity: int = 10,
    reserved: int = 0,
    occupied: int = 0,
    medium: str = "card",
    occupancy: Occupancy | None = None,
    close_delay_s: float = 0.0,
    unattended_mode: str = "badges_only",
    guard: str | None = "booth",
    storage_fault_badges: bool = False,
) -> LaneMachine:
    return LaneMachine(
        LaneSettings(
            role=role,  # type: ignore[arg-type]
            medium=medium,  # type: ignore[arg-type]
            issue_delay_s=2.0,
            close_delay_s=close_delay_s,
            unattended_mode=unattended_mode,  # type: ignore[arg-type]
            storage_fault_badges=storage_fault_badges,
        ),
        clock=clock,
        occupancy=occupancy or Occupancy(capacity, reserved, occupied),
        quoter=lambda entry, exit, cls, lost: quote(tariff, entry, exit, cls, lost),
        serials=lambda now: new_serial(f"{role}-1", now),
        whitelist=WHITELIST,
        guard_on_duty=guard,
    )


@pytest.fixture
def board() -> str:
    """The board profile simulated lanes are built from; scenario modules parametrize it."""
    return "pi4_lane"


@pytest.fixture
def lanes(tmp_path, tariff, board):
    """Factory of simulated lanes (the agent's assembly of ``board`` on emulators), all closed after the test.

    ``barrier={...}`` changes barrier profile fields, ``medium`` the lane's ticket medium; other
    keywords go to :func:`edge.sim.site.build_sim_lane`.
    """
    made = []

    def make(role, *, barrier=None, medium="card", **kwargs):
        kwargs.setdefault("tariff", tariff)
        kwargs.setdefault("profile", sim_profile(board, **(barrier or {})))
        kwargs.setdefault("lane", lane_config(ticket_medium=medium))
        sim = build_sim_lane(role, tmp_path, **kwargs)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()

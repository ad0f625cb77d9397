"""The lane's local state: used serials survive a restart; the count never goes negative."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.errors import ConfigError
from edge.lane.occupancy import Occupancy
from edge.lane.used_tickets import UsedTickets


def test_used_serials_and_lane_state_survive_a_reopen(tmp_path):
    now = datetime(2026, 3, 2, tzinfo=UTC)
    store = UsedTickets(tmp_path / "lane.sqlite3")
    assert store.mark("S1", now, 250, "cash") is True
    assert store.mark("S1", now, 0, "none") is False  # the first use stands
    store.put("barrier", "open")
    store.close()
    again = UsedTickets(tmp_path / "lane.sqlite3", retention_days=30)
    assert again.is_used("S1") and not again.is_used("S2")
    assert again.get("barrier") == "open" and again.get("missing", "x") == "x"
    assert again.purge(now + timedelta(days=31)) == 1 and again.count() == 0


def test_occupancy_clamps_and_keeps_reserved_spaces_for_residents():
    lot = Occupancy(capacity=10, reserved=2, occupied=7)
    assert not lot.is_full("visitor")
    lot.entered()
    assert lot.is_full("visitor") and not lot.is_full("resident")
    for _ in range(20):
        lot.exited()
    assert lot.snapshot().occupied == 0  # a missed entry never makes the count negative
    with pytest.raises(ConfigError):
        Occupancy(capacity=5, reserved=6)
    with pytest.raises(ConfigError):
        lot.correct(-1)

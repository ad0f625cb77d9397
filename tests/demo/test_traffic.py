"""The demo's traffic model, pure: peaks by time of day, the lot filling to full, reproducible with a seed."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.lane.occupancy import Occupancy
from edge.sim.traffic import (
    Arrive,
    CheckIn,
    CheckOut,
    Depart,
    Incident,
    ReaderFault,
    TrafficModel,
    TrafficProfile,
)

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 3, 3, 5, 0, tzinfo=TZ)


def run_site(seed: int, days: float, profile: TrafficProfile | None = None) -> dict:
    """Play the model against a lot with the lanes' own occupancy rule (no lanes, no clock but the model's)."""
    profile = profile or TrafficProfile()
    model = TrafficModel(profile, random.Random(seed), START)
    lot = Occupancy(profile.capacity, profile.reserved)
    end = START + timedelta(days=days)
    log: list[tuple[str, datetime, str]] = []
    arrivals_by_hour: Counter[int] = Counter()
    peak = 0
    full_refusals_at: list[datetime] = []
    while model.next_time() < end:
        now = model.next_time()
        for h in model.due(now):
            if isinstance(h, Arrive):
                if h.vehicle.kind == "visitor":
                    arrivals_by_hour[h.at.astimezone(TZ).hour] += 1
                if lot.is_full(h.vehicle.kind):
                    full_refusals_at.append(h.at)
                    if not model.refused(h.vehicle):
                        model.gave_up(h.vehicle)
                        log.append(("refused", h.at, h.vehicle.id))
                        continue
                lot.entered()
                model.entered(h.vehicle, h.at)
                log.append(("in", h.at, h.vehicle.id))
            elif isinstance(h, Depart):
                lot.exited()
                model.exited(h.vehicle)
                log.append(("lost" if h.lost_card else "out", h.at, h.vehicle.id))
            elif isinstance(h, (Incident, ReaderFault)):
                log.append((type(h).__name__, h.at, ""))
        peak = max(peak, lot.snapshot().occupied)
    return {
        "log": log,
        "by_hour": arrivals_by_hour,
        "peak": peak,
        "refusals": full_refusals_at,
        "stats": model.stats,
        "inside": len(model.inside),
        "occupied": lot.snapshot().occupied,
    }


def test_arrivals_peak_by_time_of_day():
    result = run_site(seed=7, days=7)
    by_hour = result["by_hour"]
    night = sum(by_hour[h] for h in (1, 2, 3, 4))
    late_morning = sum(by_hour[h] for h in (9, 10, 11, 12))
    evening = sum(by_hour[h] for h in (17, 18, 19, 20))
    assert late_morning > 5 * max(night, 1)
    assert evening > 5 * max(night, 1)


def test_the_lot_fills_to_full_at_the_evening_peak_and_the_guard_sometimes_overrides():
    profile = TrafficProfile()
    result = run_site(seed=11, days=5, profile=profile)
    assert result["peak"] >= profile.capacity - profile.reserved  # visitors see 车位已满
    assert result["refusals"], "the lot never filled"
    hours = Counter(t.astimezone(TZ).hour for t in result["refusals"])
    assert sum(n for h, n in hours.items() if 16 <= h <= 23) > sum(
        n for h, n in hours.items() if h < 12
    )
    assert result["stats"].get("override", 0) >= 1
    assert result["stats"]["refused_full"] >= result["stats"]["override"]
    # The model's own count of who is inside agrees with the lot's.
    assert result["inside"] == result["occupied"]


def test_every_day_has_a_lost_card_an_incident_and_a_reader_fault():
    result = run_site(seed=3, days=3)
    kinds = Counter(kind for kind, _, _ in result["log"])
    assert kinds["lost"] >= 2 and kinds["Incident"] == 3 and kinds["ReaderFault"] == 3


def test_visitors_stay_a_realistic_while():
    model = TrafficModel(TrafficProfile(), random.Random(5), START)
    stays = sorted(model.dwell().total_seconds() / 60 for _ in range(2000))
    median = stays[len(stays) // 2]
    assert 80 < median < 140 and stays[0] >= 8 and stays[-1] <= 720


def test_the_same_seed_gives_the_same_traffic_and_another_seed_does_not():
    a, b, c = run_site(5, 2)["log"], run_site(5, 2)["log"], run_site(6, 2)["log"]
    assert a == b
    assert a != c


def test_a_profile_that_cannot_exist_is_refused():
    with pytest.raises(ValueError):
        TrafficProfile(capacity=10, reserved=11)
    with pytest.raises(ValueError):
        TrafficModel(TrafficProfile(), random.Random(1), datetime(2025, 1, 1))


def test_the_lobby_sees_every_kind_of_visitor_each_day_in_office_hours_and_they_all_leave():
    model = TrafficModel(TrafficProfile(lobby_visitors_per_day=6), random.Random(8), START)
    end = START + timedelta(days=3)
    days: dict = {}
    left = 0
    while model.next_time() < end:
        for h in model.due(model.next_time()):
            if isinstance(h, CheckIn):
                local = h.at.astimezone(TZ)
                assert 9 <= local.hour < 18
                days.setdefault(local.date(), Counter())[h.visitor.category] += 1
                model.checked_in(h.visitor, h.at)
            elif isinstance(h, CheckOut):
                assert h.visitor.id in model.in_lobby
                model.checked_out(h.visitor)
                left += 1
    full_days = [d for d in days if d > START.date()]
    assert len(full_days) == 2
    for day in full_days:
        assert (
            set(days[day]) == {"guest", "official", "home_buyer", "contractor"}
            and sum(days[day].values()) == 6
        )
    assert left >= 12 - len(model.in_lobby) and left > 0


def test_adding_the_lobby_left_the_car_traffic_of_a_seed_unchanged():
    quiet = run_site(5, 2, TrafficProfile(lobby_visitors_per_day=0))["log"]
    busy = run_site(5, 2, TrafficProfile(lobby_visitors_per_day=12))["log"]
    assert quiet == busy

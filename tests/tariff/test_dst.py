"""Clock changes: minutes are real elapsed time; bands and calendar days follow the wall clock.

Europe/Berlin in 2026: clocks go forward 02:00 → 03:00 on 29 March and back
03:00 → 02:00 on 25 October.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from edge.tariff import quote, stay_minutes
from tests.tariff.helpers import DAY_NIGHT, make_tariff

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(month: int, day: int, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def test_spring_forward_night_is_an_hour_shorter() -> None:
    tariff = make_tariff("Europe/Berlin", band_mode="split", bands=DAY_NIGHT)
    entry, exit = berlin(3, 28, 19), berlin(3, 29, 9)  # same tzinfo object: the classic trap
    assert stay_minutes(entry, exit) == 13 * 60
    result = quote(tariff, entry, exit)
    assert [line.minutes for line in result.lines] == [2 * 60, 11 * 60]  # day, night
    assert result.fee_minor == 300 + 1100 + 300


def test_fall_back_night_is_an_hour_longer() -> None:
    tariff = make_tariff("Europe/Berlin", band_mode="split", bands=DAY_NIGHT)
    result = quote(tariff, berlin(10, 24, 19), berlin(10, 25, 9))
    assert result.minutes == 15 * 60
    assert [line.minutes for line in result.lines] == [2 * 60, 13 * 60]  # day, night
    assert result.fee_minor == 300 + 1300 + 300


PER_MINUTE_EDGE_0230 = [
    {"label": "A", "start": "00:00", "end": "02:30", "unit_minutes": 1, "unit_price_minor": 1},
    {"label": "B", "start": "02:30", "end": "00:00", "unit_minutes": 1, "unit_price_minor": 10},
]


def test_band_edge_in_the_skipped_hour_changes_when_the_clock_jumps() -> None:
    tariff = make_tariff("Europe/Berlin", bands=PER_MINUTE_EDGE_0230)
    # 01:00 CET … 02:00 CET is band A (60 min); the clock jumps to 03:00 CEST: band B.
    result = quote(tariff, berlin(3, 29, 1), berlin(3, 29, 4))
    assert result.minutes == 120
    assert result.fee_minor == 60 * 1 + 60 * 10


def test_band_edge_in_the_repeated_hour_is_crossed_twice() -> None:
    tariff = make_tariff("Europe/Berlin", band_mode="split", bands=PER_MINUTE_EDGE_0230)
    # 01:00-02:30 CEST A, 02:30-03:00 CEST B, 02:00-02:30 CET A, 02:30-04:00 CET B.
    result = quote(tariff, berlin(10, 25, 1), berlin(10, 25, 4))
    assert result.minutes == 240
    assert [(line.label.split(":")[0], line.minutes) for line in result.lines] == [
        ("A 00", 120),
        ("B 02", 120),
    ]
    assert result.fee_minor == 120 * 1 + 120 * 10


def test_24h_window_is_24_real_hours_across_the_change() -> None:
    tariff = make_tariff("Europe/Berlin", cap={"minor": 1000, "window": "24h"})
    entry = berlin(3, 28, 12)  # 11:00 UTC; its window ends 29 March 13:00 CEST
    assert quote(tariff, entry, berlin(3, 29, 12, 30)).fee_minor == 1000
    assert quote(tariff, entry, berlin(3, 29, 12, 59)).fee_minor == 1000
    assert quote(tariff, entry, berlin(3, 29, 13, 30)).fee_minor == 1000 + 100


def test_calendar_day_of_23_hours_is_one_window() -> None:
    tariff = make_tariff("Europe/Berlin", cap={"minor": 5000, "window": "calendar_day"})
    result = quote(tariff, berlin(3, 29, 0), berlin(3, 30, 0))
    assert result.minutes == 23 * 60
    assert result.fee_minor == 2300
    assert len(result.lines) == 1 and result.lines[0].label.startswith("[2026-03-29]")


def test_calendar_day_of_25_hours_is_one_window() -> None:
    tariff = make_tariff("Europe/Berlin", cap={"minor": 2400, "window": "calendar_day"})
    result = quote(tariff, berlin(10, 25, 0), berlin(10, 26, 0))
    assert result.minutes == 25 * 60
    assert result.fee_minor == 2400  # 25 started hours, one calendar day, capped once

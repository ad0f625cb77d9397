"""Hand-checked quotes: each rule of the engine on a stay whose price is worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.errors import QuoteError
from edge.tariff import Tariff, quote, stay_minutes
from tests.tariff.helpers import DAY_NIGHT, make_tariff

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SH)


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(0, 0), (0.000001, 1), (1, 1), (59, 1), (60, 1), (61, 2), (3600, 60), (3600.5, 61)],
)
def test_started_minutes_count(seconds: float, minutes: int) -> None:
    entry = at(26, 10)
    assert stay_minutes(entry, entry + timedelta(seconds=seconds)) == minutes


def test_started_units_are_charged_whole() -> None:
    tariff = make_tariff()
    assert quote(tariff, at(26, 10), at(26, 10, 0, 1)).fee_minor == 100
    assert quote(tariff, at(26, 10), at(26, 11)).fee_minor == 100
    assert quote(tariff, at(26, 10), at(26, 11, 0, 1)).fee_minor == 200


def test_zero_length_stay_is_free_with_no_lines() -> None:
    result = quote(make_tariff(), at(26, 10), at(26, 10))
    assert (result.minutes, result.fee_minor, result.lines) == (0, 0, ())


def test_grace_charge_all_prices_the_whole_stay_once_past_it() -> None:
    tariff = make_tariff(grace={"minutes": 15, "after": "charge_all"})
    inside = quote(tariff, at(26, 10), at(26, 10, 15))
    assert (inside.fee_minor, inside.grace) == (0, True)
    past = quote(tariff, at(26, 10), at(26, 10, 15, 1))
    assert (past.minutes, past.fee_minor, past.grace) == (16, 100, False)
    assert quote(tariff, at(26, 10), at(26, 11, 5)).fee_minor == 200


def test_grace_charge_beyond_starts_the_clock_after_the_grace() -> None:
    tariff = make_tariff(grace={"minutes": 15, "after": "charge_beyond"})
    result = quote(tariff, at(26, 10), at(26, 11, 5))  # 65 min: 15 free, 50 charged = 1 hour
    assert result.fee_minor == 100
    assert result.lines[0].amount_minor == 0 and result.lines[0].minutes == 15
    assert quote(tariff, at(26, 10), at(26, 11, 16)).fee_minor == 200


def test_first_period_is_charged_in_full_then_bands_take_over() -> None:
    tariff = make_tariff(first_period={"minutes": 60, "price_minor": 500})
    assert quote(tariff, at(26, 10), at(26, 10, 5)).fee_minor == 500
    assert quote(tariff, at(26, 10), at(26, 11)).fee_minor == 500
    assert quote(tariff, at(26, 10), at(26, 11, 1)).fee_minor == 600
    start_only = make_tariff(first_period={"minutes": 0, "price_minor": 200})
    assert quote(start_only, at(26, 10), at(26, 10, 30)).fee_minor == 300


def test_per_minute_pricing_line_agrees_with_the_fee() -> None:
    tariff = make_tariff(
        bands=[{"start": "00:00", "end": "00:00", "unit_minutes": 1, "unit_price_minor": 7}]
    )
    result = quote(tariff, at(26, 10), at(26, 10, 37, 30))
    assert result.minutes == 38
    assert result.fee_minor == 38 * 7
    assert [(line.minutes, line.amount_minor) for line in result.lines] == [(38, 266)]


def test_start_mode_prices_a_unit_by_the_band_it_starts_in() -> None:
    tariff = make_tariff(band_mode="start", bands=DAY_NIGHT)
    result = quote(tariff, at(26, 19, 30), at(26, 21))  # units 19:30 (day), 20:30 (night)
    assert result.fee_minor == 300 + 100
    assert [line.minutes for line in result.lines] == [60, 30]


def test_split_mode_restarts_units_at_band_edges() -> None:
    tariff = make_tariff(band_mode="split", bands=DAY_NIGHT)
    result = quote(tariff, at(26, 19, 30), at(26, 21))  # day 19:30-20:00, night 20:00-21:00
    assert result.fee_minor == 300 + 100
    assert [line.minutes for line in result.lines] == [30, 60]
    # 19:30-21:30: split = day ½ h (1 unit) + night 1½ h (2 units); start = 2 units.
    assert quote(tariff, at(26, 19, 30), at(26, 21, 30)).fee_minor == 300 + 200
    start = make_tariff(band_mode="start", bands=DAY_NIGHT)
    assert quote(start, at(26, 19, 30), at(26, 21, 30)).fee_minor == 300 + 100


def test_band_cap_limits_each_night_separately() -> None:
    bands = [dict(DAY_NIGHT[0]), dict(DAY_NIGHT[1], cap_minor=500)]
    tariff = make_tariff(bands=bands)
    one_night = quote(tariff, at(26, 20), at(27, 8))  # 12 night hours at 1.00, capped at 5.00
    assert one_night.fee_minor == 500
    assert one_night.lines[-1].amount_minor == -700
    two_nights = quote(tariff, at(26, 20), at(28, 8))  # + 12 day hours at 3.00 + another night
    assert two_nights.fee_minor == 500 + 3600 + 500


def test_calendar_day_cap_versus_24h_cap_on_the_same_stay() -> None:
    """The "per day" ambiguity made explicit: 22:00 → 10:00 next day, 1.00 an hour, cap 5.00."""
    calendar = make_tariff(cap={"minor": 500, "window": "calendar_day"})
    rolling = make_tariff(cap={"minor": 500, "window": "24h"})
    entry, exit = at(26, 22), at(27, 10)
    assert quote(calendar, entry, exit).fee_minor == 200 + 500  # 2 h on the 26th, 10 h capped
    assert quote(rolling, entry, exit).fee_minor == 500  # one 24 h window


def test_caps_repeat_over_a_multi_day_stay() -> None:
    rolling = make_tariff(cap={"minor": 1500, "window": "24h"})
    result = quote(rolling, at(26, 10), at(29, 12))  # three full windows + 2 h
    assert result.fee_minor == 3 * 1500 + 200
    assert sum(1 for line in result.lines if line.amount_minor < 0) == 3
    calendar = make_tariff(cap={"minor": 1500, "window": "calendar_day"})
    # 26th: 14 h (14.00), 27th and 28th capped, 29th: 12 h (capped at 12.00 → 12.00).
    assert quote(calendar, at(26, 10), at(29, 12)).fee_minor == 1400 + 1500 + 1500 + 1200


def test_cap_covers_the_first_period_too() -> None:
    tariff = make_tariff(
        first_period={"minutes": 60, "price_minor": 1000}, cap={"minor": 1200, "window": "24h"}
    )
    assert quote(tariff, at(26, 10), at(26, 15)).fee_minor == 1200
    result = quote(tariff, at(26, 10), at(27, 11))
    assert result.fee_minor == 1200 + 100


def test_lost_ticket_modes() -> None:
    add = make_tariff()
    result = quote(add, at(26, 10), at(26, 12), lost=True)
    assert result.fee_minor == 200 + 5000 and result.lost
    data = add.model_dump(mode="json")
    flat = Tariff.model_validate({**data, "lost_ticket_mode": "flat"})
    assert quote(flat, at(26, 10), at(28, 12), lost=True).fee_minor == 5000
    at_least = Tariff.model_validate({**data, "lost_ticket_mode": "at_least"})
    assert quote(at_least, at(26, 10), at(26, 12), lost=True).fee_minor == 5000
    assert quote(at_least, at(26, 10), at(29, 12), lost=True).fee_minor == 74 * 100


def test_lost_ticket_is_charged_even_inside_grace() -> None:
    tariff = make_tariff(grace={"minutes": 15})
    result = quote(tariff, at(26, 10), at(26, 10, 5), lost=True)
    assert (result.fee_minor, result.grace) == (5000, True)


def test_exempt_class_passes_free_and_says_so() -> None:
    result = quote(make_tariff(), at(26, 10), at(27, 12), vehicle_class="resident", lost=True)
    assert (result.fee_minor, result.exempt, result.minutes) == (0, True, 26 * 60)
    assert "免费" in result.lines[0].label


def test_vehicle_classes_have_their_own_prices() -> None:
    data = make_tariff().model_dump(mode="json")
    data["classes"]["truck"] = {
        "bands": [{"start": "00:00", "end": "00:00", "unit_minutes": 30, "unit_price_minor": 400}]
    }
    tariff = Tariff.model_validate(data)
    assert quote(tariff, at(26, 10), at(26, 11), vehicle_class="truck").fee_minor == 800
    assert quote(tariff, at(26, 10), at(26, 11)).fee_minor == 100


@pytest.mark.parametrize(
    ("entry", "exit", "kwargs", "message"),
    [
        (at(26, 12), at(26, 11), {}, "before entry"),
        (at(26, 10), at(26, 11), {"vehicle_class": "bus"}, "unknown vehicle class 'bus'"),
        (datetime(2026, 11, 26, 10), at(26, 11), {}, "no time zone"),
        (at(26, 10), datetime(2026, 11, 26, 11), {}, "no time zone"),
        (datetime(1, 1, 1, tzinfo=SH), at(26, 11), {}, "outside the supported range"),
        (
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(1, 1, 1, 5, tzinfo=UTC),
            {},
            "outside the supported",
        ),
        (
            datetime(9999, 12, 31, 20, tzinfo=SH),
            datetime(9999, 12, 31, 23, tzinfo=SH),
            {},
            "outside",
        ),
        (at(26, 10), datetime(9999, 12, 31, 23, 59, tzinfo=UTC), {}, "outside the supported range"),
        (datetime(1969, 12, 31, 23, 59, tzinfo=UTC), at(26, 11), {}, "outside the supported range"),
    ],
)
def test_bad_requests_are_clear_quote_errors(entry, exit, kwargs, message, caplog) -> None:
    with pytest.raises(QuoteError, match=message):
        quote(make_tariff(), entry, exit, **kwargs)
    assert caplog.records, "a refused quote leaves a log line"


def test_quote_serialises_for_the_wire() -> None:
    result = quote(make_tariff(), at(26, 10), at(26, 11, 30))
    doc = result.to_json_dict()
    assert doc["minutes"] == 90 and doc["fee_minor"] == 200 and doc["currency"] == "CNY"
    assert doc["lines"] == [{"label": doc["lines"][0]["label"], "minutes": 90, "amount_minor": 200}]


def test_a_year_long_per_minute_stay_is_quick(monkeypatch) -> None:
    """An abandoned car must not stall the lane: no minute-by-minute walk.

    Judged by the work done, not by wall time (the suite runs on busy machines;
    the timing is in tests/bench/tariff.py): the engine cuts the stay only where a
    band, a cap window or the UTC offset changes, so the slots it looks at grow
    with the days of the stay, not with its half-million minutes.
    """
    from edge.tariff import engine, timeline

    looked_at = 0
    slot_start = timeline.slot_start

    def counting_slot_start(entry_utc: datetime, slot: int) -> datetime:
        nonlocal looked_at
        looked_at += 1
        return slot_start(entry_utc, slot)

    runs_seen: list[int] = []
    minute_runs = engine.minute_runs

    def counting_minute_runs(*args, **kwargs):
        runs = minute_runs(*args, **kwargs)
        runs_seen.append(len(runs))
        return runs

    monkeypatch.setattr(timeline, "slot_start", counting_slot_start)
    monkeypatch.setattr(engine, "minute_runs", counting_minute_runs)
    tariff = make_tariff(
        bands=[dict(b, unit_minutes=1) for b in DAY_NIGHT],
        cap={"minor": 3000, "window": "calendar_day"},
    )
    entry, exit_ = at(1, 0).replace(year=2026, month=1), at(26, 10).replace(tzinfo=UTC)
    result = quote(tariff, entry, exit_)
    days = (exit_ - entry).days + 1
    assert result.minutes > 300 * 24 * 60
    assert runs_seen and sum(runs_seen) <= 4 * days, f"runs {runs_seen} for {days} days"
    assert looked_at <= 20 * days, f"{looked_at} slots looked at for {days} days"
    assert (
        result.fee_minor > 0 and sum(line.amount_minor for line in result.lines) == result.fee_minor
    )


def test_a_stay_beyond_max_stay_days_is_a_clock_error(caplog) -> None:
    """A Pi that booted at 1970 must not bill fifty years of parking."""
    tariff = make_tariff()
    entry = datetime(1970, 1, 1, tzinfo=UTC)
    with pytest.raises(QuoteError, match="longer than 400 days"):
        quote(tariff, entry, at(26, 10))
    assert quote(tariff, at(26, 10) - timedelta(days=400), at(26, 10)).fee_minor == 400 * 2400

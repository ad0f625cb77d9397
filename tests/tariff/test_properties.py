"""Property tests: the engine against a naive reference, monotone fees, caps, grace."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.tariff import Tariff, quote
from tests.tariff.reference import minutes_between, reference_stay_fee
from tests.tariff.strategies import dst_cases, entries, stays, tariffs

PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(PROPS, max_examples=250)
@given(tariff=tariffs(), entry=entries(), stay=stays(max_days=2.5))
def test_engine_agrees_with_minute_by_minute_reference(tariff: Tariff, entry, stay) -> None:
    result = quote(tariff, entry, entry + stay)
    assert result.minutes == minutes_between(entry, entry + stay)
    assert result.fee_minor == reference_stay_fee(tariff, entry, entry + stay)


@settings(PROPS, max_examples=200)
@given(case=dst_cases())
def test_engine_agrees_with_reference_across_clock_changes(case) -> None:
    """Bands follow the wall clock through skipped and repeated hours; minutes stay real."""
    tariff, entry, stay = case
    result = quote(tariff, entry, entry + stay)
    assert result.minutes == minutes_between(entry, entry + stay)
    assert result.fee_minor == reference_stay_fee(tariff, entry, entry + stay)


@PROPS
@given(tariff=tariffs(), entry=entries(), stay=stays(), lost=st.booleans())
def test_lines_sum_to_the_fee_and_the_minutes(tariff: Tariff, entry, stay, lost: bool) -> None:
    result = quote(tariff, entry, entry + stay, lost=lost)
    assert sum(line.amount_minor for line in result.lines) == result.fee_minor
    assert sum(line.minutes for line in result.lines) == result.minutes
    assert result.fee_minor >= 0


@PROPS
@given(tariff=tariffs(), entry=entries(), first=stays(), more=stays(max_days=1), lost=st.booleans())
def test_fee_never_falls_as_the_stay_grows(tariff: Tariff, entry, first, more, lost) -> None:
    shorter = quote(tariff, entry, entry + first, lost=lost)
    longer = quote(tariff, entry, entry + first + more, lost=lost)
    assert longer.fee_minor >= shorter.fee_minor


@PROPS
@given(tariff=tariffs(), entry=entries(), first=stays(), more=stays(max_days=2))
def test_caps_hold_in_every_window(tariff: Tariff, entry, first, more) -> None:
    """Whatever is charged between two exit times fits under one cap per window it touches."""
    cap = tariff.classes["car"].cap
    if cap is None:
        return
    zone = tariff.tzinfo
    m1 = quote(tariff, entry, entry + first)
    m2 = quote(tariff, entry, entry + first + more)
    if m2.minutes == m1.minutes:
        assert m2.fee_minor == m1.fee_minor
        return
    # Slots m1.minutes … m2.minutes-1 are the minutes newly charged.
    start = entry + timedelta(minutes=m1.minutes)
    last = entry + timedelta(minutes=m2.minutes - 1)
    if cap.window == "24h":
        touched = (m2.minutes - 1) // 1440 - m1.minutes // 1440 + 1
    else:
        touched = (last.astimezone(zone).date() - start.astimezone(zone).date()).days + 1
    assert m2.fee_minor - m1.fee_minor <= cap.minor * touched
    # …and from entry: at most one cap per window of the whole stay.
    first_day = entry.astimezone(zone).date()
    if cap.window == "24h":
        windows = (m2.minutes - 1) // 1440 + 1
    else:
        windows = (last.astimezone(zone).date() - first_day).days + 1
    assert m2.fee_minor <= cap.minor * windows


@PROPS
@given(tariff=tariffs(), entry=entries(), seconds=st.integers(0, 90 * 60))
def test_grace_holds(tariff: Tariff, entry, seconds: int) -> None:
    grace = tariff.classes["car"].grace
    stay = timedelta(seconds=seconds)
    result = quote(tariff, entry, entry + stay)
    if grace is not None and result.minutes <= grace.minutes and result.minutes > 0:
        assert result.fee_minor == 0
        assert result.grace
    if grace is None or result.minutes > grace.minutes:
        assert not result.grace


@PROPS
@given(tariff=tariffs(), entry=entries(), stay=stays())
def test_exempt_class_pays_nothing(tariff: Tariff, entry, stay) -> None:
    result = quote(tariff, entry, entry + stay, vehicle_class="resident", lost=True)
    assert result.exempt and result.fee_minor == 0


@PROPS
@given(tariff=tariffs(), entry=entries(), stay=stays(max_days=1))
def test_the_zone_the_caller_uses_does_not_matter(tariff: Tariff, entry, stay) -> None:
    """Only the instants count: the same stay written in UTC or in the site's zone costs the same."""
    zone = tariff.tzinfo
    in_utc = quote(tariff, entry, entry + stay)
    local = quote(tariff, entry.astimezone(zone), (entry + stay).astimezone(zone))
    assert in_utc == local

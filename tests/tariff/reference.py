"""A deliberately naive second implementation of the tariff rules, for property tests.

It walks the stay minute by minute and unit by unit, asking the zone for the
wall clock at every minute: slow, obviously right, and sharing no code with
``edge.tariff.engine`` / ``edge.tariff.timeline`` beyond the config model.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from edge.tariff.model import Tariff

MINUTE = timedelta(minutes=1)


def minutes_between(entry: datetime, exit: datetime) -> int:
    seconds = (exit.astimezone(UTC) - entry.astimezone(UTC)).total_seconds()
    return math.ceil(round(seconds, 6) / 60)


def reference_stay_fee(
    tariff: Tariff, entry: datetime, exit: datetime, vehicle_class: str = "car"
) -> int:
    """The stay fee (no lost-ticket fee) for a priced class."""
    pricing = tariff.classes[vehicle_class]
    zone = tariff.tzinfo
    entry_utc = entry.astimezone(UTC)
    minutes = minutes_between(entry, exit)
    if minutes == 0:
        return 0
    grace = pricing.grace
    if grace is not None and minutes <= grace.minutes:
        return 0

    def local(slot: int) -> datetime:
        return (entry_utc + slot * MINUTE).astimezone(zone)

    def band(slot: int) -> int:
        wall = local(slot)
        return pricing.band_at(wall.hour * 60 + wall.minute)

    def window(slot: int) -> int | date | None:
        if pricing.cap is None:
            return None
        if pricing.cap.window == "24h":
            return slot // 1440
        return local(slot).date()

    origin = grace.minutes if grace is not None and grace.after == "charge_beyond" else 0
    totals: dict[object, int] = defaultdict(int)
    if pricing.first_period is not None:
        totals[window(origin)] += pricing.first_period.price_minor
        origin += pricing.first_period.minutes

    bands = {slot: band(slot) for slot in range(origin, minutes)}
    stretch: dict[int, int] = {}
    current = -1
    for slot in range(origin, minutes):
        if slot == origin or bands[slot] != bands[slot - 1]:
            current += 1
        stretch[slot] = current
    stretch_end: dict[int, int] = {}
    for slot in range(origin, minutes):
        stretch_end[stretch[slot]] = slot + 1

    spent: dict[int, int] = defaultdict(int)
    slot = origin
    while slot < minutes:
        b = pricing.bands[bands[slot]]
        price = b.unit_price_minor
        s = stretch[slot]
        if b.cap_minor is not None:
            price = min(price, b.cap_minor - spent[s])
        spent[s] += price
        totals[window(slot)] += price
        nxt = slot + b.unit_minutes
        if pricing.band_mode == "split":
            nxt = min(nxt, stretch_end[s])
        slot = nxt
    if pricing.cap is None:
        return sum(totals.values())
    return sum(min(total, pricing.cap.minor) for total in totals.values())

"""The minutes of a stay, cut where the price can change.

A stay of ``m`` minutes is ``m`` minute slots: slot ``k`` starts at
``entry + k`` minutes of *real* (UTC) time. A slot is priced by the band that
holds the *local wall-clock* time at which it starts, and belongs to the cap
window that holds that start. This module finds the runs of consecutive slots
that share a band and a window without visiting every minute: it collects the
instants where either can change (band edges and local midnights on every
local date, for both readings of an hour the clocks repeat, plus the zone's
UTC-offset changes) and checks the band only there. A 30-day stay costs a few
hundred zone conversions, not 43,200.

Pure: takes the entry as an aware UTC datetime; no clock, no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from edge.tariff.model import DAY_MINUTES, ClassPricing

MINUTE = timedelta(minutes=1)
_US_PER_MINUTE = 60_000_000
_OFFSET_PROBE = timedelta(hours=3)
"""No zone changes its UTC offset twice within three hours."""

WindowKind = Literal["24h", "calendar_day"] | None
WindowKey = int | date | None
"""24 h windows: 0, 1, 2… counted from entry; calendar days: the local date; no cap: None."""


@dataclass(frozen=True, slots=True)
class Run:
    """Slots ``start`` … ``end - 1`` all start in band ``band`` and cap window ``window``."""

    start: int
    end: int
    band: int
    window: WindowKey


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def slot_of(instant: datetime, entry_utc: datetime) -> int:
    """Index of the first slot that starts at or after ``instant``."""
    return ceil_div((instant - entry_utc) // timedelta(microseconds=1), _US_PER_MINUTE)


def slot_start(entry_utc: datetime, slot: int) -> datetime:
    return entry_utc + slot * MINUTE


def window_key(kind: WindowKind, zone: ZoneInfo, entry_utc: datetime, slot: int) -> WindowKey:
    """The cap window of the slot's start: real 24 h from entry, or the local calendar date."""
    if kind == "24h":
        return slot // DAY_MINUTES
    if kind == "calendar_day":
        return slot_start(entry_utc, slot).astimezone(zone).date()
    return None


def minute_runs(
    pricing: ClassPricing,
    zone: ZoneInfo,
    entry_utc: datetime,
    start: int,
    end: int,
    window: WindowKind,
) -> list[Run]:
    """Maximal runs of slots in ``[start, end)`` sharing band and cap window, in time order."""
    if start >= end:
        return []
    first = slot_start(entry_utc, start)
    last = slot_start(entry_utc, end)
    edges = {band.start_minute for band in pricing.bands}
    if window == "calendar_day":
        edges.add(0)
    cuts = {start, end}
    candidates = [
        *_wall_instants(zone, first.astimezone(zone).date(), last.astimezone(zone).date(), edges),
        *_offset_changes(zone, first, last),
    ]
    for instant in candidates:
        slot = slot_of(instant, entry_utc)
        if start < slot < end:
            cuts.add(slot)
    if window == "24h":
        cuts.update(range(ceil_div(start + 1, DAY_MINUTES) * DAY_MINUTES, end, DAY_MINUTES))

    runs: list[Run] = []
    ordered = sorted(cuts)
    for a, b in itertools.pairwise(ordered):
        local = slot_start(entry_utc, a).astimezone(zone)
        band = pricing.band_at(local.hour * 60 + local.minute)
        key = window_key(window, zone, entry_utc, a)
        if runs and runs[-1].band == band and runs[-1].window == key:
            runs[-1] = Run(runs[-1].start, b, band, key)
        else:
            runs.append(Run(a, b, band, key))
    return runs


def _wall_instants(
    zone: ZoneInfo, first: date, last: date, minutes: set[int]
) -> Iterator[datetime]:
    """Each wall-clock ``minutes`` on each local date around ``first``…``last``, as UTC.

    Both folds are produced so a repeated hour (clocks going back) is cut twice;
    a wall time the clocks skip yields a harmless extra cut, and the real change
    there is found by :func:`_offset_changes`.
    """
    day = first - timedelta(days=1)
    while day <= last + timedelta(days=1):
        for minute in minutes:
            naive = datetime.combine(day, time(minute // 60, minute % 60))
            for fold in (0, 1):
                yield naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        day += timedelta(days=1)


def _offset_changes(zone: ZoneInfo, first: datetime, last: datetime) -> Iterator[datetime]:
    """Instants in ``(first, last]`` at which the zone's UTC offset changes (DST)."""
    probe = first
    offset = probe.astimezone(zone).utcoffset()
    while probe < last:
        nxt = min(probe + _OFFSET_PROBE, last)
        new_offset = nxt.astimezone(zone).utcoffset()
        if new_offset != offset:
            lo, hi = 0, (nxt - probe) // timedelta(microseconds=1)
            while hi - lo > 1:  # offset(probe + lo) == offset, offset(probe + hi) != offset
                mid = (lo + hi) // 2
                if (probe + timedelta(microseconds=mid)).astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            yield probe + timedelta(microseconds=hi)
            offset = new_offset
        probe = nxt

"""Price a stay: ``quote(tariff, entry, exit)`` → minutes, fee and receipt lines.

Pure: no clock, no I/O; the caller passes both instants. The rules, in the
order they apply:

1. **Minutes.** Real elapsed time (UTC difference, so a DST change neither adds
   nor removes an hour), counted in *started* minutes: 0 s → 0, 1 s → 1,
   60 s → 1, 61 s → 2.
2. **Exempt classes** pay nothing (one zero line).
3. **Grace.** A stay of at most ``grace.minutes`` is free. Past it,
   ``charge_all`` prices the whole stay and ``charge_beyond`` starts the
   charged time after the grace (a zero "grace" line shows the free minutes).
4. **First period.** ``price_minor`` for the first ``minutes`` of the charged
   time, charged in full even if the stay ends inside it.
5. **Bands.** The rest is cut into units. ``band_mode = "start"``: units run
   back to back, each of its starting band's length and price.
   ``"split"``: units restart at every band edge, so a part-unit before an
   edge is one started unit of that band. Bands follow the local wall clock.
6. **Band caps** (``cap_minor``) limit one continuous stretch of a band (one
   night); units are charged in time order until the cap is reached.
7. **Window caps** limit every cap window (real 24 h from entry, or local
   calendar day), each window on its own; charges belong to the window in
   which their unit starts, the first period to the window it starts in.
8. **Lost ticket** per ``lost_ticket_mode``.

Every reduction is a negative line, so the lines always sum to the fee, and
line minutes sum to the stay's minutes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from edge.errors import QuoteError
from edge.tariff.model import ClassPricing, Tariff
from edge.tariff.money import format_money
from edge.tariff.timeline import (
    Run,
    WindowKey,
    ceil_div,
    minute_runs,
    window_key,
)

log = logging.getLogger(__name__)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""Earliest entry a quote accepts: no ticket is older; a Pi without RTC may read 1970."""
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Latest exit a quote accepts. Far from ``datetime.max`` (year 9999), so the
local-day walk past the exit (a day or two, plus ``max_stay_days`` at most
3660) never overflows; an instant outside the range is a :class:`QuoteError`.
"""


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """One receipt line. ``amount_minor`` is negative for a cap."""

    label: str
    minutes: int
    amount_minor: int

    def to_json_dict(self) -> dict[str, Any]:
        return {"label": self.label, "minutes": self.minutes, "amount_minor": self.amount_minor}


@dataclass(frozen=True, slots=True)
class Quote:
    """What a stay costs. ``sum(l.amount_minor for l in lines) == fee_minor`` always.

    ``grace`` is True when the stay itself was free by grace (a lost-ticket fee
    may still apply).
    """

    minutes: int
    fee_minor: int
    currency: str
    vehicle_class: str
    lines: tuple[QuoteLine, ...]
    exempt: bool = False
    lost: bool = False
    grace: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "minutes": self.minutes,
            "fee_minor": self.fee_minor,
            "currency": self.currency,
            "vehicle_class": self.vehicle_class,
            "exempt": self.exempt,
            "lost": self.lost,
            "grace": self.grace,
            "lines": [line.to_json_dict() for line in self.lines],
        }


def stay_minutes(entry: datetime, exit: datetime) -> int:
    """Started minutes of real elapsed time between two aware instants."""
    elapsed_us = (exit.astimezone(UTC) - entry.astimezone(UTC)) // timedelta(microseconds=1)
    return ceil_div(elapsed_us, 60_000_000)


def quote(
    tariff: Tariff,
    entry: datetime,
    exit: datetime,
    vehicle_class: str = "car",
    lost: bool = False,
) -> Quote:
    """Price a stay from ``entry`` to ``exit`` (aware datetimes, any zone)."""
    entry_utc = _utc(entry, "entry")
    exit_utc = _utc(exit, "exit")
    for what, moment in (("entry", entry_utc), ("exit", exit_utc)):
        if not EARLIEST <= moment <= LATEST:
            log.warning("quote refused: %s %s out of range", what, moment.isoformat())
            raise QuoteError(
                f"{what} {moment.isoformat()} is outside the supported range "
                f"{EARLIEST.date()} to {LATEST.date()} (UTC); check the lane clock and the ticket"
            )
    if exit_utc < entry_utc:
        log.warning("quote refused: exit %s before entry %s", exit.isoformat(), entry.isoformat())
        raise QuoteError(f"exit {exit.isoformat()} is before entry {entry.isoformat()}")
    minutes = stay_minutes(entry_utc, exit_utc)
    if minutes > tariff.max_stay_days * 24 * 60:
        log.warning("quote refused: stay of %d min from %s", minutes, entry.isoformat())
        raise QuoteError(
            f"stay from {entry.isoformat()} to {exit.isoformat()} is longer than "
            f"{tariff.max_stay_days} days (max_stay_days); check the lane clock and the ticket"
        )

    if vehicle_class in tariff.exempt_classes:
        line = QuoteLine(f"exempt {vehicle_class} / 免费车辆", minutes, 0)
        return Quote(minutes, 0, tariff.currency, vehicle_class, (line,), exempt=True, lost=lost)
    pricing = tariff.classes.get(vehicle_class)
    if pricing is None:
        known = ", ".join(sorted([*tariff.classes, *tariff.exempt_classes]))
        log.warning("quote refused: unknown vehicle class %r", vehicle_class)
        raise QuoteError(
            f"unknown vehicle class {vehicle_class!r}; tariff {tariff.name!r} knows {known}"
        )

    lines, in_grace = _price_stay(tariff, pricing, entry_utc, minutes)
    if lost:
        lines = _lost_ticket(tariff, lines, minutes)
    fee = sum(line.amount_minor for line in lines)
    return Quote(
        minutes, fee, tariff.currency, vehicle_class, tuple(lines), lost=lost, grace=in_grace
    )


def _utc(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime):
        raise QuoteError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        log.warning("quote refused: naive %s %s", what, moment.isoformat())
        raise QuoteError(f"{what} {moment.isoformat()} has no time zone; pass an aware datetime")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+08:00 is before datetime.min in UTC
        log.warning("quote refused: %s %s out of range", what, moment.isoformat())
        raise QuoteError(
            f"{what} {moment.isoformat()} is outside the supported range "
            f"{EARLIEST.date()} to {LATEST.date()} (UTC)"
        ) from None


def _lost_ticket(tariff: Tariff, lines: list[QuoteLine], minutes: int) -> list[QuoteLine]:
    fee = tariff.lost_ticket_fee_minor
    stay_fee = sum(line.amount_minor for line in lines)
    if tariff.lost_ticket_mode == "flat":
        return [QuoteLine("lost ticket, flat fee / 遗失票卡", minutes, fee)]
    if tariff.lost_ticket_mode == "at_least":
        if fee > stay_fee:
            return [*lines, QuoteLine("lost ticket minimum / 遗失票卡最低收费", 0, fee - stay_fee)]
        return lines
    return [*lines, QuoteLine("lost ticket / 遗失票卡", 0, fee)]


@dataclass(slots=True)
class _Window:
    """Receipt lines and running total of one cap window."""

    lines: list[QuoteLine] = field(default_factory=list)
    total: int = 0


@dataclass(slots=True)
class _Group:
    """Units of one band within one window, summed for one receipt line."""

    band: int
    units: int = 0
    minutes: int = 0
    gross: int = 0
    capped: int = 0


def _price_stay(
    tariff: Tariff, pricing: ClassPricing, entry_utc: datetime, minutes: int
) -> tuple[list[QuoteLine], bool]:
    """Lines for the stay itself (no lost-ticket fee) and whether grace made it free."""
    if minutes == 0:
        return [], False
    grace = pricing.grace
    if grace is not None and minutes <= grace.minutes:
        return [QuoteLine(f"grace ≤{grace.minutes} min / 免费时段", minutes, 0)], True

    zone = tariff.tzinfo
    kind = pricing.cap.window if pricing.cap else None
    lines: list[QuoteLine] = []
    windows: dict[WindowKey, _Window] = {}
    origin = 0
    if grace is not None and grace.after == "charge_beyond" and grace.minutes:
        lines.append(QuoteLine(f"grace {grace.minutes} min / 免费时段", grace.minutes, 0))
        origin = grace.minutes

    first = pricing.first_period
    if first is not None:
        key = window_key(kind, zone, entry_utc, origin)
        win = windows.setdefault(key, _Window())
        label = _window_label(key) + (
            f"first {first.minutes} min / 首{first.minutes}分钟"
            if first.minutes
            else "starting charge / 起步价"
        )
        win.lines.append(QuoteLine(label, min(first.minutes, minutes - origin), first.price_minor))
        win.total += first.price_minor
        origin += first.minutes

    runs = minute_runs(pricing, zone, entry_utc, origin, minutes, kind)
    groups: dict[tuple[WindowKey, int], _Group] = {}
    for run, units, used, gross, net in _charge_units(pricing, runs, origin, minutes):
        windows.setdefault(run.window, _Window())
        group = groups.setdefault((run.window, run.band), _Group(run.band))
        group.units += units
        group.minutes += used
        group.gross += gross
        group.capped += gross - net

    for (key, _), group in groups.items():
        band = pricing.bands[group.band]
        prefix = _window_label(key)
        price = format_money(band.unit_price_minor, tariff.currency)
        win = windows[key]
        win.lines.append(
            QuoteLine(
                f"{prefix}{band.name}: {group.units} × {band.unit_minutes} min @ {price}",
                group.minutes,
                group.gross,
            )
        )
        if group.capped:
            cap = format_money(band.cap_minor or 0, tariff.currency)
            win.lines.append(QuoteLine(f"{prefix}{band.name} cap {cap} / 封顶", 0, -group.capped))
        win.total += group.gross - group.capped

    for key, win in windows.items():
        lines.extend(win.lines)
        if pricing.cap is not None and win.total > pricing.cap.minor:
            cap = format_money(pricing.cap.minor, tariff.currency)
            name = "day cap / 每日封顶" if kind == "calendar_day" else "24h cap / 24小时封顶"
            lines.append(
                QuoteLine(f"{_window_label(key)}{name} {cap}", 0, pricing.cap.minor - win.total)
            )
    return lines, False


def _charge_units(
    pricing: ClassPricing, runs: list[Run], origin: int, end: int
) -> list[tuple[Run, int, int, int, int]]:
    """Per run: (run, units starting in it, minutes they cover, gross, net after band cap)."""
    # A stretch is a maximal span of one band (one night, one day); split mode
    # restarts units at each stretch, and a band cap limits each stretch.
    stretch_of: list[int] = []
    stretch_end: list[int] = []
    for index, run in enumerate(runs):
        if index and runs[index - 1].band == run.band:
            stretch_end[-1] = run.end
        else:
            stretch_end.append(run.end)
        stretch_of.append(len(stretch_end) - 1)
    spent = [0] * len(stretch_end)

    charged = []
    next_start = origin
    for index, run in enumerate(runs):
        stretch = stretch_of[index]
        split = pricing.band_mode == "split"
        if split and (index == 0 or stretch_of[index - 1] != stretch):
            next_start = run.start
        if next_start >= run.end:
            continue  # covered by a unit that started in an earlier run
        band = pricing.bands[run.band]
        size = band.unit_minutes
        units = ceil_div(run.end - next_start, size)
        last = next_start + (units - 1) * size
        limit = stretch_end[stretch] if split else end
        used = (units - 1) * size + min(size, limit - last)
        gross = units * band.unit_price_minor
        net = gross if band.cap_minor is None else min(gross, band.cap_minor - spent[stretch])
        spent[stretch] += net
        charged.append((run, units, used, gross, net))
        next_start += units * size
    return charged


def _window_label(key: WindowKey) -> str:
    if key is None:
        return ""
    if isinstance(key, date):
        return f"[{key.isoformat()}] "
    return f"[24h #{key + 1}] "

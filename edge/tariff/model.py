"""Tariff configuration: what a property charges, as a strict pydantic model.

A tariff is written by a property manager in TOML (see
``firmware_configs/tariffs/``) and travels to the lanes as JSON site config, so
``Tariff.model_validate(t.model_dump(mode="json")) == t`` must hold. Every
setting that field systems have got wrong is explicit here:

* ``cap.window`` — "per day" is either ``"24h"`` (real 24 h from entry,
  repeated) or ``"calendar_day"`` (local midnight to midnight). No default.
* ``band_mode`` — a unit is priced by the band in which it ``"start"``s, or
  units are ``"split"`` at band edges (each band's time is counted in started
  units of its own).
* ``grace.after`` — beyond the grace period, charge ``"charge_all"`` of the
  stay or only the time ``"charge_beyond"`` the grace.
* bands are local wall-clock times in ``zone``; elapsed time is real time.

Every number is a strict integer: ``unit_price_minor = true`` or ``"100"`` is
an error with its file and line, never read as 1 or 100.

Pure data and validation: no I/O here (see :mod:`edge.tariff.loader`).
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.errors import TariffError
from edge.tariff.money import minor_units

MAX_MINOR = 100_000_000
"""One million yuan in fen: far above any parking fee, low enough to catch a typo."""

DAY_MINUTES = 24 * 60
CLASS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
DEFAULT_CLASS = "car"


def parse_hhmm(value: str, *, allow_24: bool = False) -> int:
    """``"08:30"`` → 510 minutes after midnight; ``"24:00"`` (as an end) → 1440."""
    if allow_24 and value == "24:00":
        return DAY_MINUTES
    match = TIME_RE.match(value)
    if not match:
        raise ValueError(f"time {value!r} must be HH:MM on a 24-hour clock, 00:00-23:59")
    return int(match.group(1)) * 60 + int(match.group(2))


def hhmm(minute: int) -> str:
    """Minutes after midnight → ``"HH:MM"`` (1440 → ``"24:00"``)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grace(_Strict):
    """Free period: a stay of at most ``minutes`` costs nothing."""

    minutes: int = Field(
        strict=True, ge=0, le=DAY_MINUTES, description="A stay this long or shorter is free."
    )
    after: Literal["charge_all", "charge_beyond"] = Field(
        default="charge_all",
        description="Past the grace: charge the whole stay, or only the minutes beyond the grace.",
    )


class FirstPeriod(_Strict):
    """Starting charge: ``price_minor`` covers the first ``minutes`` of the charged stay.

    ``minutes = 0`` is a plain starting charge with the bands pricing everything.
    """

    minutes: int = Field(
        strict=True, ge=0, le=DAY_MINUTES, description="Minutes the starting charge covers."
    )
    price_minor: int = Field(
        strict=True, ge=0, le=MAX_MINOR, description="Starting charge in minor units."
    )


class Band(_Strict):
    """A time-of-day band: units of ``unit_minutes`` cost ``unit_price_minor`` each.

    ``start``/``end`` are local wall-clock times; a band may wrap midnight
    (``20:00``-``08:00``). ``start == end`` means all day (only as the sole band).
    Per-minute pricing is ``unit_minutes = 1``.
    """

    label: str = Field(default="", max_length=40, description='Shown on receipts, e.g. "白天 day".')
    start: str = Field(description="Local start time, HH:MM.")
    end: str = Field(description="Local end time, HH:MM (24:00 allowed); may wrap midnight.")
    unit_minutes: int = Field(
        strict=True, ge=1, le=DAY_MINUTES, description="Length of one charged unit."
    )
    unit_price_minor: int = Field(
        strict=True, ge=0, le=MAX_MINOR, description="Price of each started unit."
    )
    cap_minor: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_MINOR,
        description="Most one continuous stretch of this band costs (e.g. 夜间封顶, one night).",
    )

    @field_validator("start")
    @classmethod
    def _start_is_time(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("end")
    @classmethod
    def _end_is_time(cls, value: str) -> str:
        parse_hhmm(value, allow_24=True)
        return value

    @property
    def start_minute(self) -> int:
        return parse_hhmm(self.start)

    @property
    def end_minute(self) -> int:
        return parse_hhmm(self.end, allow_24=True) % DAY_MINUTES

    @property
    def name(self) -> str:
        """Receipt name: the label and the hours, e.g. ``"白天 day 08:00-20:00"``."""
        if self.start_minute == self.end_minute:
            return self.label or "all day / 全天"
        hours = f"{self.start}-{self.end}"
        return f"{self.label} {hours}" if self.label else hours

    def contains(self, minute: int) -> bool:
        """Whether wall-clock ``minute`` (0-1439) falls in this band."""
        start, end = self.start_minute, self.end_minute
        if start == end:
            return True
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end


class Cap(_Strict):
    """Most a stay costs per window, repeated for every window a long stay touches."""

    minor: int = Field(
        strict=True, ge=0, le=MAX_MINOR, description="Cap per window in minor units."
    )
    window: Literal["24h", "calendar_day"] = Field(
        description='"24h": each real 24 h from entry; "calendar_day": local midnight to midnight.',
    )


class ClassPricing(_Strict):
    """How one vehicle class is charged."""

    label: str = Field(default="", max_length=40, description='e.g. "小型车 car".')
    band_mode: Literal["start", "split"] = Field(
        default="start",
        description='"start": a unit is priced by the band it starts in; '
        '"split": units restart at each band edge.',
    )
    grace: Grace | None = Field(default=None, description="Free period, if any.")
    first_period: FirstPeriod | None = Field(default=None, description="Starting charge, if any.")
    bands: tuple[Band, ...] = Field(min_length=1, max_length=24, description="Must cover the day.")
    cap: Cap | None = Field(default=None, description="Cap per 24 h or per calendar day.")

    @field_validator("bands")
    @classmethod
    def _bands_tile_the_day(cls, bands: tuple[Band, ...]) -> tuple[Band, ...]:
        # Every wall-clock minute must belong to exactly one band: a gap would
        # leave the price undefined and an overlap would make it ambiguous.
        owner: list[int | None] = [None] * DAY_MINUTES
        for index, band in enumerate(bands):
            if band.start_minute == band.end_minute and len(bands) > 1:
                raise ValueError(
                    f"band {band.name!r} covers the whole day (start = end); "
                    "that is only allowed as the only band"
                )
            for minute in range(DAY_MINUTES):
                if not band.contains(minute):
                    continue
                other = owner[minute]
                if other is not None:
                    raise ValueError(
                        f"bands {bands[other].name!r} and {band.name!r} overlap at {hhmm(minute)}"
                    )
                owner[minute] = index
        if None in owner:
            first = owner.index(None)
            last = first
            while last < DAY_MINUTES and owner[last] is None:
                last += 1
            raise ValueError(
                f"bands leave {hhmm(first)}-{hhmm(last)} uncovered; "
                "add a band there (unit_price_minor = 0 makes it free)"
            )
        return bands

    def band_at(self, minute: int) -> int:
        """Index of the band that holds wall-clock ``minute``."""
        for index, band in enumerate(self.bands):
            if band.contains(minute):
                return index
        raise AssertionError("bands are validated to cover the day")  # pragma: no cover


class Tariff(_Strict):
    """A property's parking tariff: per-class pricing in one currency and time zone."""

    name: str = Field(min_length=1, max_length=80, description="Shown to the guard and on reports.")
    currency: str = Field(description="ISO 4217 code, e.g. CNY.")
    zone: str = Field(description="IANA time zone of the site's wall clock, e.g. Asia/Shanghai.")
    classes: dict[str, ClassPricing] = Field(
        description=f'Pricing per vehicle class; "{DEFAULT_CLASS}" is required (the lane default).'
    )
    exempt_classes: tuple[str, ...] = Field(
        default=(), description="Classes that pass free: residents, staff, emergency services."
    )
    lost_ticket_fee_minor: int = Field(
        default=0,
        strict=True,
        ge=0,
        le=MAX_MINOR,
        description="Fee when the driver has lost the ticket.",
    )
    lost_ticket_mode: Literal["add", "flat", "at_least"] = Field(
        default="add",
        description='"add": stay fee + lost fee; "flat": lost fee only; '
        '"at_least": the larger of the two.',
    )

    max_stay_days: int = Field(
        default=400,
        strict=True,
        ge=1,
        le=3660,
        description="A longer stay is refused as a likely clock error (a Pi has no RTC).",
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        try:
            minor_units(value)
        except TariffError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as Asia/Shanghai"
            ) from None
        return value

    @field_validator("classes")
    @classmethod
    def _class_names(cls, classes: dict[str, ClassPricing]) -> dict[str, ClassPricing]:
        for name in classes:
            if not CLASS_RE.match(name):
                raise ValueError(f"class name {name!r}: use 1-32 of a-z 0-9 _ -, starting a-z")
        if DEFAULT_CLASS not in classes:
            raise ValueError(f'a "{DEFAULT_CLASS}" class is required: lanes use it by default')
        return classes

    @field_validator("exempt_classes")
    @classmethod
    def _exempt_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not CLASS_RE.match(name):
                raise ValueError(f"class name {name!r}: use 1-32 of a-z 0-9 _ -, starting a-z")
        if len(set(names)) != len(names):
            raise ValueError("exempt_classes lists a class twice")
        return names

    @model_validator(mode="after")
    def _exempt_not_priced(self) -> Tariff:
        both = sorted(set(self.exempt_classes) & set(self.classes))
        if both:
            raise ValueError(f"class {both[0]!r} is both priced and exempt; pick one")
        return self

    @property
    def tzinfo(self) -> ZoneInfo:
        """The site's zone, for wall-clock bands and calendar days (ZoneInfo caches it)."""
        return ZoneInfo(self.zone)

    def knows(self, vehicle_class: str) -> bool:
        return vehicle_class in self.classes or vehicle_class in self.exempt_classes

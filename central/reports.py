"""Daily business report: revenue per lane, shift, guard and vehicle class; ticket statistics.

:func:`build_daily` is pure (events in, report out) so the arithmetic can be
tested without a database; :func:`load_daily` fetches the day's events, with
the day's bounds taken in the site's time zone (a "day" is the property's
business day, midnight to midnight local). Money stays integer minor units
to the last line of the CSV.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.db.models import Event
from edge.errors import GatepostError

REPORT_TYPES = (
    "payment_confirmed",
    "lost_ticket",
    "free_exit",
    "manual_raise",
    "vehicle_entered",
    "vehicle_exited",
    "ticket_issued",
    "badge_accepted",
    "incident_reported",
    "shift_closed",
    "entry_refused_full",
)


class ReportError(GatepostError, ValueError):
    """A report cannot be built for these inputs (unknown time zone, bad date)."""


@dataclass
class ShiftLine:
    shift_id: str
    guard: str
    post: str
    device: str
    opened_at: str
    closed_at: str
    fees_minor: int
    expected_cash_minor: int
    declared_cash_minor: int

    @property
    def variance_minor(self) -> int:
        return self.declared_cash_minor - self.expected_cash_minor


@dataclass
class DailyReport:
    site: str
    day: date
    tz: str
    currency: str = "CNY"
    revenue_minor: int = 0
    by_lane: dict[str, int] = field(default_factory=dict)
    by_guard: dict[str, int] = field(default_factory=dict)
    by_class: dict[str, int] = field(default_factory=dict)
    by_method: dict[str, int] = field(default_factory=dict)
    shifts: list[ShiftLine] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "day": self.day.isoformat(),
            "tz": self.tz,
            "currency": self.currency,
            "revenue_minor": self.revenue_minor,
            "by_lane": self.by_lane,
            "by_guard": self.by_guard,
            "by_class": self.by_class,
            "by_method": self.by_method,
            "shifts": [dict(vars(s), variance_minor=s.variance_minor) for s in self.shifts],
            "stats": self.stats,
        }


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportError(f"未知时区 / unknown time zone {tz!r}") from exc


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """UTC start and end of the local day (23 or 25 hours long on a DST change)."""
    z = zone(tz)
    start = datetime.combine(day, time.min, z)
    end = datetime.combine(day + timedelta(days=1), time.min, z)
    return start.astimezone(UTC), end.astimezone(UTC)


def build_daily(
    site: str, day: date, tz: str, events: Iterable[tuple[str, str, Mapping[str, Any]]]
) -> DailyReport:
    """Aggregate ``(device, type, data)`` triples of one site and day into the report."""
    report = DailyReport(site=site, day=day, tz=tz)
    by_lane: Counter[str] = Counter()
    by_guard: Counter[str] = Counter()
    by_class: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    stays: list[int] = []
    currencies: Counter[str] = Counter()
    for device, etype, data in events:
        counts[etype] += 1
        if etype == "payment_confirmed":
            fee = int(data.get("fee_minor") or 0)
            currencies[str(data.get("currency") or "CNY")] += 1
            by_lane[device] += fee
            by_guard[str(data.get("guard") or "—")] += fee
            by_class[str(data.get("vehicle_class") or "car")] += fee
            by_method[str(data.get("method") or "cash")] += fee
            report.revenue_minor += fee
            minutes = data.get("minutes")
            if isinstance(minutes, int) and minutes >= 0:
                stays.append(minutes)
            if fee == 0 and data.get("method") == "none":
                counts["grace_exit"] += 1
        elif etype == "manual_raise" and data.get("request_id"):
            counts["remote_raise"] += 1
        elif etype == "shift_closed":
            fees = data.get("fees_by_method") or {}
            report.shifts.append(
                ShiftLine(
                    shift_id=str(data.get("shift_id", "")),
                    guard=str(data.get("guard", "")),
                    post=str(data.get("post", "")),
                    device=device,
                    opened_at=str(data.get("opened_at", "")),
                    closed_at=str(data.get("closed_at", "")),
                    fees_minor=sum(int(v) for v in fees.values() if isinstance(v, int)),
                    expected_cash_minor=int(data.get("expected_cash_minor") or 0),
                    declared_cash_minor=int(data.get("declared_cash_minor") or 0),
                )
            )
        elif etype == "badge_accepted" and data.get("direction") == "out":
            counts["badge_exit"] += 1
    if currencies:
        report.currency = currencies.most_common(1)[0][0]
    report.by_lane = dict(sorted(by_lane.items()))
    report.by_guard = dict(sorted(by_guard.items()))
    report.by_class = dict(sorted(by_class.items()))
    report.by_method = dict(sorted(by_method.items()))
    report.shifts.sort(key=lambda s: s.closed_at)
    report.stats = {
        "entries": counts["vehicle_entered"],
        "exits": counts["vehicle_exited"],
        "tickets_issued": counts["ticket_issued"],
        "paid_exits": counts["payment_confirmed"],
        "average_stay_min": round(sum(stays) / len(stays)) if stays else None,
        "grace_exits": counts["grace_exit"],
        "lost_tickets": counts["lost_ticket"],
        "exemptions": counts["free_exit"],
        "badge_exits": counts["badge_exit"],
        "manual_raises": counts["manual_raise"],
        "remote_raises": counts["remote_raise"],
        "incidents": counts["incident_reported"],
        "refused_full": counts["entry_refused_full"],
    }
    return report


def load_daily(db: Session, site: str, day: date, tz: str) -> DailyReport:
    start, end = day_bounds(day, tz)
    rows = db.execute(
        select(Event.device, Event.type, Event.data)
        .where(Event.site == site, Event.ts >= start, Event.ts < end, Event.type.in_(REPORT_TYPES))
        .order_by(Event.ts)
    )
    return build_daily(site, day, tz, ((d, t, data or {}) for d, t, data in rows))


def money(minor: int, currency: str = "CNY") -> str:
    """Minor units as a decimal string, without floats (2 decimals: fen, cents)."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole}.{frac:02d}"


def to_csv(report: DailyReport) -> str:
    """One table a spreadsheet opens directly (UTF-8 with BOM for Excel's sake)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section 栏目", "key 项目", "value 数值", "currency 币种"])
    w.writerow(["site 车场", report.site, "", ""])
    w.writerow(["day 日期", report.day.isoformat(), report.tz, ""])
    w.writerow(["revenue 收入", "total 合计", money(report.revenue_minor), report.currency])
    for title, table in (
        ("lane 车道", report.by_lane),
        ("guard 岗亭人员", report.by_guard),
        ("vehicle class 车型", report.by_class),
        ("method 支付方式", report.by_method),
    ):
        for key, value in table.items():
            w.writerow([title, _safe(key), money(value), report.currency])
    for s in report.shifts:
        w.writerow(
            [
                "shift 班次",
                _safe(f"{s.shift_id} {s.guard} {s.post}"),
                money(s.fees_minor),
                report.currency,
            ]
        )
        w.writerow(
            [
                "shift cash expected 应收现金",
                _safe(s.shift_id),
                money(s.expected_cash_minor),
                report.currency,
            ]
        )
        w.writerow(
            [
                "shift cash declared 实收现金",
                _safe(s.shift_id),
                money(s.declared_cash_minor),
                report.currency,
            ]
        )
        w.writerow(
            ["shift variance 差额", _safe(s.shift_id), money(s.variance_minor), report.currency]
        )
    for key, value in report.stats.items():
        w.writerow(["stats 统计", key, "" if value is None else value, ""])
    return "\ufeff" + out.getvalue()


def _safe(text: str) -> str:
    """Defuse spreadsheet formula injection (a guard name like '=HYPERLINK(...)')."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

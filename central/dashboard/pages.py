"""Server-rendered pages: the sign-in page, the dashboard shell and the printable daily report.

Jinja2 with autoescaping on for every template, so a hostile guard name or
lane id is shown as text, never run. The dashboard's live data is filled in
by static/dashboard.js with ``textContent`` only.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from central.reports import DailyReport, money
from edge.wire import format_ts

_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).with_name("templates"))),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["money"] = money

STATS_LABELS: dict[str, tuple[str, str]] = {
    "entries": ("入场车辆", "Entries"),
    "exits": ("出场车辆", "Exits"),
    "tickets_issued": ("发卡数", "Tickets issued"),
    "paid_exits": ("收费出场", "Paid exits"),
    "average_stay_min": ("平均停车时长(分钟)", "Average stay (min)"),
    "grace_exits": ("免费时段内出场", "Grace-period exits"),
    "lost_tickets": ("遗失停车卡", "Lost tickets"),
    "exemptions": ("免费放行", "Exemptions"),
    "badge_exits": ("刷卡出场(住户/员工)", "Badge exits (residents/staff)"),
    "manual_raises": ("手动抬杆", "Manual raises"),
    "remote_raises": ("远程抬杆", "Remote raises"),
    "incidents": ("事件报告", "Incidents"),
    "refused_full": ("满位拒入", "Refused (lot full)"),
}


def render(name: str, **context: Any) -> str:
    return _env.get_template(name).render(**context)


def render_report(report: DailyReport, lang: str, *, printed_by: str, printed_at: datetime) -> str:
    zh = lang != "en"
    stats = [
        (STATS_LABELS.get(k, (k, k))[0 if zh else 1], "—" if v is None else v)
        for k, v in report.stats.items()
    ]
    return render(
        "report.html",
        r=report,
        zh=zh,
        lang="zh-CN" if zh else "en",
        stats=stats,
        printed_by=printed_by,
        printed_at=format_ts(printed_at),
    )

"""Daily report as JSON, CSV export (audited) and a printable page."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from central import audit, reports
from central.api.common import ERRORS, Day, check_id
from central.api.context import Ops
from central.auth.deps import client_of, get_db, get_ops, require
from central.auth.roles import Role
from central.auth.service import Principal
from central.dashboard.pages import render_report
from central.dashboard.router import SECURITY_HEADERS

router = APIRouter(tags=["reports"], responses=ERRORS)

AS_GUARD = require(Role.GUARD)
AS_SUPERVISOR_REPORT_EXPORT = require(Role.SUPERVISOR, "report.export")
AS_SUPERVISOR_REPORT_PRINT = require(Role.SUPERVISOR, "report.print")


def _day(day: Day | None, ops: Ops) -> date:
    if day is not None:
        return day
    return ops.clock().astimezone(reports.zone(ops.site_tz)).date()


def _load(db: Session, site: str, day: Day | None, ops: Ops) -> reports.DailyReport:
    check_id(site, "site")
    try:
        return reports.load_daily(db, site, _day(day, ops), ops.site_tz)
    except reports.ReportError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/api/reports/daily", response_model=dict[str, Any])
def daily(
    site: str = Query(..., max_length=48),
    day: Day | None = Query(None, description="local business day (YYYY-MM-DD); default today"),
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    return _load(db, site, day, ops).as_dict()


@router.get(
    "/api/reports/daily.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def daily_csv(
    request: Request,
    site: str = Query(..., max_length=48),
    day: Day | None = None,
    principal: Principal = Depends(AS_SUPERVISOR_REPORT_EXPORT),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Response:
    report = _load(db, site, day, ops)
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="report.export",
        target=f"{site} {report.day}",
        client=client_of(request),
        detail={"format": "csv"},
        at=ops.clock(),
    )
    db.commit()
    name = f"gatepost-{site}-{report.day.isoformat()}.csv"
    return Response(
        reports.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/reports/daily", response_class=HTMLResponse, responses={200: {"content": {"text/html": {}}}}
)
def daily_page(
    request: Request,
    site: str = Query(..., max_length=48),
    day: Day | None = None,
    lang: str = Query("zh-CN", pattern="^(zh-CN|en)$"),
    principal: Principal = Depends(AS_SUPERVISOR_REPORT_PRINT),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> HTMLResponse:
    report = _load(db, site, day, ops)
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="report.print",
        target=f"{site} {report.day}",
        client=client_of(request),
        detail={"format": "html"},
        at=ops.clock(),
    )
    db.commit()
    return HTMLResponse(
        render_report(report, lang, printed_by=principal.name, printed_at=ops.clock()),
        headers=SECURITY_HEADERS,
    )

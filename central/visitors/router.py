"""The visitor log's API and pages.

Guards (the desk) search visits, see who is on site, print the evacuation
list, check visitors out and create invites; supervisors also see photos,
export CSV, keep the block list and run the purge. Phones and ID numbers are
masked everywhere (:func:`central.visitors.service.visit_dict`).

The router's lifespan registers the dashboard's visitors-on-site count, the
host notifier (an ingest ``on_committed`` listener) and the nightly purge.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from central import audit
from central.api.common import ERRORS, Day, RowId, business_day, check_id
from central.api.context import Ops
from central.auth.deps import client_of, get_db, get_ops, optional_principal, require
from central.auth.roles import Role
from central.auth.service import Principal
from central.periodic import Every
from central.visitors import service
from central.visitors.models import Visit, VisitorBlock
from central.visitors.notify import HostNotifier
from central.visitors.settings import VisitorSettings
from edge.errors import ConfigError

log = logging.getLogger(__name__)

AS_GUARD = require(Role.GUARD)
AS_SUPERVISOR_PHOTO = require(Role.SUPERVISOR, "visitors.photo")
AS_SUPERVISOR_EXPORT = require(Role.SUPERVISOR, "visitors.export")
AS_SUPERVISOR_BLOCKS = require(Role.SUPERVISOR, "visitors.blocks")
AS_SUPERVISOR_PURGE = require(Role.SUPERVISOR, "visitors.purge")

HERE = Path(__file__).parent
_pages = Environment(
    loader=FileSystemLoader(str(HERE / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
CATEGORY_NAMES = {
    "guest": "访客 Guest",
    "official": "公务 Official",
    "home_buyer": "购房看房 Home buyer",
    "contractor": "施工/送货 Contractor",
}


def _settings(request: Request) -> VisitorSettings:
    settings = getattr(request.app.state, "visitor_settings", None)
    if settings is None:
        settings = VisitorSettings()
        request.app.state.visitor_settings = settings
    return settings


@asynccontextmanager
async def visitors_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the ops runtime's lifespan (this router is included after it)."""
    settings = getattr(app.state, "visitor_settings", None) or VisitorSettings()
    app.state.visitor_settings = settings
    app.state.visitor_count = lambda db, site: service.on_site_count(db, site)
    ops: Ops | None = getattr(app.state, "ops", None)
    notifier = purger = remove_hook = None
    if ops is not None:
        ops.visitor_count = app.state.visitor_count
        notifier = HostNotifier(ops, settings.visitor_webhook_url).start()
        hooks = getattr(app.state, "commit_hooks", None)
        remove_hook = hooks.add(notifier.on_committed) if hooks is not None else None
        purger = NightlyPurge(ops, settings).start()
    try:
        yield
    finally:
        if remove_hook is not None:
            remove_hook()
        if notifier is not None:
            notifier.stop()
        if purger is not None:
            purger.stop()


class NightlyPurge:
    """Runs :func:`service.purge` once a day at ``visitor_purge_hour`` (site-local)."""

    def __init__(self, ops: Ops, settings: VisitorSettings, *, check_every_s: float = 300) -> None:
        self.ops, self.settings = ops, settings
        self.zone = ZoneInfo(settings.site_tz)
        self._loop = Every(check_every_s, self.run_if_due, name="visitor-purge")
        self.last_day: date | None = None

    def start(self) -> NightlyPurge:
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()

    def due(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        return local.hour == self.settings.visitor_purge_hour and self.last_day != local.date()

    def run_if_due(self) -> None:
        """Purge once per site-local day at the purge hour; a failed purge is retried at the next check."""
        now = self.ops.clock()
        if not self.due(now):
            return
        with self.ops.sessions() as db:
            service.purge(db, now=now, retention_days=self.settings.visitor_retention_days)
            db.commit()
        self.last_day = now.astimezone(self.zone).date()


router = APIRouter(tags=["visitors"], lifespan=visitors_lifespan)


def _site(site: str | None) -> str | None:
    return check_id(site, "site") if site else None


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(_settings(request).site_tz)


# --------------------------------------------------------------------------- visits


@router.get("/api/visitors", responses=ERRORS)
def list_visits(
    request: Request,
    site: str | None = Query(None, max_length=48),
    name: str | None = Query(None, max_length=100),
    host: str | None = Query(None, max_length=100, description="host name or unit"),
    day: Day | None = Query(None, description="site-local date of check-in"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    """Search visits by name, host/unit and day; phone and pass numbers masked."""
    now = ops.clock()
    rows = service.search(
        db,
        site=_site(site),
        name=name,
        host=host,
        day=day,
        zone=_zone(request),
        limit=limit,
        offset=offset,
    )
    return {"items": [service.visit_dict(v, now) for v in rows], "limit": limit, "offset": offset}


@router.get("/api/visitors/on-site", responses=ERRORS)
def list_on_site(
    site: str | None = Query(None, max_length=48),
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    """Who is on site now, with minutes on site: the evacuation list."""
    now = ops.clock()
    rows = service.on_site(db, _site(site), now)
    return {
        "as_of": service.format_ts(now),
        "count": sum(v.party_size for v in rows),
        "items": [service.visit_dict(v, now) for v in rows],
    }


@router.get("/api/visitors/export.csv", response_class=Response, responses=ERRORS)
def export(
    request: Request,
    site: str | None = Query(None, max_length=48),
    day: Day | None = Query(None),
    principal: Principal = Depends(AS_SUPERVISOR_EXPORT),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Response:
    """CSV of visits (masked like the screens); audited."""
    now = ops.clock()
    rows = service.search(
        db,
        site=_site(site),
        name=None,
        host=None,
        day=day,
        zone=_zone(request),
        limit=100_000,
        offset=0,
    )
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="visitors.export",
        target=f"{site or '*'} {day or '*'}",
        client=client_of(request),
        at=now,
        detail={"rows": len(rows)},
    )
    db.commit()
    return Response(
        service.export_csv(rows, now),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="visitors.csv"'},
    )


@router.get("/api/visitors/stats", responses=ERRORS)
def stats(
    since: date,
    until: date,
    site: str | None = Query(None, max_length=48),
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    """Daily counts per category (kept after the purge)."""
    return {"items": service.daily(db, _site(site), since, until)}


@router.get("/api/visitors/{visit_id}/photo", response_class=Response, responses=ERRORS | {404: {}})
def photo(
    visit_id: str,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_PHOTO),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Response:
    """The visitor's photo: supervisors only, and every view is audited."""
    visit = db.get(Visit, visit_id[:64])
    if visit is None or visit.photo is None:
        raise HTTPException(404, "没有照片 / no photo")
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="visitors.photo",
        target=visit_id[:64],
        client=client_of(request),
        at=ops.clock(),
    )
    db.commit()
    return Response(visit.photo, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/api/visitors/{visit_id}/check-out", responses=ERRORS | {404: {}})
def desk_check_out(
    visit_id: str,
    request: Request,
    principal: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    """Check a visitor out at the desk (idempotent)."""
    now = ops.clock()
    visit = service.check_out_at_desk(
        db,
        visit_id[:64],
        by=principal.name,
        role=principal.role,
        now=now,
        client=client_of(request),
    )
    if visit is None:
        raise HTTPException(404, "没有此访客记录 / no such visit")
    db.commit()
    ops.hub.publish(
        "visitors", {"site": visit.site, "count": service.on_site_count(db, visit.site)}
    )
    return service.visit_dict(visit, now)


# --------------------------------------------------------------------------- block list


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(max_length=48)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, min_length=3, max_length=32, pattern=r"^\+?[0-9 -]+$")
    visit_id: str | None = Field(
        default=None, max_length=64, description="copy name and phone from this visit"
    )
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _names_someone(self) -> BlockIn:
        if not (self.name or self.phone or self.visit_id):
            raise ValueError("give a name, a phone or a visit_id")
        return self


@router.get("/api/visitors/blocks", responses=ERRORS)
def list_blocks(
    site: str = Query(max_length=48),
    _: Principal = Depends(AS_SUPERVISOR_BLOCKS),
    db: Session = Depends(get_db),
) -> dict[str, Any]:
    return {
        "items": [service.block_dict(b) for b in service.block_entries(db, check_id(site, "site"))]
    }


@router.post("/api/visitors/blocks", status_code=201, responses=ERRORS | {404: {}})
def add_block(
    body: BlockIn,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_BLOCKS),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    """Add to the site's block list and push it (retained) to the kiosks."""
    site = check_id(body.site, "site")
    name, phone = body.name, body.phone
    if body.visit_id:
        visit = db.get(Visit, body.visit_id)
        if visit is None or visit.site != site:
            raise HTTPException(404, "没有此访客记录 / no such visit at this site")
        name, phone = name or visit.name, phone or visit.phone
    now = ops.clock()
    entry = VisitorBlock(
        site=site,
        name=name,
        phone=phone,
        reason=body.reason,
        created_by=principal.name,
        created_at=now,
    )
    db.add(entry)
    db.flush()
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="visitors.block",
        target=site,
        reason=body.reason,
        client=client_of(request),
        at=now,
        detail={"id": entry.id},
    )
    db.commit()
    published = service.publish_blocklist(db, site, now, ops.publish)
    return service.block_dict(entry) | {"published": published}


@router.delete("/api/visitors/blocks/{block_id}", responses=ERRORS | {404: {}})
def remove_block(
    block_id: RowId,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_BLOCKS),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    entry = db.get(VisitorBlock, block_id)
    if entry is None:
        raise HTTPException(404, "没有此黑名单条目 / no such entry")
    now = ops.clock()
    db.delete(entry)
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="visitors.unblock",
        target=entry.site,
        client=client_of(request),
        at=now,
        detail={"id": block_id},
    )
    db.commit()
    return {
        "id": block_id,
        "published": service.publish_blocklist(db, entry.site, now, ops.publish),
    }


# --------------------------------------------------------------------------- invites and purge


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(max_length=48)
    day: Day = Field(description="the expected day (site-local); the QR is valid on that day only")
    name: str = Field(min_length=1, max_length=50)
    host: str | None = Field(default=None, max_length=50)
    unit: str | None = Field(default=None, max_length=32)
    category: Literal["guest", "official", "home_buyer", "contractor"] = "guest"


@router.post("/api/visitors/invites", status_code=201, responses=ERRORS | {503: {}})
def invite(
    body: InviteIn,
    request: Request,
    principal: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    """Pre-register a visitor; the answer's ``qr`` is the text of the signed invite QR, ``qr_svg`` its picture."""
    site = check_id(body.site, "site")
    now = ops.clock()
    if body.day < now.astimezone(_zone(request)).date():
        raise HTTPException(422, "预约日期已过 / the day is in the past")
    try:
        key = _settings(request).signing_key()
    except ConfigError as exc:
        log.error("invite refused: %s", exc)
        raise HTTPException(
            503, "邀请功能未配置 / invites are not configured on this server"
        ) from exc
    row, qr = service.create_invite(
        db,
        site=site,
        day=body.day,
        name=body.name,
        host=body.host,
        unit=body.unit,
        category=body.category,
        key=key,
        by=principal.name,
        role=principal.role,
        now=now,
    )
    db.commit()
    return {
        "invite_id": row.invite_id,
        "site": site,
        "day": body.day.isoformat(),
        "name": body.name,
        "qr": qr,
        "qr_svg": service.qr_svg(qr),
    }


@router.post("/api/visitors/purge", responses=ERRORS)
def purge_now(
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_PURGE),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, int]:
    """Run the retention purge now (it also runs nightly)."""
    counts = service.purge(
        db,
        now=ops.clock(),
        retention_days=_settings(request).visitor_retention_days,
        actor=principal.name,
        role=principal.role,
    )
    db.commit()
    return counts


# --------------------------------------------------------------------------- pages


def _page(name: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        _pages.get_template(name).render(categories=CATEGORY_NAMES, **context), headers=PAGE_HEADERS
    )


@router.get("/visitors", response_class=HTMLResponse, include_in_schema=False)
def visitors_page(
    request: Request,
    site: str | None = Query(None, max_length=48),
    name: str | None = Query(None, max_length=100),
    host: str | None = Query(None, max_length=100),
    day: str | None = Query(None, max_length=10),
    principal: Principal | None = Depends(optional_principal),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Response:
    if principal is None or principal.kind != "user":
        return RedirectResponse("/login?next=/visitors", status_code=303)
    now, zone = ops.clock(), _zone(request)
    try:
        the_day = business_day(date.fromisoformat(day)) if day else None
        site = _site(site)
    except (ValueError, HTTPException):
        return _page(
            "visitors.html",
            error="查询条件无效 / invalid search",
            visits=[],
            on_site=[],
            q={},
            supervisor=False,
            zone=zone,
            today=now.astimezone(zone).date().isoformat(),
        )
    visits = service.search(
        db, site=site, name=name, host=host, day=the_day, zone=zone, limit=200, offset=0
    )
    here = service.on_site(db, site, now)
    return _page(
        "visitors.html",
        error=None,
        q={"site": site or "", "name": name or "", "host": host or "", "day": day or ""},
        today=now.astimezone(zone).date().isoformat(),
        visits=[_local(service.visit_dict(v, now), zone) for v in visits],
        on_site=[_local(service.visit_dict(v, now), zone) for v in here],
        supervisor=principal.role in (Role.SUPERVISOR.value, Role.ADMIN.value),
        zone=zone,
    )


@router.get("/visitors/evacuation", response_class=HTMLResponse, include_in_schema=False)
def evacuation_page(
    request: Request,
    site: str | None = Query(None, max_length=48),
    principal: Principal | None = Depends(optional_principal),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Response:
    if principal is None or principal.kind != "user":
        return RedirectResponse("/login?next=/visitors/evacuation", status_code=303)
    now, zone = ops.clock(), _zone(request)
    try:
        site = _site(site)
    except HTTPException:
        site = None
    here = [_local(service.visit_dict(v, now), zone) for v in service.on_site(db, site, now)]
    return _page(
        "evacuation.html",
        site=site,
        on_site=here,
        people=sum(v["party_size"] for v in here),
        as_of=now.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
    )


STATIC_TYPES = {
    "visitors.css": "text/css; charset=utf-8",
    "visitors.js": "text/javascript; charset=utf-8",
}


@router.get("/static/visitors/{name}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    if name not in STATIC_TYPES:
        raise HTTPException(404, "not found")
    return FileResponse(
        HERE / "templates" / name,
        media_type=STATIC_TYPES[name],
        headers={"Cache-Control": "no-cache"},
    )


def _local(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    def fmt(ts: str | None) -> str:
        return datetime.fromisoformat(ts).astimezone(zone).strftime("%m-%d %H:%M") if ts else ""

    return row | {"in_local": fmt(row["checked_in_at"]), "out_local": fmt(row["checked_out_at"])}

"""The dashboard's pages, its static files, the SSE stream and the visitors-on-site hook."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from pydantic import BaseModel
from sqlalchemy.orm import Session

from central.api.common import ERRORS, check_id
from central.api.context import Ops
from central.auth.deps import get_db, get_ops, optional_principal, require
from central.auth.roles import Role
from central.auth.service import Principal
from central.dashboard.pages import render

router = APIRouter(tags=["dashboard"])

AS_GUARD = require(Role.GUARD)

STATIC = Path(__file__).with_name("static")
_STATIC_FILES = {p.name for p in STATIC.iterdir() if p.suffix in (".js", ".css", ".svg")}
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers=SECURITY_HEADERS | {"Cache-Control": "no-store"})


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page() -> HTMLResponse:
    return _page(render("login.html"))


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(principal: Principal | None = Depends(optional_principal)) -> Response:
    if principal is None or principal.kind != "user":
        return RedirectResponse("/login?next=/dashboard", status_code=303)
    return _page(render("dashboard.html"))


@router.get("/dashboard/shifts", response_class=HTMLResponse, include_in_schema=False)
def shifts_page(principal: Principal | None = Depends(optional_principal)) -> Response:
    """Shift reconciliation: expected, declared and variance of each closed shift (岗务交接)."""
    if principal is None or principal.kind != "user":
        return RedirectResponse("/login?next=/dashboard/shifts", status_code=303)
    return _page(render("shifts.html"))


@router.get("/static/dashboard/{name}", include_in_schema=False)
def static_file(name: str) -> FileResponse:
    if name not in _STATIC_FILES:
        raise HTTPException(404, "not found")
    path = STATIC / name
    return FileResponse(
        path,
        media_type=_TYPES[path.suffix],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/api/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    summary="Server-Sent Events: event, alarm, device, occupancy, visitors, command",
)
def live(
    request: Request, principal: Principal = Depends(AS_GUARD), ops: Ops = Depends(get_ops)
) -> StreamingResponse:
    return StreamingResponse(
        ops.hub.stream(
            hello={"user": principal.name, "role": principal.role},
            last_event_id=request.headers.get("last-event-id"),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class VisitorCount(BaseModel):
    site: str | None
    count: int | None
    """null until the visitor log (central.visitors) registers ``Ops.visitor_count``."""


@router.get("/api/visitors/on-site-count", response_model=VisitorCount, responses=ERRORS)
def visitors_on_site(
    site: str | None = Query(None, max_length=48),
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> VisitorCount:
    if site:
        check_id(site, "site")
    if ops.visitor_count is None:
        return VisitorCount(site=site, count=None)
    return VisitorCount(site=site, count=ops.visitor_count(db, site))

"""Guards on duty and closed shifts with their cash reconciliation (expected, declared, variance)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.api.common import ERRORS, Limit, check_id, ts, utc
from central.api.context import Ops
from central.auth.deps import get_db, get_ops, require
from central.auth.roles import Role
from central.auth.service import Principal
from central.db.models import Event

router = APIRouter(prefix="/api/shifts", tags=["shifts"], responses=ERRORS)

AS_GUARD = require(Role.GUARD)

ON_DUTY_LOOKBACK = timedelta(hours=36)


def on_duty(
    events: Iterable[tuple[str, str, str, dict[str, Any], datetime]],
) -> list[dict[str, Any]]:
    """Who is signed on at each post, from sign-on/off events in time order (pure)."""
    posts: dict[tuple[str, str], dict[str, Any]] = {}
    for site, device, etype, data, at in events:
        key = (site, str(data.get("post") or device))
        if etype == "guard_signed_on":
            posts[key] = {
                "site": site,
                "post": key[1],
                "device": device,
                "guard": data.get("guard"),
                "shift_id": data.get("shift_id"),
                "since": ts(at),
            }
        elif (
            etype in ("guard_signed_off", "shift_closed")
            and key in posts
            and posts[key]["guard"] == data.get("guard")
        ):
            del posts[key]
    return sorted(posts.values(), key=lambda p: (p["site"], p["post"]))


class OnDuty(BaseModel):
    items: list[dict[str, Any]]


@router.get("/on-duty", response_model=OnDuty)
def guards_on_duty(
    site: str | None = None,
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> OnDuty:
    return OnDuty(items=load_on_duty(db, ops.clock(), check_id(site, "site") if site else None))


def load_on_duty(db: Session, now: datetime, site: str | None = None) -> list[dict[str, Any]]:
    query = select(Event.site, Event.device, Event.type, Event.data, Event.ts).where(
        Event.type.in_(("guard_signed_on", "guard_signed_off", "shift_closed")),
        Event.ts >= now - ON_DUTY_LOOKBACK,
    )
    if site:
        query = query.where(Event.site == site)
    return on_duty(
        (s, d, t, data or {}, at)
        for s, d, t, data, at in db.execute(query.order_by(Event.ts, Event.seq))
    )


class Shifts(BaseModel):
    items: list[dict[str, Any]]


@router.get("", response_model=Shifts)
def closed_shifts(
    site: str | None = None,
    since: datetime | None = Query(None, description="closed at ≥ (UTC); default: last 7 days"),
    limit: Limit = 100,
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Shifts:
    query = select(Event).where(
        Event.type == "shift_closed", Event.ts >= (utc(since) or ops.clock() - timedelta(days=7))
    )
    if site:
        query = query.where(Event.site == check_id(site, "site"))
    items = []
    for ev in db.scalars(query.order_by(Event.ts.desc()).limit(limit)):
        d = ev.data or {}
        expected = int(d.get("expected_cash_minor") or 0)
        declared = int(d.get("declared_cash_minor") or 0)
        items.append(
            {
                "site": ev.site,
                "device": ev.device,
                "shift_id": d.get("shift_id"),
                "guard": d.get("guard"),
                "incoming_guard": d.get("incoming_guard"),
                "post": d.get("post"),
                "opened_at": d.get("opened_at"),
                "closed_at": d.get("closed_at"),
                "counts": d.get("counts", {}),
                "fees_by_method": d.get("fees_by_method", {}),
                "currency": d.get("currency"),
                "expected_cash_minor": expected,
                "declared_cash_minor": declared,
                "variance_minor": declared - expected,
            }
        )
    return Shifts(items=items)

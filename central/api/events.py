"""The event record: filter by site, device, type and time; newest first; paged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.api.common import ERRORS, Limit, Offset, PageOf, check_id, page, ts, utc
from central.auth.deps import get_db, require
from central.auth.roles import Role
from central.db.models import Event, Quarantined
from edge.wire import EventType

router = APIRouter(prefix="/api/events", tags=["events"], responses=ERRORS)
quarantine_router = APIRouter(prefix="/api/quarantine", tags=["events"], responses=ERRORS)

AS_GUARD = require(Role.GUARD)
AS_SUPERVISOR_QUARANTINE_READ = require(Role.SUPERVISOR, "quarantine.read")


def event_dict(row: Event) -> dict[str, Any]:
    return {
        "id": row.id,
        "site": row.site,
        "device": row.device,
        "seq": row.seq,
        "type": row.type,
        "ts": ts(row.ts),
        "received_at": ts(row.received_at),
        "data": row.data,
    }


@router.get("", response_model=PageOf)
def list_events(
    site: str | None = Query(None, max_length=48),
    device: str | None = Query(None, max_length=48),
    type: list[EventType] | None = Query(None, description="one or more event types"),
    since: datetime | None = Query(None, description="device time ≥ (UTC)"),
    until: datetime | None = Query(None, description="device time < (UTC)"),
    limit: Limit = 100,
    offset: Offset = 0,
    _: Any = Depends(AS_GUARD),
    db: Session = Depends(get_db),
) -> PageOf:
    query = select(Event)
    if site:
        query = query.where(Event.site == check_id(site, "site"))
    if device:
        query = query.where(Event.device == check_id(device, "device"))
    if type:
        query = query.where(Event.type.in_([t.value for t in type]))
    if since:
        query = query.where(Event.ts >= utc(since))
    if until:
        query = query.where(Event.ts < utc(until))
    rows = list(
        db.scalars(
            query.order_by(Event.ts.desc(), Event.seq.desc(), Event.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
    )
    return page([event_dict(r) for r in rows[:limit]], limit, offset, len(rows) > limit)


@quarantine_router.get("", response_model=PageOf)
def list_quarantine(
    since: datetime | None = Query(None, description="received at ≥ (UTC)"),
    limit: Limit = 100,
    offset: Offset = 0,
    _: Any = Depends(AS_SUPERVISOR_QUARANTINE_READ),
    db: Session = Depends(get_db),
) -> PageOf:
    """Messages that broke the wire contract, with the reason (never dropped silently)."""
    query = select(Quarantined)
    if since:
        query = query.where(Quarantined.received_at >= utc(since))
    rows = list(
        db.scalars(
            query.order_by(Quarantined.received_at.desc(), Quarantined.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
    )
    items = [
        {
            "id": q.id,
            "topic": q.topic,
            "reason": q.reason,
            "size": q.size,
            "received_at": ts(q.received_at),
            "preview": q.preview[:500],
        }
        for q in rows[:limit]
    ]
    return page(items, limit, offset, len(rows) > limit)

"""Ticket lifecycle: issued → exited (or lost, exempted), with stay, fee and how it was paid."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.api.common import ERRORS, Limit, Offset, PageOf, check_id, page, ts, utc
from central.auth.deps import get_db, require
from central.auth.roles import Role
from central.auth.service import Principal
from central.db.models import Ticket

router = APIRouter(prefix="/api/tickets", tags=["tickets"], responses=ERRORS)

AS_GUARD = require(Role.GUARD)


def ticket_dict(t: Ticket) -> dict[str, Any]:
    return {
        "serial": t.serial,
        "site": t.site,
        "status": t.status,
        "entry_device": t.entry_device,
        "entry_at": ts(t.entry_at),
        "exit_device": t.exit_device,
        "exit_at": ts(t.exit_at),
        "minutes": t.minutes,
        "fee_minor": t.fee_minor,
        "currency": t.currency,
        "payment_method": t.payment_method,
        "vehicle_class": t.vehicle_class,
    }


@router.get("", response_model=PageOf)
def list_tickets(
    site: str | None = Query(None, max_length=48),
    status: str | None = Query(None, max_length=16),
    since: datetime | None = Query(None, description="entry time ≥ (UTC)"),
    until: datetime | None = Query(None, description="entry time < (UTC)"),
    limit: Limit = 100,
    offset: Offset = 0,
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
) -> PageOf:
    query = select(Ticket)
    if site:
        query = query.where(Ticket.site == check_id(site, "site"))
    if status:
        query = query.where(Ticket.status == status)
    if since:
        query = query.where(Ticket.entry_at >= utc(since))
    if until:
        query = query.where(Ticket.entry_at < utc(until))
    rows = list(
        db.scalars(
            query.order_by(Ticket.entry_at.desc(), Ticket.serial).limit(limit + 1).offset(offset)
        )
    )
    return page([ticket_dict(t) for t in rows[:limit]], limit, offset, len(rows) > limit)


@router.get("/{serial}", response_model=dict[str, Any], responses={404: {}})
def get_ticket(
    serial: str, _: Principal = Depends(AS_GUARD), db: Session = Depends(get_db)
) -> dict[str, Any]:
    row = db.get(Ticket, serial[:32])
    if row is None:
        raise HTTPException(404, "停车卡不存在 / no such ticket")
    return ticket_dict(row)

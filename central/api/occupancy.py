"""Occupancy now and over the last hours (the dashboard's 24-hour chart)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.api.common import ERRORS, check_id, ts
from central.api.context import Ops
from central.auth.deps import get_db, get_ops, require
from central.auth.roles import Role
from central.auth.service import Principal
from central.db.models import OccupancySample, SiteOccupancy

router = APIRouter(prefix="/api/occupancy", tags=["occupancy"], responses=ERRORS)

AS_GUARD = require(Role.GUARD)


class OccupancyNow(BaseModel):
    items: list[dict[str, Any]]


@router.get("", response_model=OccupancyNow)
def current(_: Principal = Depends(AS_GUARD), db: Session = Depends(get_db)) -> OccupancyNow:
    rows = db.scalars(select(SiteOccupancy).order_by(SiteOccupancy.site))
    return OccupancyNow(
        items=[
            {
                "site": r.site,
                "occupied": r.occupied,
                "capacity": r.capacity,
                "reserved": r.reserved,
                "updated_at": ts(r.updated_at),
            }
            for r in rows
        ]
    )


class Point(BaseModel):
    at: str
    occupied: int


class History(BaseModel):
    site: str
    capacity: int | None
    points: list[Point]


@router.get("/{site}/history", response_model=History)
def history(
    site: str,
    hours: Annotated[int, Query(ge=1, le=24 * 8)] = 24,
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> History:
    check_id(site, "site")
    since = ops.clock() - timedelta(hours=hours)
    rows = db.scalars(
        select(OccupancySample)
        .where(OccupancySample.site == site, OccupancySample.at >= since)
        .order_by(OccupancySample.at)
        .limit(20_000)
    )
    occ = db.get(SiteOccupancy, site)
    points = [Point(at=ts(r.at) or "", occupied=r.occupied) for r in rows]
    return History(site=site, capacity=occ.capacity if occ else None, points=points)

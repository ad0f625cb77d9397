"""Sites and their pushed configuration: capacity, whitelist, tariff (supervisor, audited).

A push writes the audit line and the record first, then publishes the
retained ``gatepost/v1/{site}/config/{kind}`` document. ``version`` is the
push time in milliseconds (:func:`edge.wire.config_version`), so it only grows,
even across a database restore, and a lane ignores an older copy.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.api.common import ERRORS, check_id, ts
from central.api.context import Ops
from central.auth.deps import client_of, get_db, get_ops, require
from central.auth.roles import Role
from central.auth.service import Principal
from central.db.models import Device, Site, SiteOccupancy
from edge.wire import (
    Capacity,
    ConfigKind,
    SiteConfig,
    Whitelist,
    WhitelistEntry,
    config_topic,
    config_version,
    format_ts,
)

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/sites", tags=["sites"], responses=ERRORS)

AS_GUARD = require(Role.GUARD)
AS_SUPERVISOR_CONFIG_CAPACITY = require(Role.SUPERVISOR, "config.capacity")
AS_SUPERVISOR_CONFIG_TARIFF = require(Role.SUPERVISOR, "config.tariff")
AS_SUPERVISOR_CONFIG_WHITELIST = require(Role.SUPERVISOR, "config.whitelist")


def site_dict(site: str, row: Site | None, occ: SiteOccupancy | None, lanes: int) -> dict[str, Any]:
    capacity = occ.capacity if occ and occ.capacity is not None else (row.capacity if row else None)
    return {
        "site": site,
        "name": row.name if row else "",
        "capacity": capacity,
        "reserved": (occ.reserved if occ else None) or (row.reserved if row else 0) or 0,
        "occupied": occ.occupied if occ else None,
        "free": (max(0, capacity - occ.occupied) if occ and capacity is not None else None),
        "updated_at": ts(occ.updated_at) if occ else None,
        "devices": lanes,
    }


class SiteList(BaseModel):
    items: list[dict[str, Any]]


@router.get("", response_model=SiteList)
def list_sites(_: Principal = Depends(AS_GUARD), db: Session = Depends(get_db)) -> SiteList:
    sites = {r.id: r for r in db.scalars(select(Site))}
    occ = {r.site: r for r in db.scalars(select(SiteOccupancy))}
    counts: dict[str, int] = {}
    for dev in db.scalars(select(Device)):
        counts[dev.site] = counts.get(dev.site, 0) + 1
    ids = sorted(set(sites) | set(occ) | set(counts))
    return SiteList(items=[site_dict(s, sites.get(s), occ.get(s), counts.get(s, 0)) for s in ids])


class CapacityIn(Capacity):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class WhitelistIn(Whitelist):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class TariffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tariff: dict[str, Any] = Field(
        description="the tariff document, as the lanes' tariff model reads it"
    )
    reason: str = Field(min_length=1, max_length=500)


class Pushed(BaseModel):
    site: str
    kind: str
    version: int
    published: bool


def _push(ops: Ops, site: str, kind: ConfigKind, data: dict[str, Any]) -> tuple[int, bool]:
    now = ops.clock()
    version = config_version(now)
    doc = SiteConfig(kind=kind, version=version, ts=format_ts(now), data=data)
    if ops.publish is None:
        return version, False
    try:
        ops.publish(config_topic(site, kind.value), doc.model_dump_json().encode(), 1, True)
    except Exception as exc:  # noqa: BLE001 - reported to the caller
        log.error("config %s for %s not published: %s", kind, site, exc)
        return version, False
    return version, True


@router.put("/{site}/capacity", response_model=Pushed, responses={503: {}})
def set_capacity(
    site: str,
    body: CapacityIn,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_CONFIG_CAPACITY),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Pushed:
    check_id(site, "site")
    if body.reserved > body.capacity:
        raise HTTPException(422, "保留车位不能多于总车位 / reserved spaces cannot exceed capacity")
    now = ops.clock()
    row = db.get(Site, site) or Site(id=site, name="")
    row.capacity, row.reserved = body.capacity, body.reserved
    db.add(row)
    occ = db.get(SiteOccupancy, site)
    if occ is not None:
        occ.capacity, occ.reserved, occ.updated_at = body.capacity, body.reserved, now
        occ.version = config_version(now, occ.version)
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="config.capacity",
        target=site,
        reason=body.reason,
        client=client_of(request),
        detail={"capacity": body.capacity, "reserved": body.reserved},
        at=now,
    )
    db.commit()
    version, ok = _push(
        ops,
        site,
        ConfigKind.CAPACITY,
        Capacity(capacity=body.capacity, reserved=body.reserved).model_dump(),
    )
    if not ok:
        raise HTTPException(
            503, "已保存,但未能发布到车道 / saved, but not published to the lanes (no broker)"
        )
    return Pushed(site=site, kind="capacity", version=version, published=ok)


@router.put("/{site}/whitelist", response_model=Pushed, responses={503: {}})
def push_whitelist(
    site: str,
    body: WhitelistIn,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_CONFIG_WHITELIST),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Pushed:
    check_id(site, "site")
    entries: list[WhitelistEntry] = list(body.entries)
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="config.whitelist",
        target=site,
        reason=body.reason,
        client=client_of(request),
        detail={"entries": len(entries)},
        at=ops.clock(),
    )
    db.commit()
    version, ok = _push(ops, site, ConfigKind.WHITELIST, Whitelist(entries=entries).model_dump())
    if not ok:
        raise HTTPException(503, "未能发布到车道 / not published to the lanes (no broker)")
    return Pushed(site=site, kind="whitelist", version=version, published=ok)


@router.put("/{site}/tariff", response_model=Pushed, responses={503: {}})
def push_tariff(
    site: str,
    body: TariffIn,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_CONFIG_TARIFF),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Pushed:
    """The lanes validate the tariff with their own model and keep the old one if it is invalid."""
    check_id(site, "site")
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action="config.tariff",
        target=site,
        reason=body.reason,
        client=client_of(request),
        detail={"keys": sorted(body.tariff)[:20]},
        at=ops.clock(),
    )
    db.commit()
    version, ok = _push(ops, site, ConfigKind.TARIFF, body.tariff)
    if not ok:
        raise HTTPException(503, "未能发布到车道 / not published to the lanes (no broker)")
    return Pushed(site=site, kind="tariff", version=version, published=ok)

"""Devices: availability (status + Last Will), last health, active alarms; and remote commands.

``GET /api/devices/self`` is the one route for a machine's bearer token: a lane
or kiosk (or the installer at its Pi, with its token) asks what central knows
of it — the commissioning check that needs no person's login.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from central import commands
from central.alarms.models import Alarm
from central.api.common import ERRORS, check_id, ts
from central.api.context import Ops
from central.auth.deps import client_of, get_db, get_ops, require, require_machine
from central.auth.roles import Role
from central.auth.service import Principal
from central.db.models import Device, Event
from edge.wire import CommandName, cmd_topic

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/devices", tags=["devices"], responses=ERRORS)
commands_router = APIRouter(prefix="/api/commands", tags=["commands"], responses=ERRORS)

AS_GUARD = require(Role.GUARD)
AS_SUPERVISOR_COMMAND = require(Role.SUPERVISOR, "command")


def device_dict(row: Device, alarms: list[str], last_event: Event | None = None) -> dict[str, Any]:
    health = row.health or {}
    return {
        "site": row.site,
        "device": row.device,
        "role": row.role or health.get("role"),
        "online": bool(row.online),
        "last_seen": ts(row.last_seen),
        "last_seq": row.last_seq,
        "health": health,
        "barrier": health.get("barrier"),
        "outbox_depth": health.get("outbox_depth"),
        "clock_skew_ms": health.get("clock_skew_ms"),
        "clock_synced": health.get("clock_synced"),
        "readers": health.get("readers", {}),
        "guard_on_duty": health.get("guard_on_duty"),
        "storage": health.get("storage"),
        "storage_since": health.get("storage_since"),
        "active_alarms": alarms,
        "last_event": (
            {"type": last_event.type, "ts": ts(last_event.ts), "seq": last_event.seq}
            if last_event is not None
            else None
        ),
    }


def all_devices(db: Session, site: str | None = None) -> list[dict[str, Any]]:
    query = select(Device)
    if site:
        query = query.where(Device.site == site)
    return _dicts(db, list(db.scalars(query.order_by(Device.site, Device.device))))


def device_dicts(db: Session, keys: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Tiles for just these devices (the live feed's refresh after a status or health change)."""
    rows = [row for key in sorted(keys) if (row := db.get(Device, key)) is not None]
    return _dicts(db, rows)


def _dicts(db: Session, rows: list[Device]) -> list[dict[str, Any]]:
    alarms: dict[tuple[str, str], list[str]] = {}
    for a in db.scalars(select(Alarm).where(Alarm.active_key.is_not(None))):
        alarms.setdefault((a.site, a.device), []).append(a.kind)
    out = []
    for row in rows:
        last = db.scalar(
            select(Event)
            .where(Event.site == row.site, Event.device == row.device, Event.seq == row.last_seq)
            .limit(1)
        )
        out.append(device_dict(row, alarms.get((row.site, row.device), []), last))
    return out


class DeviceList(BaseModel):
    items: list[dict[str, Any]]


@router.get("", response_model=DeviceList)
def list_devices(
    site: str | None = None, _: Principal = Depends(AS_GUARD), db: Session = Depends(get_db)
) -> DeviceList:
    return DeviceList(items=all_devices(db, check_id(site, "site") if site else None))


@router.get("/self", response_model=dict[str, Any])
def this_device(
    principal: Principal = Depends(require_machine),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    """What central knows of the calling lane or kiosk, named by its token; ``known`` is false until
    its first message has arrived over MQTT."""
    assert principal.site is not None and principal.device is not None  # require_machine checked
    row = db.get(Device, (principal.site, principal.device))
    found = (
        next((d for d in all_devices(db, principal.site) if d["device"] == principal.device), None)
        if row
        else None
    )
    return {
        "site": principal.site,
        "device": principal.device,
        "token_kind": principal.kind,
        "central_time": ts(ops.clock()),
        "known": found is not None,
    } | (found or {})


@router.get("/{site}/{device}", response_model=dict[str, Any], responses={404: {}})
def get_device(
    site: str, device: str, _: Principal = Depends(AS_GUARD), db: Session = Depends(get_db)
) -> dict[str, Any]:
    row = db.get(Device, (check_id(site, "site"), check_id(device, "device")))
    if row is None:
        raise HTTPException(404, f"设备不存在 / no device {site}/{device}")
    return next(d for d in all_devices(db, site) if d["device"] == device)


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="why: lands in the audit log (and in the lane's event)",
    )
    args: dict[str, Any] = Field(default_factory=dict)


class CommandOut(BaseModel):
    id: str
    site: str
    device: str
    name: str
    status: str
    issued_at: str
    expires_at: str
    detail: str = ""


@router.post(
    "/{site}/{device}/commands/{name}",
    response_model=CommandOut,
    status_code=202,
    responses={404: {}, 503: {}},
)
def send_command(
    site: str,
    device: str,
    name: CommandName,
    body: CommandIn,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_COMMAND),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> CommandOut:
    """Send a command to one device (supervisor). Recorded and audited before it is published."""
    check_id(site, "site")
    check_id(device, "device")
    if db.get(Device, (site, device)) is None:
        raise HTTPException(404, f"设备不存在 / no device {site}/{device}")
    args = dict(body.args)
    if name == CommandName.RAISE:
        args.setdefault("reason", body.reason)
    if name == CommandName.CORRECT_OCCUPANCY:
        args.setdefault("reason", body.reason)
    now = ops.clock()
    try:
        command = commands.build(site, device, name.value, args, by=principal.name, now=now)
    except commands.CommandError as exc:
        raise HTTPException(422, str(exc)) from exc
    row = commands.record(
        db,
        site,
        device,
        command,
        reason=body.reason,
        by_role=principal.role,
        now=now,
        client=client_of(request),
    )
    db.commit()
    detail = ""
    if ops.publish is None:
        row.status, detail = "not_sent", "no broker connection"
    else:
        try:
            ops.publish(
                cmd_topic(site, device, name.value), command.model_dump_json().encode(), 1, False
            )
        except Exception as exc:  # noqa: BLE001 - any broker failure is reported, not raised
            log.error("command %s to %s/%s not published: %s", command.id, site, device, exc)
            row.status, detail = "not_sent", str(exc)[:200]
    if row.status == "not_sent":
        row.result_detail = detail
        db.commit()
        raise HTTPException(503, f"命令未能发送 / command not sent: {detail}")
    ops.hub.publish("command", commands.as_dict(row))
    return CommandOut(
        id=row.id,
        site=site,
        device=device,
        name=row.name,
        status=row.status,
        issued_at=ts(row.issued_at) or "",
        expires_at=ts(row.expires_at) or "",
    )


class CommandList(BaseModel):
    items: list[dict[str, Any]]


@commands_router.get("", response_model=CommandList)
def recent_commands(
    site: str | None = None, _: Principal = Depends(AS_GUARD), db: Session = Depends(get_db)
) -> CommandList:
    return CommandList(
        items=[
            commands.as_dict(r)
            for r in commands.recent(db, site=check_id(site, "site") if site else None)
        ]
    )


@commands_router.get("/{request_id}", response_model=dict[str, Any], responses={404: {}})
def get_command(
    request_id: str, _: Principal = Depends(AS_GUARD), db: Session = Depends(get_db)
) -> dict[str, Any]:
    row = db.get(commands.RemoteCommand, request_id[:64])
    if row is None:
        raise HTTPException(404, "没有该命令 / no such command")
    return commands.as_dict(row)

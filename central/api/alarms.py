"""Alarms: list; acknowledge and clear (supervisor, audited)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from central.alarms import store
from central.alarms.kinds import AlarmKind
from central.api.common import ERRORS, Limit, Offset, PageOf, RowId, check_id, page
from central.api.context import Ops
from central.auth.deps import client_of, get_db, get_ops, require
from central.auth.roles import Role
from central.auth.service import Principal

AlarmId = RowId

router = APIRouter(prefix="/api/alarms", tags=["alarms"], responses=ERRORS)

AS_GUARD = require(Role.GUARD)
AS_SUPERVISOR_ALARM_ACKNOWLEDGE = require(Role.SUPERVISOR, "alarm.acknowledge")
AS_SUPERVISOR_ALARM_CLEAR = require(Role.SUPERVISOR, "alarm.clear")


@router.get("", response_model=PageOf)
def list_alarms(
    state: Literal["active", "active_unacknowledged", "active_acknowledged", "cleared"]
    | None = None,
    site: str | None = None,
    kind: AlarmKind | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    _: Principal = Depends(AS_GUARD),
    db: Session = Depends(get_db),
) -> PageOf:
    rows = store.listing(
        db,
        state=state,
        site=check_id(site, "site") if site else None,
        kind=kind.value if kind else None,
        limit=limit + 1,
        offset=offset,
    )
    return page([store.as_dict(a) for a in rows[:limit]], limit, offset, len(rows) > limit)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)


class ClearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


def _act(
    fn: Any,
    alarm_id: int,
    text: dict[str, str],
    request: Request,
    principal: Principal,
    db: Session,
    ops: Ops,
) -> dict[str, Any]:
    try:
        alarm = fn(
            db,
            alarm_id,
            by=principal.name,
            by_role=principal.role,
            now=ops.clock(),
            client=client_of(request),
            **text,
        )
    except store.AlarmError as exc:
        raise HTTPException(409 if "cleared" in str(exc) else 404, str(exc)) from exc
    db.commit()
    out = store.as_dict(alarm)
    ops.hub.publish("alarm", out)
    return out


@router.post("/{alarm_id}/ack", response_model=dict[str, Any], responses={404: {}, 409: {}})
def acknowledge(
    alarm_id: AlarmId,
    body: AckIn,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_ALARM_ACKNOWLEDGE),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    return _act(store.acknowledge, alarm_id, {"note": body.note}, request, principal, db, ops)


@router.post("/{alarm_id}/clear", response_model=dict[str, Any], responses={404: {}, 409: {}})
def clear(
    alarm_id: AlarmId,
    body: ClearIn,
    request: Request,
    principal: Principal = Depends(AS_SUPERVISOR_ALARM_CLEAR),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    return _act(store.clear, alarm_id, {"reason": body.reason}, request, principal, db, ops)

"""Reading the audit log (supervisor and admin)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from central import audit
from central.api.common import ERRORS, Limit, Offset, PageOf, page, utc
from central.auth.deps import get_db, require
from central.auth.roles import Role
from central.auth.service import Principal

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=ERRORS)

AS_SUPERVISOR_AUDIT_READ = require(Role.SUPERVISOR, "audit.read")


@router.get("", response_model=PageOf)
def list_audit(
    actor: str | None = Query(None, max_length=64),
    action: str | None = Query(None, max_length=64),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
    _: Principal = Depends(AS_SUPERVISOR_AUDIT_READ),
    db: Session = Depends(get_db),
) -> PageOf:
    rows = audit.entries(
        db,
        actor=actor,
        action=action,
        since=utc(since),
        until=utc(until),
        limit=limit + 1,
        offset=offset,
    )
    return page([audit.as_dict(e) for e in rows[:limit]], limit, offset, len(rows) > limit)

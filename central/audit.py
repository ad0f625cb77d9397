"""The audit log: who did what, when, to what, and why.

Every privileged action on central — remote raise, capacity change, tariff or
whitelist push, alarm acknowledgement or clearing, user changes, report
exports, sign-ins — calls :func:`record` inside the same database transaction
as the action itself, so an action without its audit line cannot commit.
Refused attempts are recorded too (``outcome="denied"``): a guard trying a
supervisor's button is worth knowing about.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central.db.base import Base
from central.db.types import JSONDoc, UTCDateTime
from edge.wire import format_ts, utc_now

log = logging.getLogger(__name__)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    actor_role: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    outcome: Mapped[str] = mapped_column(String(16), nullable=False, default="ok")
    client: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False, default=dict)


def record(
    db: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    reason: str = "",
    actor_role: str = "",
    outcome: str = "ok",
    client: str = "",
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an audit line to ``db``'s transaction (the caller commits) and log it."""
    entry = AuditEntry(
        at=at or utc_now(),
        actor=actor[:64],
        actor_role=actor_role[:16],
        action=action[:64],
        target=target[:200],
        reason=reason[:500],
        outcome=outcome[:16],
        client=client[:64],
        detail=detail or {},
    )
    db.add(entry)
    log.info(
        "audit %s %s by %s: %s",
        action,
        outcome,
        actor,
        target,
        extra={"audit_action": action, "actor": actor, "target": target, "outcome": outcome},
    )
    return entry


def entries(
    db: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEntry]:
    """Newest first, filtered."""
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    return list(db.scalars(query))


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": format_ts(entry.at),
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "target": entry.target,
        "reason": entry.reason,
        "outcome": entry.outcome,
        "client": entry.client,
        "detail": entry.detail,
    }

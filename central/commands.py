"""Remote commands from central to a device: issue, publish, track the answer.

A command is recorded (with its audit line) in the same transaction before it
is published, so a raise that reached a lane always has a record. It carries
a request id and an expiry and is published QoS 1 and never retained
(DESIGN §6: a replayed or retained command must not open a gate). The lane's
``cmd_result`` updates the record.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from central import audit
from central.db.base import Base
from central.db.types import JSONDoc, UTCDateTime
from edge.errors import GatepostError
from edge.wire import (
    COMMAND_ARGS,
    Command,
    CommandName,
    CommandResult,
    check_id,
    format_ts,
    parse_ts,
    uuid7,
)

log = logging.getLogger(__name__)

COMMAND_TTL = timedelta(seconds=30)
"""A remote raise that has not reached the lane in 30 s must not happen later."""


class CommandError(GatepostError, ValueError):
    """A command that cannot be sent (unknown name, bad args, unknown device)."""


class RemoteCommand(Base):
    __tablename__ = "remote_commands"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(48), nullable=False)
    device: Mapped[str] = mapped_column(String(48), nullable=False)
    name: Mapped[str] = mapped_column(String(32), nullable=False)
    args: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False, default=dict)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="sent")
    result_detail: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    result_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


def build(
    site: str,
    device: str,
    name: str,
    args: dict[str, Any],
    *,
    by: str,
    now: datetime,
    ttl: timedelta = COMMAND_TTL,
) -> Command:
    """A validated :class:`edge.wire.Command`; raises :class:`CommandError` with the reason."""
    try:
        check_id(site, "site")
        check_id(device, "device")
        cmd_name = CommandName(name)
    except (GatepostError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    model = COMMAND_ARGS[cmd_name]
    try:
        clean = model.model_validate(args).model_dump() if model else {}
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CommandError(
            f"{name} 参数无效 / invalid args: {'.'.join(map(str, err['loc']))}: {err['msg']}"
        ) from exc
    if model is None and args:
        raise CommandError(f"{name} takes no args")
    return Command(
        id=uuid7(),
        name=cmd_name,
        issued_at=format_ts(now),
        expires_at=format_ts(now + ttl),
        by=by,
        args=clean,
    )


def record(
    db: Session,
    site: str,
    device: str,
    command: Command,
    *,
    reason: str,
    by_role: str,
    now: datetime,
    client: str = "",
) -> RemoteCommand:
    row = RemoteCommand(
        id=command.id,
        site=site,
        device=device,
        name=command.name.value,
        args=dict(command.args),
        by=command.by,
        reason=reason[:500],
        issued_at=now,
        expires_at=parse_ts(command.expires_at),
        status="sent",
    )
    db.add(row)
    audit.record(
        db,
        actor=command.by,
        actor_role=by_role,
        action=f"command.{command.name.value}",
        target=f"{site}/{device}",
        reason=reason,
        client=client,
        detail={"request_id": command.id, "args": dict(command.args)},
        at=now,
    )
    return row


def apply_result(
    db: Session, site: str, device: str, result: CommandResult, *, now: datetime
) -> RemoteCommand | None:
    """Store a device's answer; an answer from another device than the target is ignored and logged."""
    row = db.get(RemoteCommand, result.id)
    if row is None:
        log.warning("cmd_result for unknown request %s from %s/%s", result.id, site, device)
        return None
    if (row.site, row.device) != (site, device):
        log.warning(
            "cmd_result for %s came from %s/%s, not %s/%s",
            result.id,
            site,
            device,
            row.site,
            row.device,
        )
        return None
    row.status = result.status
    row.result_detail = result.detail[:500]
    row.result_at = now
    return row


def recent(
    db: Session, *, site: str | None = None, device: str | None = None, limit: int = 50
) -> list[RemoteCommand]:
    query = select(RemoteCommand)
    if site:
        query = query.where(RemoteCommand.site == site)
    if device:
        query = query.where(RemoteCommand.device == device)
    return list(db.scalars(query.order_by(RemoteCommand.issued_at.desc()).limit(limit)))


def as_dict(row: RemoteCommand) -> dict[str, Any]:
    return {
        "id": row.id,
        "site": row.site,
        "device": row.device,
        "name": row.name,
        "args": row.args,
        "by": row.by,
        "reason": row.reason,
        "issued_at": format_ts(row.issued_at),
        "expires_at": format_ts(row.expires_at),
        "status": row.status,
        "result_detail": row.result_detail,
        "result_at": format_ts(row.result_at) if row.result_at else None,
    }

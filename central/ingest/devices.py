"""Device availability and health, from ``…/status`` (with the Last Will) and ``…/health``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.db.dml import insert_ignore_rows
from central.db.models import Device
from edge import wire
from edge.errors import PayloadError


@dataclass(slots=True, frozen=True)
class DeviceChange:
    """A device came online, went offline, or reported health."""

    site: str
    device: str
    online: bool | None = None
    health: dict[str, Any] | None = None
    at: datetime | None = None


def parse_status(site: str, device: str, payload: bytes, at: datetime) -> DeviceChange:
    if payload == wire.ONLINE:
        return DeviceChange(site, device, online=True, at=at)
    if payload == wire.OFFLINE:
        return DeviceChange(site, device, online=False, at=at)
    raise PayloadError(f"status must be 'online' or 'offline', got {payload[:40]!r}")


def parse_health(
    site: str, device: str, payload: bytes, at: datetime
) -> tuple[DeviceChange, wire.Health]:
    if len(payload) > wire.MAX_PAYLOAD_BYTES:
        raise PayloadError(f"health too large: {len(payload)} bytes")
    try:
        health = wire.Health.model_validate_json(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        raise PayloadError(f"health invalid: {loc}: {err['msg']}") from exc
    return DeviceChange(site, device, health=health.model_dump(mode="json"), at=at), health


def rows(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Device]:
    """The devices' rows, created if missing, locked for this transaction (in key order)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    insert_ignore_rows(
        session,
        Device,
        [{"site": s, "device": d, "online": False, "last_seq": 0} for s, d in wanted],
    )
    sites = sorted({s for s, _ in wanted})
    query = (
        select(Device)
        .where(Device.site.in_(sites), Device.device.in_([d for _, d in wanted]))
        .order_by(Device.site, Device.device)
        .with_for_update()
    )
    return {(row.site, row.device): row for row in session.scalars(query)}


def store(session: Session, changes: list[DeviceChange]) -> None:
    """Apply status and health changes in arrival order."""
    if not changes:
        return
    found = rows(session, ((c.site, c.device) for c in changes))
    for change in changes:
        row = found[(change.site, change.device)]
        if change.online is not None:
            row.online = change.online
        if change.health is not None:
            row.health = change.health
            row.role = change.health.get("role", row.role)
        if (
            change.online is not False
            and change.at is not None
            and (row.last_seen is None or change.at > row.last_seen)
        ):
            row.last_seen = change.at

"""Visitor events inside the ingest transaction: personal fields out of the event log, visits in.

Ingest calls :func:`redact` before it stores a batch: the events table (and
so the live feed, the events API and the alarm rules) gets a visitor event
with its name shortened to a first character, the phone and pass number
masked and the photo dropped. :func:`fold` then writes the full record into
:class:`~central.visitors.models.Visit` in the same transaction, so a visit
commits exactly when its event does and a replay stores nothing twice.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from central.alarms import store as alarms
from central.alarms.kinds import AlarmKind
from central.alarms.rules import Signal
from central.visitors.mask import mask_id, mask_name, mask_phone, search_key
from central.visitors.models import Visit, VisitorDay, VisitorInvite
from central.visitors.settings import VisitorSettings
from edge.wire import (
    EVENT_MODELS,
    Envelope,
    EventData,
    EventType,
    VisitorBlocked,
    VisitorCheckedIn,
    VisitorCheckedOut,
    parse_ts,
)

log = logging.getLogger(__name__)

T = TypeVar("T", bound=tuple[Any, ...])


def redact_data(event_type: EventType, data: dict[str, Any]) -> dict[str, Any]:
    """What the event log keeps of a visitor event."""
    if event_type not in (EventType.VISITOR_CHECKED_IN, EventType.VISITOR_BLOCKED):
        return data
    out = dict(data)
    out["name"] = mask_name(data.get("name")) or "*"
    if data.get("phone"):
        out["phone"] = mask_phone(data["phone"])
    if data.get("pass_number"):
        out["pass_number"] = mask_id(data["pass_number"])
    if "photo" in out:
        out["photo"] = None
    return out


def redact(fresh: Sequence[T]) -> tuple[list[T], dict[str, tuple[Envelope, EventData]]]:
    """``fresh`` (``(envelope, data, …)`` tuples) with visitor events redacted, and the originals by id."""
    out: list[T] = []
    originals: dict[str, tuple[Envelope, EventData]] = {}
    for item in fresh:
        env, data = item[0], item[1]
        if env.type in (EventType.VISITOR_CHECKED_IN, EventType.VISITOR_BLOCKED):
            originals[env.id] = (env, data)
            masked = redact_data(env.type, env.data)
            env = env.model_copy(update={"data": masked})
            item = (env, EVENT_MODELS[env.type].model_validate(masked), *item[2:])  # type: ignore[assignment]
        elif env.type == EventType.VISITOR_CHECKED_OUT:
            originals[env.id] = (env, data)
        out.append(item)
    return out, originals


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def fold(
    session: Session, stored: Sequence[tuple[Envelope, EventData]], *, tz: str | None = None
) -> int:
    """Apply newly stored visitor events (originals, in seq order) inside the ingest transaction."""
    zone = _zone(tz or VisitorSettings().site_tz)
    changed = 0
    for env, data in stored:
        if isinstance(data, VisitorCheckedIn):
            changed += _checked_in(session, env, data, zone)
        elif isinstance(data, VisitorCheckedOut):
            changed += _checked_out(session, env, data)
        elif isinstance(data, VisitorBlocked):
            _blocked(session, env, zone)
            changed += 1
    return changed


def _checked_in(session: Session, env: Envelope, data: VisitorCheckedIn, zone: ZoneInfo) -> int:
    held = session.get(Visit, data.visit_id)
    if held is not None:
        log.warning(
            "visit %s already recorded (from %s/%s); ignored from %s/%s",
            data.visit_id,
            held.site,
            held.device,
            env.site,
            env.device,
        )
        return 0
    photo = None
    if data.photo:
        try:
            photo = base64.b64decode(data.photo, validate=True)
        except (binascii.Error, ValueError):
            log.warning("visit %s: photo is not base64; dropped", data.visit_id)
    at = env.timestamp
    try:
        expires = parse_ts(data.expires_at)
    except ValueError:
        expires = None
    session.add(
        Visit(
            visit_id=data.visit_id,
            site=env.site,
            device=env.device,
            category=data.category,
            party_size=data.party_size,
            checked_in_at=at,
            expires_at=expires,
            checked_out_at_desk=False,
            desk_check=data.category == "official",
            invite_id=data.invite_id,
            name=data.name,
            name_key=search_key(data.name),
            phone=data.phone,
            host=data.host,
            host_key=search_key(data.host),
            unit=data.unit,
            purpose=data.purpose,
            agency=data.agency,
            pass_number=data.pass_number,
            company=data.company,
            work_order=data.work_order,
            photo=photo,
        )
    )
    if data.invite_id:
        invite = session.get(VisitorInvite, data.invite_id)
        if invite is None or invite.site != env.site:
            log.warning(
                "visit %s names invite %s unknown at %s", data.visit_id, data.invite_id, env.site
            )
        elif invite.used_at is not None:
            log.warning(
                "invite %s used again (visit %s; first %s)",
                data.invite_id,
                data.visit_id,
                invite.visit_id,
            )
        else:
            invite.used_at, invite.visit_id = at, data.visit_id
    day = _day(session, env.site, at, data.category, zone)
    day.visits += 1
    day.people += data.party_size
    return 1


def _checked_out(session: Session, env: Envelope, data: VisitorCheckedOut) -> int:
    visit = session.get(Visit, data.visit_id)
    if visit is None:
        log.warning("check-out of unknown visit %s from %s/%s", data.visit_id, env.site, env.device)
        return 0
    if visit.site != env.site:
        log.warning(
            "kiosk %s/%s tried to check out visit %s of site %s; refused",
            env.site,
            env.device,
            data.visit_id,
            visit.site,
        )
        return 0
    if visit.checked_out_at is not None:
        return 0
    visit.checked_out_at = env.timestamp
    visit.checked_out_at_desk = data.at_desk
    return 1


def _blocked(session: Session, env: Envelope, zone: ZoneInfo) -> None:
    _day(session, env.site, env.timestamp, "blocked", zone).blocked += 1
    # The desk hears of it as an incident alarm; the record carries no name or phone.
    alarms.apply(
        session,
        [
            Signal(
                "raise",
                env.site,
                env.device,
                AlarmKind.INCIDENT,
                env.timestamp,
                {
                    "kind": "visitor_blocked",
                    "description": "黑名单访客在自助机登记,请前台核实 / a blocked visitor tried to check in: desk, please attend",
                },
            )
        ],
    )


def _day(session: Session, site: str, at: datetime, category: str, zone: ZoneInfo) -> VisitorDay:
    key = (site, at.astimezone(zone).date(), category)
    row = session.get(VisitorDay, key)
    if row is None:
        row = VisitorDay(site=key[0], day=key[1], category=category, visits=0, people=0, blocked=0)
        session.add(row)
        session.flush()
    return row

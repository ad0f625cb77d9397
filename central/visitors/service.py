"""The visitor log's operations: who is on site, search, desk check-out, block list, invites, purge.

Every function takes the session (the caller commits) and the time. What
leaves here for a screen or an export goes through :func:`visit_dict`, which
masks the phone and pass number; the photo only ever leaves through the
supervisor's photo endpoint.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import qrcode
import qrcode.constants
from qrcode.image.svg import SvgPathImage
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from central import audit
from central.db.models import Event, Quarantined
from central.visitors.mask import mask_id, mask_phone, search_key
from central.visitors.models import Visit, VisitorBlock, VisitorDay, VisitorInvite
from edge.wire import (
    ConfigKind,
    EventType,
    Invite,
    SiteConfig,
    VisitorBlockEntry,
    VisitorBlocklist,
    config_topic,
    config_version,
    format_ts,
    sign_invite,
    uuid7,
)

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, int, bool], None]
PERSONAL = (
    "name",
    "name_key",
    "phone",
    "host",
    "host_key",
    "purpose",
    "agency",
    "pass_number",
    "company",
    "work_order",
    "photo",
)


def on_site(db: Session, site: str | None, now: datetime) -> list[Visit]:
    """Checked in and not out, oldest first: the evacuation list."""
    query = select(Visit).where(Visit.checked_out_at.is_(None), Visit.checked_in_at <= now)
    if site:
        query = query.where(Visit.site == site)
    return list(db.scalars(query.order_by(Visit.checked_in_at, Visit.visit_id)))


def on_site_count(db: Session, site: str | None) -> int:
    query = select(func.coalesce(func.sum(Visit.party_size), 0)).where(
        Visit.checked_out_at.is_(None)
    )
    if site:
        query = query.where(Visit.site == site)
    return int(db.scalar(query) or 0)


def search(
    db: Session,
    *,
    site: str | None,
    name: str | None,
    host: str | None,
    day: date | None,
    zone: ZoneInfo,
    limit: int,
    offset: int,
) -> list[Visit]:
    """Newest first; ``name``/``host`` match a part, case-insensitively; ``day`` is site-local."""
    query = select(Visit)
    if site:
        query = query.where(Visit.site == site)
    if name and (key := search_key(name)):
        query = query.where(Visit.name_key.contains(key, autoescape=True))
    if host and (key := search_key(host)):
        query = query.where(
            or_(
                Visit.host_key.contains(key, autoescape=True),
                Visit.unit.contains(host.strip(), autoescape=True),
            )
        )
    if day is not None:
        start = datetime.combine(day, time(0), zone).astimezone(UTC)
        query = query.where(
            Visit.checked_in_at >= start, Visit.checked_in_at < start + timedelta(days=1)
        )
    query = (
        query.order_by(Visit.checked_in_at.desc(), Visit.visit_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(db.scalars(query))


def visit_dict(v: Visit, now: datetime) -> dict[str, Any]:
    """A visit as screens and exports see it: phone and pass number masked, no photo bytes."""
    end = v.checked_out_at or now
    return {
        "visit_id": v.visit_id,
        "site": v.site,
        "device": v.device,
        "category": v.category,
        "name": v.name,
        "phone": mask_phone(v.phone),
        "host": v.host,
        "unit": v.unit,
        "purpose": v.purpose,
        "party_size": v.party_size,
        "agency": v.agency,
        "pass_number": mask_id(v.pass_number),
        "company": v.company,
        "work_order": v.work_order,
        "desk_check": v.desk_check,
        "checked_in_at": format_ts(v.checked_in_at),
        "checked_out_at": format_ts(v.checked_out_at) if v.checked_out_at else None,
        "checked_out_at_desk": v.checked_out_at_desk,
        "expires_at": format_ts(v.expires_at) if v.expires_at else None,
        "minutes_on_site": max(0, int((end - v.checked_in_at).total_seconds() // 60)),
        "has_photo": v.photo is not None,
        "invite_id": v.invite_id,
        "purged": v.purged_at is not None,
    }


EXPORT_COLUMNS = (
    "visit_id",
    "site",
    "category",
    "name",
    "phone",
    "host",
    "unit",
    "purpose",
    "party_size",
    "agency",
    "pass_number",
    "company",
    "work_order",
    "checked_in_at",
    "checked_out_at",
    "minutes_on_site",
)


def export_csv(visits: list[Visit], now: datetime) -> str:
    """CSV of visits, masked like the screens; cells that a spreadsheet would run as formulas are quoted."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for v in visits:
        row = visit_dict(v, now)
        writer.writerow([_cell(row[c]) for c in EXPORT_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def check_out_at_desk(
    db: Session, visit_id: str, *, by: str, role: str, now: datetime, client: str = ""
) -> Visit | None:
    visit = db.get(Visit, visit_id)
    if visit is None:
        return None
    if visit.checked_out_at is None:
        visit.checked_out_at, visit.checked_out_at_desk = now, True
        audit.record(
            db,
            actor=by,
            actor_role=role,
            action="visitors.check_out",
            target=visit_id,
            client=client,
            at=now,
        )
    return visit


# --------------------------------------------------------------------------- block list


def block_entries(db: Session, site: str) -> list[VisitorBlock]:
    return list(
        db.scalars(select(VisitorBlock).where(VisitorBlock.site == site).order_by(VisitorBlock.id))
    )


def block_dict(b: VisitorBlock) -> dict[str, Any]:
    return {
        "id": b.id,
        "site": b.site,
        "name": b.name,
        "phone": mask_phone(b.phone),
        "reason": b.reason,
        "created_by": b.created_by,
        "created_at": format_ts(b.created_at),
    }


def blocklist_document(db: Session, site: str, now: datetime) -> tuple[str, bytes]:
    """The retained ``config/visitor_blocklist`` for ``site``; the version is central's time in ms."""
    entries = [VisitorBlockEntry(name=b.name, phone=b.phone) for b in block_entries(db, site)]
    doc = SiteConfig(
        kind=ConfigKind.VISITOR_BLOCKLIST,
        version=config_version(now),
        ts=format_ts(now),
        data=VisitorBlocklist(entries=entries).model_dump(exclude_none=True),
    )
    return config_topic(site, ConfigKind.VISITOR_BLOCKLIST.value), doc.model_dump_json().encode()


def publish_blocklist(db: Session, site: str, now: datetime, publish: Publish | None) -> bool:
    if publish is None:
        log.error("visitor block list for %s not published: no broker link", site)
        return False
    topic, payload = blocklist_document(db, site, now)
    try:
        publish(topic, payload, 1, True)
    except Exception as exc:  # noqa: BLE001 - reported to the caller; the list is in the database
        log.error("visitor block list for %s not published: %s", site, exc)
        return False
    return True


# --------------------------------------------------------------------------- invites


def qr_svg(text: str) -> str:
    """``text`` as a QR code in a standalone SVG: the host shows it on a phone or prints it."""
    image = qrcode.make(
        text, image_factory=SvgPathImage, error_correction=qrcode.constants.ERROR_CORRECT_M
    )
    return str(image.to_string(encoding="unicode"))


def create_invite(
    db: Session,
    *,
    site: str,
    day: date,
    name: str,
    host: str | None,
    unit: str | None,
    category: str,
    key: tuple[int, bytes],
    by: str,
    role: str,
    now: datetime,
) -> tuple[VisitorInvite, str]:
    invite = Invite(
        invite_id=uuid7(int(now.timestamp() * 1000)),
        site=site,
        day=day.isoformat(),
        name=name,
        host=host,
        unit=unit,
        category=category,  # type: ignore[arg-type]
        key_id=key[0],
    )
    row = VisitorInvite(
        invite_id=invite.invite_id,
        site=site,
        day=day,
        category=category,
        name=name,
        host=host,
        unit=unit,
        created_by=by,
        created_at=now,
    )
    db.add(row)
    audit.record(
        db,
        actor=by,
        actor_role=role,
        action="visitors.invite",
        target=invite.invite_id,
        at=now,
        detail={"site": site, "day": day.isoformat()},
    )
    return row, sign_invite(invite, key[1])


# --------------------------------------------------------------------------- retention


def purge(
    db: Session, *, now: datetime, retention_days: int, actor: str = "system", role: str = ""
) -> dict[str, int]:
    """Empty the personal fields of visits older than ``retention_days`` (and of their events and
    invites); counts in :class:`VisitorDay` stay. Audited.

    Quarantined payloads of that age are emptied too: a malformed check-in never reached the fold's
    masking, so its bytes may hold a name or a phone. Topic, size, reason and time stay for the record.
    """
    cutoff = now - timedelta(days=retention_days)
    visits = _rowcount(
        db.execute(
            update(Visit)
            .where(Visit.checked_in_at < cutoff, Visit.purged_at.is_(None))
            .values({**dict.fromkeys(PERSONAL), "purged_at": now})
        )
    )
    events = 0
    for event in db.scalars(
        select(Event).where(
            Event.type.in_([EventType.VISITOR_CHECKED_IN.value, EventType.VISITOR_BLOCKED.value]),
            Event.ts < cutoff,
        )
    ):
        if event.data.get("name") != "*":
            kept = {
                k: event.data[k]
                for k in ("visit_id", "category", "expires_at", "party_size")
                if k in event.data
            }
            event.data = kept | {"name": "*"}
            events += 1
    invites = _rowcount(
        db.execute(
            delete(VisitorInvite).where(VisitorInvite.day < cutoff.date() - timedelta(days=1))
        )
    )
    quarantine = _rowcount(
        db.execute(
            update(Quarantined)
            .where(Quarantined.received_at < cutoff, Quarantined.payload != b"")
            .values(payload=b"")
        )
    )
    counts = {"visits": visits, "events": events, "invites": invites, "quarantine": quarantine}
    audit.record(
        db,
        actor=actor,
        actor_role=role,
        action="visitors.purge",
        target=f"before {format_ts(cutoff)}",
        detail=counts | {"retention_days": retention_days},
        at=now,
    )
    log.info("visitor purge: %s", counts)
    return counts


def daily(db: Session, site: str | None, since: date, until: date) -> list[dict[str, Any]]:
    query = select(VisitorDay).where(VisitorDay.day >= since, VisitorDay.day <= until)
    if site:
        query = query.where(VisitorDay.site == site)
    return [
        {
            "site": d.site,
            "day": d.day.isoformat(),
            "category": d.category,
            "visits": d.visits,
            "people": d.people,
            "blocked": d.blocked,
        }
        for d in db.scalars(query.order_by(VisitorDay.day, VisitorDay.category))
    ]


def _rowcount(result: Any) -> int:
    """Rows an UPDATE/DELETE touched (a CursorResult's count; typed loosely by SQLAlchemy)."""
    return int(result.rowcount or 0)

"""Applying alarm signals to the alarms table, and the supervisor's acknowledge/clear.

State machine::

    (none) --raise--> active_unacknowledged --ack--> active_acknowledged
       ^                   |  raise again: refresh (count+1, last_at, detail)
       |                   v
       +------------- cleared <--clear (condition over, or a supervisor)

A self-clearing kind clears on its own signal; an occurrence kind only by a
supervisor through :func:`clear`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.alarms.kinds import SELF_CLEARING, SEVERITY, TITLES, AlarmKind, AlarmState
from central.alarms.models import Alarm
from central.alarms.rules import Signal
from edge.errors import GatepostError
from edge.wire import format_ts

log = logging.getLogger(__name__)


class AlarmError(GatepostError, ValueError):
    """An acknowledge or clear that cannot be done (unknown alarm, already cleared, not clearable)."""


def active_key(site: str, device: str, kind: str) -> str:
    return f"{site}/{device}/{kind}"


def apply(db: Session, signals: Iterable[Signal]) -> list[Alarm]:
    """Apply signals inside the caller's transaction; return the alarms that changed.

    A raise that repeats an active alarm refreshes it; a clear for a kind that
    is not self-clearing is ignored (a supervisor clears those).
    """
    signals = list(signals)
    changed: list[Alarm] = []
    keys = {active_key(s.site, s.device, s.kind) for s in signals}
    pending: dict[str, Alarm] = {}
    for chunk in _chunks(sorted(keys), 500):  # one query per 500 keys, not one per signal
        pending.update(
            {
                a.active_key: a
                for a in db.scalars(select(Alarm).where(Alarm.active_key.in_(chunk)))
                if a.active_key
            }
        )
    for sig in signals:
        key = active_key(sig.site, sig.device, sig.kind)
        alarm = pending.get(key)
        if sig.action == "raise":
            if alarm is None:
                alarm = Alarm(
                    active_key=key,
                    site=sig.site,
                    device=sig.device,
                    kind=sig.kind.value,
                    severity=SEVERITY[sig.kind].value,
                    state=AlarmState.ACTIVE_UNACKNOWLEDGED.value,
                    first_at=sig.at,
                    last_at=sig.at,
                    count=1,
                    detail=dict(sig.detail),
                )
                db.add(alarm)
                log.warning("alarm raised: %s", key, extra={"alarm": key})
                pending[key] = alarm
                changed.append(alarm)
            elif _is_news(alarm, sig):
                alarm.count += 1
                alarm.last_at = max(alarm.last_at, sig.at)
                alarm.detail = dict(sig.detail)
                if alarm not in changed:
                    changed.append(alarm)
        elif alarm is not None and sig.kind in SELF_CLEARING:
            _clear(alarm, sig.at, by="system", reason="condition ended")
            pending.pop(key, None)
            db.flush()
            changed.append(alarm)
    db.flush()
    return changed


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _is_news(alarm: Alarm, sig: Signal) -> bool:
    """A condition re-reported every tick is not a repeat; only a changed detail or an occurrence is."""
    if sig.kind in SELF_CLEARING:
        return dict(sig.detail) != alarm.detail and not _only_timing_changed(
            alarm.detail, sig.detail
        )
    return True


def _only_timing_changed(old: dict[str, Any], new: Any) -> bool:
    timing = {"last_seen_s", "open_s"}
    return {k: v for k, v in old.items() if k not in timing} == {
        k: v for k, v in dict(new).items() if k not in timing
    }


def _clear(alarm: Alarm, at: datetime, *, by: str, reason: str) -> None:
    alarm.state = AlarmState.CLEARED.value
    alarm.active_key = None
    alarm.cleared_at = at
    alarm.cleared_by = by
    alarm.clear_reason = reason[:500]
    log.info("alarm cleared: %s/%s/%s by %s", alarm.site, alarm.device, alarm.kind, by)


def acknowledge(
    db: Session, alarm_id: int, *, by: str, by_role: str, note: str, now: datetime, client: str = ""
) -> Alarm:
    alarm = db.get(Alarm, alarm_id)
    if alarm is None:
        raise AlarmError(f"告警 {alarm_id} 不存在 / no alarm {alarm_id}")
    if alarm.state == AlarmState.CLEARED:
        raise AlarmError("告警已解除 / alarm already cleared")
    if alarm.state == AlarmState.ACTIVE_UNACKNOWLEDGED:
        alarm.state = AlarmState.ACTIVE_ACKNOWLEDGED.value
        alarm.acked_by = by
        alarm.acked_at = now
        alarm.ack_note = note[:500]
    audit.record(
        db,
        actor=by,
        actor_role=by_role,
        action="alarm.acknowledge",
        target=f"alarm:{alarm.id} {alarm.kind} {alarm.site}/{alarm.device}",
        reason=note,
        client=client,
        at=now,
    )
    return alarm


def clear(
    db: Session,
    alarm_id: int,
    *,
    by: str,
    by_role: str,
    reason: str,
    now: datetime,
    client: str = "",
) -> Alarm:
    """A supervisor clears an alarm after dealing with it (any kind)."""
    alarm = db.get(Alarm, alarm_id)
    if alarm is None:
        raise AlarmError(f"告警 {alarm_id} 不存在 / no alarm {alarm_id}")
    if alarm.state == AlarmState.CLEARED:
        raise AlarmError("告警已解除 / alarm already cleared")
    if not alarm.acked_at:
        alarm.acked_by, alarm.acked_at, alarm.ack_note = by, now, reason[:500]
    _clear(alarm, now, by=by, reason=reason)
    audit.record(
        db,
        actor=by,
        actor_role=by_role,
        action="alarm.clear",
        target=f"alarm:{alarm.id} {alarm.kind} {alarm.site}/{alarm.device}",
        reason=reason,
        client=client,
        at=now,
    )
    return alarm


def listing(
    db: Session,
    *,
    state: str | None = None,
    site: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Alarm]:
    query = select(Alarm)
    if state == "active":
        query = query.where(Alarm.active_key.is_not(None))
    elif state:
        query = query.where(Alarm.state == state)
    if site:
        query = query.where(Alarm.site == site)
    if kind:
        query = query.where(Alarm.kind == kind)
    return list(
        db.scalars(
            query.order_by(Alarm.last_at.desc(), Alarm.id.desc()).limit(limit).offset(offset)
        )
    )


def as_dict(alarm: Alarm) -> dict[str, Any]:
    zh, en = TITLES.get(AlarmKind(alarm.kind), (alarm.kind, alarm.kind))
    return {
        "id": alarm.id,
        "site": alarm.site,
        "device": alarm.device,
        "kind": alarm.kind,
        "title_zh": zh,
        "title_en": en,
        "severity": alarm.severity,
        "state": alarm.state,
        "first_at": format_ts(alarm.first_at),
        "last_at": format_ts(alarm.last_at),
        "count": alarm.count,
        "detail": alarm.detail,
        "acked_by": alarm.acked_by,
        "acked_at": format_ts(alarm.acked_at) if alarm.acked_at else None,
        "ack_note": alarm.ack_note,
        "cleared_at": format_ts(alarm.cleared_at) if alarm.cleared_at else None,
        "cleared_by": alarm.cleared_by,
        "clear_reason": alarm.clear_reason,
    }

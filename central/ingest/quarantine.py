"""Quarantine: where a message that breaks the wire contract goes instead of away.

Nothing is dropped silently (DESIGN.md §4): a payload that is not JSON, has
wrong types, is too large, disagrees with its topic, or reuses a seq is kept
(its first few KiB) with the reason, for a supervisor to read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from central.db.models import Quarantined

log = logging.getLogger(__name__)

REASON_MAX = 1000
TOPIC_MAX = 512


@dataclass(slots=True, frozen=True)
class Rejected:
    """A message refused by ingest, and why."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime

    def row(self) -> dict[str, Any]:
        return {
            "topic": self.topic[:TOPIC_MAX],
            "payload": bytes(self.payload[: Quarantined.PAYLOAD_KEEP]),
            "size": len(self.payload),
            "reason": self.reason[:REASON_MAX],
            "received_at": self.received_at,
        }


def store(session: Session, rejected: Sequence[Rejected]) -> None:
    """Add ``rejected`` to the quarantine table (one executemany) and log each."""
    if not rejected:
        return
    for item in rejected:
        log.warning(
            "quarantined",
            extra={
                "topic": item.topic[:200],
                "reason": item.reason[:200],
                "size": len(item.payload),
            },
        )
    table = cast(Table, Quarantined.__table__)
    session.connection().execute(table.insert(), [item.row() for item in rejected])


def recent(session: Session, limit: int = 100) -> list[Quarantined]:
    """The newest quarantined messages first (for the dashboard)."""
    return list(session.scalars(select(Quarantined).order_by(Quarantined.id.desc()).limit(limit)))

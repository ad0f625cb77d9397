"""Quarantine: where a message that breaks the wire contract goes instead of away.

Nothing is dropped silently (DESIGN.md §4): a payload that is not JSON, has
wrong types, is too large, disagrees with its topic, or reuses a seq is kept
(its first few KiB) with the reason, for a supervisor to read.

A quarantined message on a device's event topic still takes its seq: the
device wrote it in its outbox and will re-send it until central acknowledges
it, so a seq that never counted would stall central's ack (and the device's
outbox) forever. :meth:`Rejected.claim` reads the seq the message claims —
from the envelope's head, even when the rest is unreadable or too large — and
the row keeps it, so the gap tracker and the ack count it as stored. The
topic, not the payload, names the device: the broker's ACL lets only that
device publish there, so a message can only ever claim a seq of its own
sender. A message whose seq cannot be read at all (not an envelope: a genuine
outbox never writes one) leaves its seq missing: the gap stays open and
alarmed at central, the ack stops below it, and the device keeps the rows and
shows its backlog until an operator writes the gap off
(see :func:`central.ingest.gaps.contiguous`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from central.db.models import Quarantined
from edge import wire
from edge.errors import PayloadError

log = logging.getLogger(__name__)

REASON_MAX = 1000
TOPIC_MAX = 512

_SEQ_HEAD = 512
"""Bytes of a payload searched for its seq: the envelope writes ``seq`` third, before ``data``."""
_SEQ_RE = re.compile(rb'"seq"\s*:\s*([1-9][0-9]{0,18})(?![0-9.eE])')


@dataclass(slots=True, frozen=True)
class Rejected:
    """A message refused by ingest, and why."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime

    def claim(self) -> tuple[str, str, int] | None:
        """``(site, device, seq)`` when this is a device's event whose seq can be read, else None."""
        segments = self.topic.split("/")
        if len(segments) != 6 or segments[4] != "event":
            return None
        try:
            parts = wire.parse_topic(self.topic)
        except PayloadError:
            return None
        if parts.device is None:
            return None
        found = _SEQ_RE.search(bytes(self.payload[:_SEQ_HEAD]))
        if found is None:
            return None
        seq = int(found.group(1))
        if seq >= 2**63:
            return None
        return parts.site, parts.device, seq

    def row(self) -> dict[str, Any]:
        claim = self.claim()
        site, device, seq = claim if claim is not None else (None, None, None)
        return {
            "topic": self.topic[:TOPIC_MAX],
            "payload": bytes(self.payload[: Quarantined.PAYLOAD_KEEP]),
            "size": len(self.payload),
            "reason": self.reason[:REASON_MAX],
            "received_at": self.received_at,
            "site": site,
            "device": device,
            "seq": seq,
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

"""Per-device seq gap detection: which events central has not received (yet).

Every device numbers its events 1, 2, 3…; central keeps the highest seq it
stored (``devices.last_seq``). An event past ``last_seq + 1`` opens a gap for
the seqs in between; a late event inside an open gap fills it, and the gap
closes once every seq in it is stored. A gap is the alarm that an event may
be lost; the lane's outbox normally fills it within seconds.

With several ingest workers the stream is split between them, so a short gap
can open and close within a second; alarm on gaps that stay open (see
:func:`open_gaps`' ``older_than``).

A seq counts as stored when its event is in ``events`` or when a quarantined
message claimed it (:meth:`central.ingest.quarantine.Rejected.claim`).
:func:`contiguous` turns the open gaps into central's acknowledgement: the
highest seq below which nothing is missing, read from the database so that
every ingest worker (several processes) computes the same figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select, tuple_, union, update
from sqlalchemy.orm import Session

from central.db.models import Event, Quarantined, SeqGap


@dataclass(slots=True, frozen=True)
class SeqRange:
    """Seqs ``start..end`` inclusive."""

    start: int
    end: int

    def __contains__(self, seq: object) -> bool:
        return isinstance(seq, int) and self.start <= seq <= self.end


@dataclass(slots=True)
class SeqAdvance:
    """What a batch of seqs does to one device's numbering (pure result, no I/O)."""

    last_seq: int
    new_gaps: list[SeqRange] = field(default_factory=list)
    late: list[int] = field(default_factory=list)


def advance(last_seq: int, seqs: Iterable[int]) -> SeqAdvance:
    """Apply newly stored ``seqs`` to a device whose high-water mark is ``last_seq``.

    Seqs above the mark raise it and open a gap for anything skipped; seqs at
    or below it are late arrivals that may fill a gap. A device central has
    never heard from has ``last_seq`` 0, so its first event must be seq 1.
    """
    result = SeqAdvance(last_seq)
    for seq in sorted(set(seqs)):
        if seq <= result.last_seq:
            result.late.append(seq)
            continue
        if seq > result.last_seq + 1:
            result.new_gaps.append(SeqRange(result.last_seq + 1, seq - 1))
        result.last_seq = seq
    return result


@dataclass(slots=True, frozen=True)
class GapChange:
    """A gap opened or closed by a commit; listeners turn these into alarms."""

    site: str
    device: str
    from_seq: int
    to_seq: int
    opened: bool
    at: datetime


def record(
    session: Session, site: str, device: str, step: SeqAdvance, now: datetime
) -> list[GapChange]:
    """Store the gaps ``step`` opened and close the open gaps its late seqs completed.

    Runs inside the ingest transaction, after the batch's events are inserted,
    so the completeness count sees them.
    """
    changes: list[GapChange] = []
    for gap in step.new_gaps:
        session.add(
            SeqGap(site=site, device=device, from_seq=gap.start, to_seq=gap.end, opened_at=now)
        )
        changes.append(GapChange(site, device, gap.start, gap.end, True, now))
    if not step.late:
        return changes
    session.flush()
    touched = select(SeqGap).where(
        SeqGap.site == site,
        SeqGap.device == device,
        SeqGap.closed_at.is_(None),
        or_(*(and_(SeqGap.from_seq <= s, SeqGap.to_seq >= s) for s in step.late)),
    )
    for row in session.scalars(touched):
        seqs = union(
            select(Event.seq).where(
                Event.site == site,
                Event.device == device,
                Event.seq.between(row.from_seq, row.to_seq),
            ),
            select(Quarantined.seq).where(
                Quarantined.site == site,
                Quarantined.device == device,
                Quarantined.seq.between(row.from_seq, row.to_seq),
            ),
        ).subquery()
        stored: int | None = session.scalar(select(func.count()).select_from(seqs))
        if stored == row.to_seq - row.from_seq + 1:
            session.execute(update(SeqGap).where(SeqGap.id == row.id).values(closed_at=now))
            changes.append(GapChange(site, device, row.from_seq, row.to_seq, False, now))
    return changes


def contiguous(
    session: Session,
    last_seqs: dict[tuple[str, str], int],
    gone: dict[tuple[str, str], int] | None = None,
) -> dict[tuple[str, str], int]:
    """Central's ack per device: the highest seq with every seq from 1 to it stored.

    ``last_seqs`` are the devices' high-water marks as this transaction sees
    them (rows locked). A device's figure stops just below its lowest open gap,
    even when part of that gap has since arrived: the ack is conservative, and
    a device re-sends what lies above it (a harmless replay).

    ``gone`` is, per device, the seq up to which it says it no longer holds
    anything (its health's ``outbox_acked_through``: acknowledged once, by a
    central whose database has since been restored from an older backup). Open
    gaps at or below it can never fill; the ack passes them — they stay open,
    alarmed — so the device's newer events are still acknowledged and its
    outbox does not grow for ever. A gap closed outside ingest (an operator
    writing those seqs off) lets the ack pass too.
    """
    if not last_seqs:
        return {}
    gone = gone or {}
    keys = sorted(last_seqs)
    lowest: dict[tuple[str, str], int] = {}
    for site, device, start, end in session.execute(
        select(SeqGap.site, SeqGap.device, SeqGap.from_seq, SeqGap.to_seq).where(
            SeqGap.closed_at.is_(None), tuple_(SeqGap.site, SeqGap.device).in_(keys)
        )
    ):
        floor = gone.get((site, device), 0)
        if end <= floor:
            continue  # unfillable: the device no longer holds these
        start = max(start, floor + 1)
        lowest[(site, device)] = min(start, lowest.get((site, device), start))
    return {
        key: last if key not in lowest else min(last, lowest[key] - 1)
        for key, last in last_seqs.items()
    }


def open_gaps(
    session: Session, site: str | None = None, older_than: datetime | None = None
) -> list[SeqGap]:
    """Gaps still open (optionally for one site, and opened before ``older_than``)."""
    query = select(SeqGap).where(SeqGap.closed_at.is_(None))
    if site is not None:
        query = query.where(SeqGap.site == site)
    if older_than is not None:
        query = query.where(SeqGap.opened_at < older_than)
    return list(session.scalars(query.order_by(SeqGap.opened_at)))

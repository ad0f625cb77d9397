"""One ingest transaction: a batch of MQTT messages in, a :class:`CommitReport` out.

This is the whole of what ingest does to the database, without the broker:
classify each message (event, status, health, capacity, or quarantine), insert
new events idempotently, advance seq gaps, fold tickets and occupancy, and
record device status. The worker commits it and only then acknowledges.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session

from central.db.dml import insert_ignore
from central.db.models import Event
from central.ingest import devices, gaps, occupancy, quarantine, tickets
from central.ingest.clock import event_time
from central.ingest.devices import DeviceChange
from central.ingest.gaps import GapChange
from central.ingest.occupancy import OccupancyView
from central.ingest.quarantine import Rejected
from central.ingest.tickets import TicketState
from central.visitors import fold as visitor_fold
from edge import wire
from edge.errors import PayloadError
from edge.wire import Envelope, EventData

log = logging.getLogger(__name__)


class Incoming(Protocol):
    """What ingest needs of a message (:class:`central.mqtt.Message` has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def received_at(self) -> datetime: ...


@dataclass(slots=True, frozen=True)
class StoredEvent:
    """An event stored for the first time by this commit."""

    envelope: Envelope
    data: EventData
    received_at: datetime

    @property
    def skew_ms(self) -> int:
        """Central's receive time minus the device's clock; large values mean a bad clock or a backlog."""
        return int((self.received_at - self.envelope.timestamp).total_seconds() * 1000)


@dataclass(slots=True)
class CommitReport:
    """Everything one commit changed; handed to ``on_committed`` listeners after the commit."""

    events: list[StoredEvent] = field(default_factory=list)
    duplicates: int = 0
    quarantined: list[Rejected] = field(default_factory=list)
    gaps: list[GapChange] = field(default_factory=list)
    tickets: list[TicketState] = field(default_factory=list)
    occupancy: list[OccupancyView] = field(default_factory=list)
    devices: list[DeviceChange] = field(default_factory=list)
    acks: dict[tuple[str, str], int] = field(default_factory=dict)
    """Central's ack per device whose events (new, replayed or quarantined) this commit saw:
    the highest contiguous seq committed (:func:`central.ingest.gaps.contiguous`)."""
    replayed: set[tuple[str, str]] = field(default_factory=set)
    """Devices with an event this commit had already stored: they get the ack again."""

    def merge(self, other: CommitReport) -> None:
        """Add ``other`` (a later commit) to this report; each device keeps its highest ack."""
        self.events += other.events
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.gaps += other.gaps
        self.tickets += other.tickets
        self.occupancy += other.occupancy
        self.devices += other.devices
        self.replayed |= other.replayed
        for key, seq in other.acks.items():
            self.acks[key] = max(seq, self.acks.get(key, 0))

    @property
    def messages(self) -> int:
        return len(self.events) + self.duplicates + len(self.quarantined) + len(self.devices)


@dataclass(slots=True)
class _Sorted:
    events: list[tuple[Envelope, EventData, datetime, Incoming]] = field(default_factory=list)
    devices: list[DeviceChange] = field(default_factory=list)
    capacities: list[tuple[str, wire.Capacity, bool]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def classify(message: Incoming) -> tuple[str, Any]:
    """Parse one message: ("event", (env, data)), ("device", change), ("capacity", …) or ("reject", reason).

    Never raises: anything unreadable becomes a quarantine reason.
    """
    topic, payload, at = message.topic, message.payload, message.received_at
    try:
        if len(payload) > wire.MAX_PAYLOAD_BYTES:
            raise PayloadError(
                f"payload too large: {len(payload)} bytes > {wire.MAX_PAYLOAD_BYTES}"
            )
        segments = topic.split("/")
        if (
            len(segments) == 6 and segments[4] == "event"
        ):  # the hot path: parse_event checks the rest
            parsed = _parse_valid_event(segments, payload)
            envelope, data = parsed if parsed is not None else wire.parse_event(topic, payload)
            if b"\\u0000" in payload and _has_nul(envelope.data):
                raise PayloadError("text contains a NUL character")
            return "event", (envelope, data)
        parts = wire.parse_topic(topic)
        if parts.kind == "status" and parts.device:
            return "device", devices.parse_status(parts.site, parts.device, payload, at)
        if parts.kind == "health" and parts.device:
            return "health", devices.parse_health(parts.site, parts.device, payload, at)
        if parts.kind == "config" and parts.name == wire.ConfigKind.CAPACITY:
            doc = wire.parse_site_config(topic, payload)
            return "capacity", (parts.site, wire.Capacity.model_validate(doc.data))
        raise PayloadError(f"ingest does not take {parts.kind} messages")
    except PayloadError as exc:
        return "reject", str(exc)
    except RecursionError:
        return "reject", "not JSON: nested too deeply"
    except (ValidationError, ValueError, TypeError) as exc:
        return "reject", f"unreadable: {type(exc).__name__}: {str(exc)[:200]}"


def _parse_valid_event(segments: list[str], payload: bytes) -> tuple[Envelope, EventData] | None:
    """The envelope and payload of a well-formed event in one pass, or None to take the slow path.

    pydantic parses the JSON bytes straight into the envelope (about half the cost of
    ``json.loads`` then ``model_validate``). Only acceptance is decided here: anything it
    refuses, or that disagrees with its topic, goes through :func:`edge.wire.parse_event`,
    which stays the one place that words the reason.
    """
    try:
        envelope = Envelope.model_validate_json(payload)
        data = wire.EVENT_MODELS[envelope.type].model_validate(envelope.data)
    except (ValidationError, ValueError, TypeError):
        return None
    if (
        segments[0] != _ROOT[0]
        or segments[1] != _ROOT[1]
        or segments[2] != envelope.site
        or segments[3] != envelope.device
        or segments[5] != envelope.type
    ):
        return None
    return envelope, data


_ROOT = wire.TOPIC_ROOT.split("/")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


Classified = tuple[str, Any]


def _sort(messages: Sequence[Incoming], classified: Sequence[Classified | None] | None) -> _Sorted:
    out = _Sorted()
    for i, message in enumerate(messages):
        done = classified[i] if classified is not None else None
        kind, value = done if done is not None else classify(message)
        if kind == "event":
            out.events.append((value[0], value[1], message.received_at, message))
        elif kind == "device":
            out.devices.append(value)
        elif kind == "health":
            out.devices.append(value[0])
            health: wire.Health = value[1]
            if health.capacity is not None:
                site = value[0].site
                out.capacities.append((site, wire.Capacity(capacity=health.capacity), True))
        elif kind == "capacity":
            out.capacities.append((value[0], value[1], False))
        else:
            out.rejected.append(
                Rejected(message.topic, message.payload, value, message.received_at)
            )
    return out


def process(
    session: Session,
    messages: Sequence[Incoming],
    now: datetime,
    classified: Sequence[Classified | None] | None = None,
) -> CommitReport:
    """Apply ``messages`` inside the caller's transaction (the caller commits).

    ``classified`` holds :func:`classify` results computed earlier (the worker
    parses a batch before opening its transaction); a None entry is classified here.
    """
    report = CommitReport()
    batch = _sort(messages, classified)
    report.quarantined.extend(batch.rejected)

    fresh = _dedupe(batch, report)
    # Visitor events: personal fields stay out of the event log; the full visit goes to the visitor log.
    fresh, visitor_originals = visitor_fold.redact(fresh)
    stored = _insert_events(session, fresh, report)
    if visitor_originals:
        visitor_fold.fold(
            session, [visitor_originals[e.id] for e, *_ in stored if e.id in visitor_originals]
        )
    report.events.extend(StoredEvent(env, data, at) for env, data, at, _ in stored)

    items = [(e.envelope, e.data) for e in report.events]
    quarantine.store(session, report.quarantined)  # before the gaps: a claimed seq counts as stored
    account(session, report, now)
    report.tickets.extend(tickets.store(session, items))
    views = {v.site: v for v in occupancy.store(session, items, now)}

    devices.store(session, batch.devices)
    report.devices.extend(batch.devices)
    for site, cap, from_health in batch.capacities:
        # A lane's health report only fills a blank; a config/capacity document sets the capacity.
        if from_health:
            learned = occupancy.learn_capacity(session, site, cap.capacity, cap.reserved, now)
            if learned is not None:
                views[site] = learned
        else:
            views[site] = occupancy.set_capacity(session, site, cap.capacity, cap.reserved, now)
    report.occupancy.extend(views.values())
    return report


def _dedupe(
    batch: _Sorted, report: CommitReport
) -> list[tuple[Envelope, EventData, datetime, Incoming]]:
    """Drop repeats of an id inside the batch; quarantine a second id claiming the same seq."""
    by_id: set[str] = set()
    by_seq: dict[tuple[str, str, int], str] = {}
    fresh = []
    for env, data, at, message in batch.events:
        if env.id in by_id:
            report.duplicates += 1
            report.replayed.add((env.site, env.device))
            continue
        key = (env.site, env.device, env.seq)
        if key in by_seq:
            report.quarantined.append(
                Rejected(
                    message.topic,
                    message.payload,
                    f"seq {env.seq} of {env.site}/{env.device} already used by event {by_seq[key]}",
                    at,
                )
            )
            continue
        by_id.add(env.id)
        by_seq[key] = env.id
        fresh.append((env, data, at, message))
    return fresh


def _insert_events(
    session: Session,
    fresh: list[tuple[Envelope, EventData, datetime, Incoming]],
    report: CommitReport,
) -> list[tuple[Envelope, EventData, datetime, Incoming]]:
    """INSERT … ON CONFLICT DO NOTHING; sort the rows that were not inserted into replays and seq clashes."""
    if not fresh:
        return []
    rows = [
        {
            "id": env.id,
            "site": env.site,
            "device": env.device,
            "seq": env.seq,
            "type": str(env.type),
            "ts": event_time(env),
            "received_at": at,
            "data": env.data,
        }
        for env, _data, at, _m in fresh
    ]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        inserted = _insert_events_pg(session, rows)
    elif dialect == "sqlite" and _insert_events_sqlite(session, rows):
        inserted = {str(row["id"]) for row in rows}
    else:
        stmt = insert_ignore(session, Event).returning(Event.__table__.c.id)
        inserted = set(session.connection().execute(stmt, rows).scalars())
    if len(inserted) == len(fresh):
        return fresh
    missing = [item for item in fresh if item[0].id not in inserted]
    known_ids = set(
        session.scalars(select(Event.id).where(Event.id.in_([env.id for env, *_ in missing])))
    )
    clashes = [item for item in missing if item[0].id not in known_ids]
    report.duplicates += len(missing) - len(clashes)
    report.replayed.update((env.site, env.device) for env, *_ in missing if env.id in known_ids)
    if clashes:
        keys = [(env.site, env.device, env.seq) for env, *_ in clashes]
        holders = {
            (s, d, q): i
            for i, s, d, q in session.execute(
                select(Event.id, Event.site, Event.device, Event.seq).where(
                    tuple_(Event.site, Event.device, Event.seq).in_(keys)
                )
            )
        }
        for env, _data, at, message in clashes:
            holder = holders.get((env.site, env.device, env.seq), "?")
            report.quarantined.append(
                Rejected(
                    message.topic,
                    message.payload,
                    f"seq {env.seq} of {env.site}/{env.device} already used by event {holder}",
                    at,
                )
            )
    return [item for item in fresh if item[0].id in inserted]


_PG_INSERT_EVENTS = text(
    "INSERT INTO events (id, site, device, seq, type, ts, received_at, data) "
    "SELECT id, site, device, seq, type, ts, received_at, CAST(data AS jsonb) FROM unnest("
    "CAST(:id AS text[]), CAST(:site AS text[]), CAST(:device AS text[]), CAST(:seq AS bigint[]), "
    "CAST(:type AS text[]), CAST(:ts AS timestamptz[]), CAST(:received_at AS timestamptz[]), "
    "CAST(:data AS text[])"
    ") AS t(id, site, device, seq, type, ts, received_at, data) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
"""One statement with one array per column: PostgreSQL inserts a whole batch in one round trip,
and the driver parses one short statement instead of a VALUES list of thousands of parameters."""


_EVENT_COLUMNS = ("id", "site", "device", "seq", "type", "ts", "received_at", "data")
_SQLITE_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _EVENT_COLUMNS)}) ON CONFLICT DO NOTHING"
)


def _insert_events_sqlite(session: Session, rows: list[dict[str, Any]]) -> bool:
    """Insert every row with one driver-level executemany; False (and nothing kept) if any clashed.

    SQLAlchemy's executemany with RETURNING costs about as much per row as the rest of
    the batch; the common case (all new) needs no RETURNING, only the row count. When a
    replay or a seq clash makes the count short, the savepoint is rolled back and the
    caller takes the RETURNING path, which sorts out exactly which rows were new.
    Values go through the columns' own bind processors, so storage matches the ORM's.
    """
    conn = session.connection()
    data_bind = _data_bind(conn.dialect)
    params = [
        (
            row["id"],
            row["site"],
            row["device"],
            row["seq"],
            row["type"],
            _sqlite_utc(row["ts"]),
            _sqlite_utc(row["received_at"]),
            row["data"] if data_bind is None else data_bind(row["data"]),
        )
        for row in rows
    ]
    savepoint = conn.begin_nested()
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(_SQLITE_INSERT_EVENTS, params)
        complete = cursor.rowcount == len(rows)
    finally:
        cursor.close()
    if complete:
        savepoint.commit()
    else:
        savepoint.rollback()
    return complete


def _sqlite_utc(value: datetime) -> str:
    """What ``UTCDateTime`` stores on SQLite (naive UTC, always with microseconds), at C speed.

    A test holds it to the column type's own bind processor, so the two cannot drift apart.
    """
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: central stores UTC only")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


_DATA_BIND: dict[str, Any] = {}


def _data_bind(dialect: Any) -> Any:
    """The ``data`` column's own bind processor (JSON encoding) for ``dialect``, looked up once."""
    if dialect.name not in _DATA_BIND:
        column_type = Event.__table__.c["data"].type
        _DATA_BIND[dialect.name] = column_type.dialect_impl(dialect).bind_processor(dialect)
    return _DATA_BIND[dialect.name]


def _insert_events_pg(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    columns: dict[str, list[Any]] = {name: [] for name in rows[0]}
    for row in rows:
        for name, value in row.items():
            columns[name].append(json.dumps(value) if name == "data" else value)
    return set(session.connection().execute(_PG_INSERT_EVENTS, columns).scalars())


def account(session: Session, report: CommitReport, now: datetime) -> None:
    """Advance each device's seqs by what this commit stored, then work out central's acks.

    Seqs come from new events and from quarantined messages that claim one
    (already in the quarantine table, so the gap tracker counts them). Every
    device touched — replays included, so a re-sent event brings its ack again —
    has its row locked once, in key order, and gets the contiguous figure as
    this transaction sees it: the one every worker would compute.
    """
    per_device: dict[tuple[str, str], list[int]] = {}
    latest: dict[tuple[str, str], datetime] = {}
    for event in report.events:
        key = (event.envelope.site, event.envelope.device)
        per_device.setdefault(key, []).append(event.envelope.seq)
        latest[key] = max(event.received_at, latest.get(key, event.received_at))
    for rejected in report.quarantined:
        claim = rejected.claim()
        if claim is not None:
            per_device.setdefault((claim[0], claim[1]), []).append(claim[2])
    touched = set(per_device) | report.replayed
    if not touched:
        return
    rows = devices.rows(session, touched)
    for key, seqs in sorted(per_device.items()):
        row = rows[key]
        step = gaps.advance(row.last_seq, seqs)
        if step.new_gaps:
            log.warning(
                "seq gap",
                extra={
                    "site": key[0],
                    "device": key[1],
                    "gaps": str([(g.start, g.end) for g in step.new_gaps]),
                },
            )
        report.gaps.extend(gaps.record(session, key[0], key[1], step, now))
        row.last_seq = step.last_seq
        if key in latest and (row.last_seen is None or latest[key] > row.last_seen):
            row.last_seen = latest[key]
    session.flush()
    gone = {key: _acked_through(rows[key].health) for key in touched}
    report.acks.update(gaps.contiguous(session, {key: rows[key].last_seq for key in touched}, gone))


def _acked_through(health: dict[str, Any] | None) -> int:
    """The device's ``outbox_acked_through`` from its last health report (0 if unknown)."""
    value = (health or {}).get("outbox_acked_through")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_json(report: CommitReport) -> str:
    """A one-line summary for logs."""
    return json.dumps(
        {
            "events": len(report.events),
            "duplicates": report.duplicates,
            "quarantined": len(report.quarantined),
            "gaps": len(report.gaps),
            "devices": len(report.devices),
        }
    )

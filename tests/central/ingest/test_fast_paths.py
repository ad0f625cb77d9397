"""The throughput shortcuts in ingest must decide exactly what the canonical paths decide.

* the one-pass event parser accepts only what :func:`edge.wire.parse_event` accepts, with equal results;
* the SQLite driver-level insert stores timestamps exactly as the ``UTCDateTime`` column does;
* a batch holding replays and seq clashes still sorts them out (the fallback to RETURNING).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select

from central.db.models import Event
from central.db.session import make_engine, make_sessions, upgrade
from central.ingest import batch as ingest_batch
from central.mqtt import Message
from edge import wire
from edge.errors import PayloadError
from tests.central.ingest.conftest import T0, arrived, entered
from tests.central.ingest.test_hostile import TOPIC, hostile


def _slow(topic: str, payload: bytes) -> tuple[wire.Envelope, wire.EventData] | None:
    try:
        return wire.parse_event(topic, payload)
    except (PayloadError, ValidationError, ValueError, TypeError, RecursionError):
        return None


def test_one_pass_parser_accepts_only_what_parse_event_accepts():
    rng = random.Random(3)
    base = json.loads(arrived("s1", "lane-1", 3).to_json())
    raw = json.dumps(base).encode()
    cases = [hostile(rng) for _ in range(3000)] + [
        (TOPIC, raw),
        (TOPIC, raw.replace(b'"seq": 3', b'"seq": 3.0')),
        (TOPIC, raw.replace(b'"seq": 3', b'"seq": NaN')),
        (TOPIC, raw.replace(b'"seq": 3', b'"seq": 3, "seq": 4')),
        (TOPIC, raw.replace(b'"v": 1', b'"v": true')),
        (TOPIC, b"\xef\xbb\xbf" + raw),
        (TOPIC, raw + b"x"),
        (TOPIC.replace("lane-1", "lane-2"), raw),
        (TOPIC.replace("gatepost/v1", "gatepost/v2"), raw),
        (TOPIC.replace("vehicle_arrived", "vehicle_exited"), raw),
    ]
    accepted = 0
    for topic, payload in cases:
        fast = ingest_batch._parse_valid_event(topic.split("/"), payload)
        if fast is None:
            continue
        accepted += 1
        slow = _slow(topic, payload)
        assert slow is not None, payload[:200]
        assert fast == slow and fast[0].data == slow[0].data
    assert accepted > 100  # the valid share of the hostile mix, and the plain valid case
    assert ingest_batch._parse_valid_event(TOPIC.split("/"), raw) is not None


def test_sqlite_timestamps_match_the_column_type():
    engine = make_engine("sqlite://")
    column_type = Event.__table__.c.ts.type
    bind = column_type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    plus8 = timezone(timedelta(hours=8))
    moments = [
        T0,
        T0.replace(microsecond=0),
        T0.replace(microsecond=1),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, 0, 999_999, tzinfo=UTC),
        datetime(2026, 1, 1, 7, 59, 59, 500_000, tzinfo=plus8),
        datetime.now(UTC),
    ]
    for moment in moments:
        assert ingest_batch._sqlite_utc(moment) == bind(moment)


def _message(env: wire.Envelope, at: datetime) -> Message:
    return Message(
        wire.event_topic(env.site, env.device, env.type), env.to_json(), 1, False, 1, at, 1
    )


def test_sqlite_batch_with_replays_and_clashes_falls_back_correctly(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    upgrade(engine)
    sessions = make_sessions(engine)
    at = T0 + timedelta(minutes=5)
    first = [entered("s1", "lane-1", seq, serial=f"A{seq}") for seq in range(1, 6)]
    with sessions.begin() as session:
        report = ingest_batch.process(session, [_message(e, at) for e in first], at)
    assert len(report.events) == 5 and report.duplicates == 0

    clash = arrived("s1", "lane-1", 2)  # a new id on a seq already used
    fresh = [entered("s1", "lane-1", seq) for seq in range(6, 9)]
    second = [first[0], first[3], clash, *fresh]
    later = at + timedelta(minutes=1)
    with sessions.begin() as session:
        report = ingest_batch.process(session, [_message(e, later) for e in second], later)
    assert [e.envelope.id for e in report.events] == [e.id for e in fresh]
    assert report.duplicates == 2
    assert [q.reason for q in report.quarantined] == [
        f"seq 2 of s1/lane-1 already used by event {first[1].id}"
    ]
    with engine.connect() as conn:
        rows = conn.execute(select(Event.id, Event.received_at).order_by(Event.seq)).all()
    assert [r.id for r in rows] == [e.id for e in first + fresh]
    assert [r.received_at for r in rows] == [at] * 5 + [later] * 3
    engine.dispose()

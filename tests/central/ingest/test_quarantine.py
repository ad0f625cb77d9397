"""Every kind of bad payload lands in quarantine with its reason; nothing is dropped."""

from __future__ import annotations

import json

from sqlalchemy import select

from central.db.models import Device, Quarantined
from edge import wire
from tests.central.ingest.conftest import arrived, count, entered, start_worker, wait_until

TOPIC = "gatepost/v1/s1/lane-1/event/vehicle_arrived"


def _good() -> dict:
    return json.loads(arrived("s1", "lane-1", 1).to_json())


def _bad_cases() -> list[tuple[str, bytes, str]]:
    wrong_type = _good() | {"seq": "seven"}
    bad_data = _good() | {"data": {"lane_role": "sideways"}}
    other_device = _good() | {"device": "lane-9"}
    unknown = _good() | {"type": "teleported"}
    nul = json.loads(
        wire.make_event(
            "s1",
            "lane-1",
            3,
            wire.ReaderFault(reader="a", detail="x\x00y"),
            wire.EventType.READER_FAULT,
        ).to_json()
    )
    return [
        (TOPIC, b"{not json", "not JSON"),
        (TOPIC, json.dumps(wrong_type).encode(), "envelope invalid: seq"),
        (TOPIC, json.dumps(bad_data).encode(), "vehicle_arrived data invalid: lane_role"),
        (TOPIC, b"x" * (wire.MAX_PAYLOAD_BYTES + 1), "payload too large"),
        (TOPIC, json.dumps(other_device).encode(), "topic says s1/lane-1, envelope says s1/lane-9"),
        (
            "gatepost/v1/s1/lane-1/event/teleported",
            json.dumps(unknown).encode(),
            "envelope invalid: type",
        ),
        (TOPIC, b"[1, 2, 3]", "envelope is not a JSON object"),
        (TOPIC, b"[" * 100_000, "payload too large"),
        (TOPIC, b"[" * 60_000, "not JSON: nested too deeply"),
        ("gatepost/v1/s1/lane-1/event/reader_fault", json.dumps(nul).encode(), "NUL character"),
        (
            "gatepost/v1/S1!/lane-1/event/vehicle_arrived",
            json.dumps(_good()).encode(),
            "invalid site",
        ),
        ("gatepost/v1/s1/lane-1/status", b"maybe", "status must be 'online' or 'offline'"),
        ("gatepost/v1/s1/lane-1/health", b'{"v": 1}', "health invalid"),
        (TOPIC, b"\xff\xfe\x00binary!", "not JSON"),
    ]


def test_each_bad_kind_is_quarantined_with_its_reason(broker, engine, publisher):
    worker = start_worker(broker.port, engine)
    try:
        cases = _bad_cases()
        infos = [publisher.send(topic, payload) for topic, payload, _ in cases]
        good = entered("s1", "lane-1", 1)
        infos.append(publisher.event(good))
        publisher.flush(infos)
        wait_until(
            lambda: count(engine, Quarantined) == len(cases),
            what="all bad payloads quarantined",
            timeout=5,
        )
        wait_until(lambda: count(engine) == 1, what="the good event stored")
        with engine.connect() as conn:
            rows = conn.execute(select(Quarantined).order_by(Quarantined.id)).all()
        by_payload = {(r.topic, r.size, r.payload): r for r in rows}
        assert len(by_payload) == len(cases)
        for topic, payload, expected in cases:
            row = by_payload[(topic, len(payload), payload[: Quarantined.PAYLOAD_KEEP])]
            assert expected in row.reason, (expected, row.reason)
            assert row.received_at is not None
    finally:
        worker.stop()


def test_status_and_health_update_the_device(broker, engine, publisher):
    worker = start_worker(broker.port, engine)
    try:
        health = wire.Health(
            ts="2026-03-01T08:00:00.000Z",
            role="entry",
            version="0.1.0",
            uptime_s=5,
            outbox_depth=2,
            oldest_unsent_s=1,
            capacity=120,
        )
        publisher.flush(
            [
                publisher.send(wire.status_topic("s1", "lane-1"), wire.ONLINE, retain=True),
                publisher.send(
                    wire.health_topic("s1", "lane-1"),
                    health.model_dump_json().encode(),
                    retain=True,
                ),
            ]
        )
        wait_until(lambda: worker.stats.messages >= 2, what="status and health")
        with engine.connect() as conn:
            row = conn.execute(select(Device)).one()
        assert (row.online, row.role, row.health["outbox_depth"], row.health["capacity"]) == (
            True,
            "entry",
            2,
            120,
        )
        publisher.flush(
            [publisher.send(wire.status_topic("s1", "lane-1"), wire.OFFLINE, retain=True)]
        )
        wait_until(lambda: worker.stats.messages >= 3, what="offline")
        with engine.connect() as conn:
            assert conn.execute(select(Device.online)).scalar_one() is False
    finally:
        worker.stop()

"""10,000 malformed or hostile payloads on event topics: every one quarantined with a reason,
while valid traffic alongside keeps flowing (one of issue 3's fault tests)."""

from __future__ import annotations

import json
import random

from sqlalchemy import func, select

from central.db.models import Quarantined
from edge import wire
from tests.central.ingest.conftest import arrived, count, start_worker, wait_until

HOSTILE = 10_000
VALID = 1_000
TOPIC = "gatepost/v1/s1/lane-1/event/vehicle_arrived"


def _valid_doc(rng: random.Random) -> dict:
    return json.loads(arrived("s1", "lane-1", rng.randint(1, 10**6)).to_json())


def hostile(rng: random.Random) -> tuple[str, bytes]:
    """One payload that breaks the contract, by construction, in one of many ways."""
    doc = _valid_doc(rng)
    kind = rng.randrange(16)
    if kind == 0:
        return TOPIC, rng.randbytes(rng.randint(1, 300))  # line noise
    if kind == 1:
        text = json.dumps(doc).encode()
        return TOPIC, text[: rng.randint(0, len(text) - 1)]  # truncated JSON
    if kind == 2:
        doc["seq"] = rng.choice([-1, 0, 2**63, "one", 1.5, None, [], {}])
    elif kind == 3:
        doc["ts"] = rng.choice(
            ["yesterday", "2026-03-01T08:00:00", 1700000000, "", "2026-13-45T99:99:99Z"]
        )
    elif kind == 4:
        doc["data"] = {"lane_role": rng.choice(["up", 1, None, "'; DROP TABLE events; --"])}
    elif kind == 5:
        doc["data"]["plate"] = "沪" * rng.randint(17, 500)  # longer than any plate
    elif kind == 6:
        doc["device"] = rng.choice(["lane-2", "../../etc", "LANE-1", "lane 1", "<script>"])
    elif kind == 7:
        doc["site"] = rng.choice(["s2", "", "s1/extra", "ş1"])
    elif kind == 8:
        doc["type"] = rng.choice(["vehicle_exited", "vehicle_arrived\x00", "nope", 42])
    elif kind == 9:
        doc["evil"] = {"__proto__": {"admin": True}}  # extra field
    elif kind == 10:
        doc["v"] = rng.choice([0, 2, "1", None])
    elif kind == 11:
        return TOPIC, b"[" * rng.randint(2000, 60_000)  # nesting bomb
    elif kind == 12:
        return TOPIC, b'{"a":"' + b"x" * (
            wire.MAX_PAYLOAD_BYTES + rng.randint(1, 5000)
        ) + b'"}'  # too large
    elif kind == 13:
        doc["data"]["plate"] = "A\x00B"  # NUL: PostgreSQL text cannot hold it
    elif kind == 14:
        del doc[rng.choice(["id", "seq", "ts", "site", "device", "type", "data", "v"])]
    else:
        return rng.choice(
            [
                "gatepost/v1/s1/lane-1/event/vehicle_exited",
                "gatepost/v1/s1/lane-2/event/vehicle_arrived",
            ]
        ), json.dumps(doc).encode()
    return TOPIC, json.dumps(doc).encode()


def test_ten_thousand_hostile_payloads_quarantined_valid_traffic_flows(broker, engine, publisher):
    rng = random.Random(20261127)
    worker = start_worker(broker.port, engine)
    try:
        valid = [arrived("s1", "lane-7", seq) for seq in range(1, VALID + 1)]
        infos = []
        for i in range(HOSTILE):
            infos.append(publisher.send(*hostile(rng)))
            if i % 10 == 0:
                infos.append(publisher.event(valid[i // 10]))
        publisher.flush(infos, timeout=120)
        wait_until(
            lambda: worker.stats.messages >= HOSTILE + VALID,
            timeout=120,
            what="every message processed",
        )
        assert count(engine) == VALID
        assert count(engine, Quarantined) == HOSTILE
        with engine.connect() as conn:
            empty = conn.execute(
                select(func.count())
                .select_from(Quarantined)
                .where(func.length(Quarantined.reason) < 5)
            ).scalar_one()
            kinds = conn.execute(select(func.count(func.distinct(Quarantined.reason)))).scalar_one()
        assert empty == 0
        assert kinds > 50  # the reasons say what was wrong, not one catch-all
        assert worker._thread.is_alive()
    finally:
        worker.stop()

"""A storage fault from the lane agent to central's dashboard and back (real broker, real ingest).

The lane agent (simulated hardware, its real outbox, forwarder and health
reporter) runs against a real Mosquitto and a real central with ingest. The
outbox's SQLite connection is made to refuse writes while a car passes; the
arm must come down, health must carry ``storage``, central must raise
``storage_fault``; once SQLite accepts writes again the events held in memory
reach central's database in the order they happened, none lost, none twice,
and the alarm clears.
"""

from __future__ import annotations

import json

from sqlalchemy import select

from central.db.models import Event
from edge.agent import Agent
from edge.config import load_config
from edge.lane import messages
from edge.lane.machine import BadgeRead
from edge.wire import health_topic
from tests.central.api.harness import start_central
from tests.lane.sim import wait_for
from tests.lane.test_link_faults import _vehicle, lane_config, site_keys  # noqa: F401  (fixture)
from tests.lane.test_storage_faults import allow_writes, deny_writes
from tests.link.helpers import Collector

SITE, DEVICE = "sunrise-garden", "sg-entry-1"
RESIDENT = "0A1B2C3D4E"


def central_events(central) -> list[tuple[int, str]]:
    with central.sessions() as db:
        rows = db.execute(
            select(Event.seq, Event.type)
            .where(Event.site == SITE, Event.device == DEVICE)
            .order_by(Event.seq)
        ).all()
    return [(seq, kind) for seq, kind in rows]


def storage_alarms(client, state: str) -> list[dict]:
    answer = client.get("/api/alarms", params={"state": state, "kind": "storage_fault"})
    answer.raise_for_status()
    return [a for a in answer.json()["items"] if a["device"] == DEVICE]


def test_storage_fault_is_in_health_raises_centrals_alarm_and_the_held_events_arrive_in_order(
    tmp_path,
    site_keys,  # noqa: F811 - the fixture imported above
    broker,
):
    central = start_central(tmp_path / "central", broker.port, alarm_tick_s=0.2)
    path = lane_config(
        tmp_path,
        broker_port=broker.port,
        extra={
            "health_interval_s = 30": "health_interval_s = 5",
            'unattended_mode = "badges_only"': 'unattended_mode = "badges_only"\nstorage_probe_s = 0.2',
        },
    )
    health = Collector(broker.port, health_topic(SITE, DEVICE)).start()
    agent = Agent(load_config(path), state_dir=tmp_path / "state")
    agent.start()
    client = central.client("guard1")
    try:
        lane = agent.lane
        assert agent.link is not None and agent.link.connected.wait(10)
        lane.set_whitelist({RESIDENT: "resident"})
        decided: list[str] = []
        lane.on_effect = lambda e: (
            decided.append(e.event_type.value) if hasattr(e, "event_type") else None
        )
        before = len(agent.outbox.pending(limit=10_000)) + len(central_events(central))
        car = _vehicle(agent)
        car.arrive()
        wait_for(lambda: lane.status().phase == "waiting", what="vehicle waiting")
        lane.submit(BadgeRead(RESIDENT))
        wait_for(lambda: lane.barrier.state == "open", what="the resident's barrier up")
        deny_writes(agent.outbox._emit_db)
        car.drive_through()
        wait_for(
            lambda: lane.barrier.state == "closed",
            what="the arm down although nothing could be stored",
        )
        wait_for(lambda: lane.status().storage_fault, what="storage fault known")
        assert lane.status().message == messages.STORAGE_FAULT.key

        def health_says_fault() -> bool:
            docs = health.messages
            return bool(docs) and json.loads(docs[-1].payload).get("storage", "ok") != "ok"

        wait_for(health_says_fault, timeout=15, what="health carries the storage fault")
        doc = json.loads(health.messages[-1].payload)
        assert (
            "not authorized" in doc["storage"] and doc["storage_since"] and doc["storage_held"] >= 1
        ), doc
        alarm = central.wait_for(
            lambda: storage_alarms(client, "active"), timeout=15, what="central's alarm"
        )[0]
        assert (
            alarm["title_zh"]
            and alarm["title_en"] == "Device storage fault: records cannot be saved"
        )
        assert alarm["severity"] == "critical" and "not authorized" in alarm["detail"]["error"]
        tile = next(d for d in client.get("/api/devices").json()["items"] if d["device"] == DEVICE)
        assert tile["storage"] != "ok"

        allow_writes(agent.outbox._emit_db)
        wait_for(
            lambda: lane.status().storage_fault is None and lane.storage.held == 0,
            timeout=15,
            what="storage recovered",
        )
        expected = before + len(decided)
        stored = central.wait_for(
            lambda: (e := central_events(central)) and len(e) >= expected and e,
            timeout=20,
            what="every event at central",
        )
        seqs = [seq for seq, _ in stored]
        assert seqs == list(range(1, len(seqs) + 1)), "central has a gap or a duplicate"
        assert [kind for _, kind in stored][-len(decided) :] == decided, (
            "held events out of order at central"
        )
        assert len(stored) == expected
        central.wait_for(
            lambda: storage_alarms(client, "cleared"), timeout=15, what="the alarm cleared"
        )
        assert not storage_alarms(client, "active")
    finally:
        client.close()
        agent.stop()
        health.stop()
        central.stop()

"""Central's /metrics after real traffic: a real Mosquitto, ingest, SQLite and uvicorn."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from central.app import create_app
from central.db.session import make_engine, upgrade
from central.settings import load_settings
from edge import wire
from tests.central.api.harness import SimLane, start_central


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) → value, parsed with Prometheus' own text parser."""
    response = httpx.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_scrape(url: str, ready, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if ready(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


@pytest.fixture
def central(tmp_path, broker):
    c = start_central(tmp_path, broker.port, alarm_barrier_open_max_s=60)
    yield c
    c.stop()


def test_metrics_follow_ingest_quarantine_and_alarms(central, broker):
    lane = SimLane("metro", "metro-in-1", broker.port, role="entry").connect()
    try:
        lane.health(outbox_depth=3)
        for n in range(4):
            lane.event(
                wire.BadgeAccepted(badge=f"B{n}", holder_class="resident", direction="in"),
                wire.EventType.BADGE_ACCEPTED,
            )
        # An event the lane kept in its outbox for 40 minutes during an outage.
        late = wire.make_event(
            "metro",
            "metro-in-1",
            next(lane.seq),
            wire.VehicleArrived(lane_role="entry"),
            wire.EventType.VEHICLE_ARRIVED,
            at=wire.utc_now() - timedelta(minutes=40),
        )
        lane.client.publish(
            wire.event_topic("metro", "metro-in-1", "vehicle_arrived"), late.to_json(), qos=1
        ).wait_for_publish(5)
        lane.event(
            wire.IncidentReported(kind="forced_entry", description="drove through the arm"),
            wire.EventType.INCIDENT_REPORTED,
        )
        lane.client.publish(
            wire.event_topic("metro", "metro-in-1", "badge_accepted"), b"{not json", qos=1
        ).wait_for_publish(5)

        samples = wait_scrape(
            central.url,
            lambda s: (
                value(s, "gatepost_quarantine_messages") >= 1
                and value(s, "gatepost_ingest_events_total", site="metro", type="incident_reported")
                >= 1
                and any(k[0] == "gatepost_alarms_open" for k in s)
            ),
        )
    finally:
        lane.close()

    assert value(samples, "gatepost_ingest_events_total", site="metro", type="badge_accepted") == 4
    assert value(samples, "gatepost_ingest_events_total", site="metro", type="vehicle_arrived") == 1
    assert value(samples, "gatepost_quarantine_messages") == 1
    assert value(samples, "gatepost_metrics_db_up") == 1
    # Lag: five fresh events land under a minute, the replayed one in the 30 min – 1 h bucket.
    assert value(samples, "gatepost_ingest_lag_seconds_count") == 6
    assert value(samples, "gatepost_ingest_lag_seconds_bucket", le="60.0") == 5
    assert value(samples, "gatepost_ingest_lag_seconds_bucket", le="900.0") == 5
    assert value(samples, "gatepost_ingest_lag_seconds_bucket", le="3600.0") == 6
    assert 40 * 60 <= value(samples, "gatepost_ingest_lag_seconds_sum") < 41 * 60
    # The worker's own counters: every message it took, quarantined included.
    workers = [labels for (name, labels) in samples if name == "gatepost_ingest_messages_total"]
    assert len(workers) == 1
    assert samples[("gatepost_ingest_messages_total", workers[0])] >= 7
    assert samples[("gatepost_ingest_quarantined_total", workers[0])] == 1
    assert samples[("gatepost_ingest_broker_connected", workers[0])] == 1
    assert value(samples, "gatepost_devices", site="metro", online="true") == 1
    open_alarms = {
        dict(labels)["kind"]: v
        for (name, labels), v in samples.items()
        if name == "gatepost_alarms_open"
    }
    assert open_alarms.get("forced_entry") == 1, open_alarms


def test_metrics_without_ingest_still_answer(tmp_path):
    """``central run --no-ingest``: no worker series, the database ones still there."""
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    upgrade(engine)
    app = create_app(load_settings(db_url=f"sqlite:///{tmp_path}/c.db"), engine=engine)
    with TestClient(app) as client:
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["gatepost_quarantine_messages"].samples[0].value == 0
    assert families["gatepost_metrics_db_up"].samples[0].value == 1
    assert not families["gatepost_ingest_messages"].samples
    engine.dispose()

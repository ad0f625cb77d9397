"""With ingest in another process (``central run --no-ingest``) the dashboard follows the events table instead."""

from __future__ import annotations

import httpx
import pytest

from edge import wire
from tests.central.api.harness import SimLane, start_central


@pytest.fixture
def central_apart(tmp_path, broker):
    c = start_central(tmp_path, broker.port, ingest_in_app=False)
    yield c
    c.stop()


def test_events_reach_the_live_stream_and_alarms_without_the_hook(central_apart, lanes_apart):
    s = central_apart.client("sup")
    lane = lanes_apart("tail-exit")
    central_apart.wait_for(
        lambda: s.get("/api/devices/north/tail-exit").status_code == 200, what="device row"
    )
    seen: list[str] = []
    with (
        httpx.Client(base_url=central_apart.url, cookies=s.cookies, timeout=10) as sse,
        sse.stream("GET", "/api/live") as stream,
    ):
        env = lane.event(
            wire.IncidentReported(kind="forced_entry", description="drove through"),
            wire.EventType.INCIDENT_REPORTED,
        )
        for line in stream.iter_lines():
            if line.startswith("data:") and env.id in line:
                seen.append(line)
                break
    assert seen
    items = central_apart.wait_for(
        lambda: s.get("/api/alarms", params={"state": "active", "kind": "forced_entry"}).json()[
            "items"
        ],
        what="alarm",
    )
    assert items[0]["device"] == "tail-exit"


@pytest.fixture
def lanes_apart(broker):
    made = []

    def make(device):
        lane = SimLane("north", device, broker.port).connect()
        made.append(lane)
        return lane

    yield make
    for lane in made:
        lane.close()

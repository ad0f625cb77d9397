"""Repeated refused requests at a lane's booth console become an alarm at central.

Real processes end to end: the lane agent (simulated hardware, its console over TLS),
Mosquitto, and central (ingest + API on SQLite). Someone keeps trying the console without
signing on; the lane counts the refusals, sends one ``local_access_refused`` event, and
central's alarm list shows it, with what was tried.
"""

from __future__ import annotations

from datetime import UTC, datetime

from central.alarms.kinds import AlarmKind
from central.alarms.rules import from_event
from tests.central.api.harness import start_central
from tests.security.local_pages_support import rid, start_exit_lane
from tests.support.services import MOSQUITTO, Broker, require


def test_the_rule_turns_a_refusal_report_into_a_critical_alarm():
    data = {
        "page": "console",
        "count": 3,
        "window_s": 300,
        "reasons": {"no_session": 3},
        "last_path": "/api/lane/manual-raise",
        "last_peer": "192.0.2.9",
    }
    (signal,) = from_event("s", "lane-1", "local_access_refused", data, datetime.now(UTC))
    assert (signal.action, signal.kind, signal.device) == (
        "raise",
        AlarmKind.LOCAL_ACCESS_REFUSED,
        "lane-1",
    )
    assert (
        signal.detail["reasons"] == {"no_session": 3} and signal.detail["last_peer"] == "192.0.2.9"
    )


def test_repeated_refusals_at_the_console_raise_an_alarm_at_central(tmp_path, monkeypatch):
    require(MOSQUITTO is not None, "mosquitto")
    monkeypatch.setenv("GATEPOST_MQTT_PASSWORD", "unused-by-the-test-broker")
    broker = Broker(tmp_path / "broker").start()
    central = start_central(tmp_path / "central", broker.port)
    lane = start_exit_lane(
        tmp_path / "lane",
        connect=True,
        broker_port=broker.port,
        extra={"refusal_alarm_threshold = 10": "refusal_alarm_threshold = 3"},
    )
    try:
        stranger = lane.client()
        for _ in range(3):
            assert (
                stranger.post(
                    "/api/console/lanes/sg-exit-1/manual-raise",
                    json={"request_id": rid(), "reason": "x"},
                ).status_code
                == 401
            )
        assert lane.lane.barrier.state == "closed"
        sup = central.client("sup")
        try:
            alarms = central.wait_for(
                lambda: [
                    a
                    for a in sup.get("/api/alarms", params={"site": "sunrise-garden"}).json()[
                        "items"
                    ]
                    if a["kind"] == "local_access_refused"
                ],
                timeout=30,
                what="refusal alarm at central",
            )
        finally:
            sup.close()
        (alarm,) = alarms
        assert alarm["device"] == "sg-exit-1" and alarm["severity"] == "critical"
        assert alarm["detail"]["page"] == "console" and alarm["detail"]["reasons"] == {
            "no_session": 3
        }
    finally:
        lane.agent.stop()
        central.stop()
        broker.stop()

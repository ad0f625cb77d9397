"""The same central on PostgreSQL: sign-in, an alarm from a lane's event, the report, the audit trail."""

from __future__ import annotations

import pytest

from central import audit
from edge import wire
from tests.central.api.harness import SimLane, start_central

pytestmark = pytest.mark.postgres


def test_ops_on_postgresql(tmp_path, broker, pg_url):
    central = start_central(tmp_path, broker.port, db_url=pg_url)
    lane = SimLane("pg-site", "pg-exit", broker.port).connect()
    try:
        s = central.client("sup")
        lane.event(
            wire.PaymentConfirmed(serial="PG1", fee_minor=800, currency="CNY", method="cash"),
            wire.EventType.PAYMENT_CONFIRMED,
        )
        lane.event(
            wire.BarrierFault(expected="closed", detail="motor"), wire.EventType.BARRIER_FAULT
        )
        alarm = central.wait_for(
            lambda: s.get("/api/alarms", params={"state": "active", "site": "pg-site"}).json()[
                "items"
            ],
            what="alarm",
        )[0]
        assert alarm["kind"] == "barrier_fault"
        assert (
            s.post(f"/api/alarms/{alarm['id']}/ack", json={"note": "tech called"}).json()["state"]
            == "active_acknowledged"
        )
        assert (
            s.get("/api/reports/daily", params={"site": "pg-site"}).json()["revenue_minor"] == 800
        )
        assert (
            s.get("/api/events", params={"site": "pg-site", "type": "payment_confirmed"}).json()[
                "items"
            ][0]["data"]["fee_minor"]
            == 800
        )
        with central.sessions() as db:
            assert [e.action for e in audit.entries(db, action="alarm.acknowledge")] == [
                "alarm.acknowledge"
            ]
    finally:
        lane.close()
        central.stop()

"""Every alarm kind, end to end: a simulated lane publishes, ingest stores, the monitor raises.

Then acknowledge and clear through the API, with the audit trail.
"""

from __future__ import annotations

import pytest

from central import audit
from edge import wire


def active(central, client, kind: str, device: str | None, site: str = "north"):
    items = client.get(
        "/api/alarms", params={"state": "active", "kind": kind, "site": site}
    ).json()["items"]
    return [a for a in items if device is None or a["device"] == device]


def wait_active(central, client, kind, device, site="north"):
    return central.wait_for(
        lambda: active(central, client, kind, device, site),
        timeout=15,
        what=f"{kind} alarm on {device}",
    )[0]


def wait_cleared(central, client, kind, device, site="north"):
    central.wait_for(
        lambda: not active(central, client, kind, device, site),
        timeout=15,
        what=f"{kind} cleared on {device}",
    )


def test_device_offline_from_last_will_then_back_online(central, lanes):
    s = central.client("sup")
    lane = lanes("al-offline")
    central.wait_for(
        lambda: s.get("/api/devices/north/al-offline").status_code == 200, what="device row"
    )
    lane.kill()  # no DISCONNECT: the broker publishes the Last Will
    alarm = wait_active(central, s, "device_offline", "al-offline")
    assert alarm["state"] == "active_unacknowledged" and alarm["severity"] == "critical"
    assert alarm["detail"]["cause"] == "last_will"
    lanes("al-offline")  # the lane comes back
    wait_cleared(central, s, "device_offline", "al-offline")


def test_barrier_fault(central, lanes):
    s = central.client("sup")
    lanes("al-fault").event(
        wire.BarrierFault(expected="closed", detail="limit switch not reached in 6 s"),
        wire.EventType.BARRIER_FAULT,
    )
    alarm = wait_active(central, s, "barrier_fault", "al-fault")
    assert alarm["detail"]["detail"] == "limit switch not reached in 6 s"


def test_barrier_held_open_then_closed(central, lanes):
    s = central.client("sup")
    lane = lanes("al-held")
    lane.event(wire.BarrierMoved(cause="payment"), wire.EventType.BARRIER_OPENED)
    wait_active(central, s, "barrier_held_open", "al-held")  # threshold is 1 s in this module
    lane.event(wire.BarrierMoved(cause="vehicle_passed"), wire.EventType.BARRIER_CLOSED)
    wait_cleared(central, s, "barrier_held_open", "al-held")


@pytest.mark.parametrize(
    ("incident", "kind"), [("forced_entry", "forced_entry"), ("dispute", "incident")]
)
def test_incident_reports(central, lanes, incident, kind):
    s = central.client("sup")
    device = f"al-{incident.replace('_', '-')}"
    lanes(device).event(
        wire.IncidentReported(
            kind=incident, description="车辆强行闯杆 / drove through", plate="粤B12345"
        ),
        wire.EventType.INCIDENT_REPORTED,
    )
    alarm = wait_active(central, s, kind, device)
    assert alarm["detail"]["plate"] == "粤B12345"


@pytest.mark.parametrize("reason", ["forged", "already_used"])
def test_forged_or_reused_ticket(central, lanes, reason):
    s = central.client("sup")
    device = f"al-ticket-{reason.replace('_', '-')}"
    lanes(device).event(
        wire.TicketRejected(reason=reason, serial="T0001"), wire.EventType.TICKET_REJECTED
    )
    assert wait_active(central, s, "forged_or_reused_ticket", device)["detail"]["reason"] == reason


def test_half_written_ticket_is_not_a_forgery(central, lanes):
    s = central.client("sup")
    lane = lanes("al-half")
    lane.event(wire.TicketRejected(reason="half_written"), wire.EventType.TICKET_REJECTED)
    lane.event(
        wire.BarrierFault(expected="open"), wire.EventType.BARRIER_FAULT
    )  # a marker that the first was processed
    wait_active(central, s, "barrier_fault", "al-half")
    assert not active(central, s, "forged_or_reused_ticket", "al-half")


def test_lot_full_from_a_refused_entry(central, lanes):
    s = central.client("sup")
    lanes("al-entry", site="full-site", role="entry").event(
        wire.EntryRefusedFull(occupied=50, capacity=50), wire.EventType.ENTRY_REFUSED_FULL
    )
    alarm = wait_active(central, s, "lot_full", "", site="full-site")
    assert alarm["severity"] == "info" and alarm["detail"]["lane"] == "al-entry"


def test_seq_gap_raised_then_cleared_when_late_events_arrive(central, lanes):
    s = central.client("sup")
    lane = lanes("al-gap")
    lane.event(wire.VehicleArrived(lane_role="exit"), wire.EventType.VEHICLE_ARRIVED)  # seq 1
    lane.seq = iter([5, 2, 3, 4])
    lane.event(
        wire.VehicleArrived(lane_role="exit"), wire.EventType.VEHICLE_ARRIVED
    )  # seq 5: 2..4 missing
    alarm = wait_active(central, s, "seq_gap", "al-gap")
    assert alarm["detail"]["missing"] == 3
    for _ in range(3):
        lane.event(wire.VehicleArrived(lane_role="exit"), wire.EventType.VEHICLE_ARRIVED)
    wait_cleared(central, s, "seq_gap", "al-gap")


def test_outbox_backlog_from_health_and_recovery(central, lanes):
    s = central.client("sup")
    lane = lanes("al-backlog")
    lane.health(outbox_depth=800, oldest_unsent_s=900)
    assert wait_active(central, s, "outbox_backlog", "al-backlog")["detail"]["depth"] == 800
    lane.health(outbox_depth=0, oldest_unsent_s=0)
    wait_cleared(central, s, "outbox_backlog", "al-backlog")


def test_outbox_backlog_event(central, lanes):
    s = central.client("sup")
    lanes("al-backlog-ev").event(
        wire.OutboxBacklog(depth=9000, bound=10000), wire.EventType.OUTBOX_BACKLOG
    )
    assert wait_active(central, s, "outbox_backlog", "al-backlog-ev")["detail"]["bound"] == 10000


def test_clock_skew(central, lanes):
    s = central.client("sup")
    lane = lanes("al-skew")
    lane.health(clock_skew_ms=-42_000, clock_synced=False)
    assert wait_active(central, s, "clock_skew", "al-skew")["detail"]["skew_ms"] == -42_000
    lane.health(clock_skew_ms=120, clock_synced=True)
    wait_cleared(central, s, "clock_skew", "al-skew")


def test_repeat_refreshes_the_one_active_alarm_then_ack_and_clear(central, lanes):
    s = central.client("sup")
    lane = lanes("al-repeat")
    for _ in range(3):
        lane.event(
            wire.IncidentReported(kind="forced_entry", description="again"),
            wire.EventType.INCIDENT_REPORTED,
        )
    central.wait_for(
        lambda: (
            active(central, s, "forced_entry", "al-repeat")
            and active(central, s, "forced_entry", "al-repeat")[0]["count"] == 3
        ),
        what="count 3",
    )
    assert len(active(central, s, "forced_entry", "al-repeat")) == 1
    alarm_id = active(central, s, "forced_entry", "al-repeat")[0]["id"]
    acked = s.post(
        f"/api/alarms/{alarm_id}/ack", json={"note": "保安已到场 / guard on the way"}
    ).json()
    assert acked["state"] == "active_acknowledged" and acked["acked_by"] == "sup"
    lane.event(
        wire.IncidentReported(kind="forced_entry", description="once more"),
        wire.EventType.INCIDENT_REPORTED,
    )
    central.wait_for(
        lambda: active(central, s, "forced_entry", "al-repeat")[0]["count"] == 4, what="count 4"
    )
    assert active(central, s, "forced_entry", "al-repeat")[0]["state"] == "active_acknowledged"
    assert s.post(f"/api/alarms/{alarm_id}/clear", json={"reason": ""}).status_code == 422
    cleared = s.post(
        f"/api/alarms/{alarm_id}/clear", json={"reason": "plate reported to police"}
    ).json()
    assert cleared["state"] == "cleared" and cleared["cleared_by"] == "sup"
    assert s.post(f"/api/alarms/{alarm_id}/ack", json={}).status_code == 409
    assert s.post("/api/alarms/999999/ack", json={}).status_code == 404
    with central.sessions() as db:
        actions = [
            (e.action, e.reason)
            for e in audit.entries(db, actor="sup")
            if e.target.startswith(f"alarm:{alarm_id} ")
        ]
    assert ("alarm.acknowledge", "保安已到场 / guard on the way") in actions and (
        "alarm.clear",
        "plate reported to police",
    ) in actions


def test_guard_cannot_acknowledge(central, lanes):
    s = central.client("sup")
    lanes("al-guard").event(wire.BarrierFault(expected="open"), wire.EventType.BARRIER_FAULT)
    alarm = wait_active(central, s, "barrier_fault", "al-guard")
    r = central.client("guard1").post(f"/api/alarms/{alarm['id']}/ack", json={"note": "ok"})
    assert r.status_code == 403
    assert active(central, s, "barrier_fault", "al-guard")[0]["state"] == "active_unacknowledged"

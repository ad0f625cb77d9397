"""Events (filters, paging), tickets, shifts, occupancy and the daily report with its CSV export."""

from __future__ import annotations

import csv
import io

from paho.mqtt import publish

from central import audit
from central.reports import build_daily, money, to_csv
from edge import wire


def pay(lane, serial, fee, guard="zhang", cls="car", method="cash", minutes=90):
    lane.event(
        wire.PaymentConfirmed(
            serial=serial,
            fee_minor=fee,
            currency="CNY",
            method=method,
            minutes=minutes,
            vehicle_class=cls,
            guard=guard,
        ),
        wire.EventType.PAYMENT_CONFIRMED,
    )


def test_event_filters_and_paging(central, lanes):
    s = central.client("guard1")
    lane = lanes("rec-exit", site="rec")
    for i in range(7):
        lane.event(
            wire.VehicleArrived(lane_role="exit", plate=f"粤B{i:05d}"),
            wire.EventType.VEHICLE_ARRIVED,
        )
    lane.event(wire.BarrierMoved(cause="payment"), wire.EventType.BARRIER_OPENED)
    central.wait_for(
        lambda: (
            len(s.get("/api/events", params={"site": "rec", "limit": 100}).json()["items"]) == 8
        ),
        what="8 events",
    )
    first = s.get(
        "/api/events", params={"site": "rec", "type": "vehicle_arrived", "limit": 5}
    ).json()
    assert len(first["items"]) == 5 and first["next_offset"] == 5
    second = s.get(
        "/api/events", params={"site": "rec", "type": "vehicle_arrived", "limit": 5, "offset": 5}
    ).json()
    assert len(second["items"]) == 2 and second["next_offset"] is None
    seqs = [e["seq"] for e in first["items"] + second["items"]]
    assert seqs == sorted(seqs, reverse=True)
    assert (
        s.get("/api/events", params={"device": "rec-exit", "type": "barrier_opened"}).json()[
            "items"
        ][0]["data"]["cause"]
        == "payment"
    )
    assert (
        s.get("/api/events", params={"site": "rec", "since": "2999-01-01T00:00:00Z"}).json()[
            "items"
        ]
        == []
    )
    assert s.get("/api/events", params={"site": "BAD/SITE"}).status_code == 422
    assert s.get("/api/events", params={"type": "nonsense"}).status_code == 422


def test_daily_report_and_csv_export(central, lanes):
    s = central.client("sup")
    a, b = lanes("rep-exit-a", site="rep"), lanes("rep-exit-b", site="rep")
    pay(a, "S1", 1500)
    pay(a, "S2", 0, method="none", minutes=10)  # grace period
    pay(b, "S3", 4000, guard="li", cls="truck", method="epay", minutes=200)
    b.event(
        wire.LostTicket(serial="S9", plate="粤B99999", fee_minor=10000, currency="CNY"),
        wire.EventType.LOST_TICKET,
    )
    pay(b, "S9", 10000, guard="li")
    a.event(
        wire.FreeExit(serial="S4", reason="业主访客 / resident's guest", authorised_by="sup"),
        wire.EventType.FREE_EXIT,
    )
    a.event(
        wire.ManualAction(reason="remote", by="sup", request_id="r1"), wire.EventType.MANUAL_RAISE
    )
    now = wire.format_ts(wire.utc_now())
    a.event(
        wire.ShiftClosed(
            shift_id="sh1",
            guard="zhang",
            post="north-booth",
            opened_at=now,
            closed_at=now,
            fees_by_method={"cash": 1500},
            expected_cash_minor=1500,
            declared_cash_minor=1400,
            currency="CNY",
        ),
        wire.EventType.SHIFT_CLOSED,
    )
    report = central.wait_for(
        lambda: (r := s.get("/api/reports/daily", params={"site": "rep"}).json())["shifts"] and r,
        what="report with the shift",
    )
    assert report["revenue_minor"] == 1500 + 4000 + 10000
    assert report["by_lane"] == {"rep-exit-a": 1500, "rep-exit-b": 14000}
    assert report["by_class"] == {"car": 11500, "truck": 4000}
    assert report["by_method"] == {"cash": 11500, "epay": 4000, "none": 0}
    assert report["shifts"][0]["variance_minor"] == -100
    st = report["stats"]
    assert (
        st["grace_exits"],
        st["lost_tickets"],
        st["exemptions"],
        st["manual_raises"],
        st["remote_raises"],
    ) == (1, 1, 1, 1, 1)
    assert st["average_stay_min"] == round((90 + 10 + 200 + 90) / 4)
    r = s.get("/api/reports/daily.csv", params={"site": "rep"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert ["revenue 收入", "total 合计", "155.00", "CNY"] in rows
    assert ["shift variance 差额", "sh1", "-1.00", "CNY"] in rows
    with central.sessions() as db:
        assert any(
            e.action == "report.export" and e.target.startswith("rep ")
            for e in audit.entries(db, actor="sup")
        )
    page = s.get("/reports/daily", params={"site": "rep", "lang": "en"})
    assert page.status_code == 200 and "155.00" in page.text and "Daily report" in page.text


def test_csv_defuses_formula_injection():
    report = build_daily(
        "x",
        wire.utc_now().date(),
        "UTC",
        [("lane", "payment_confirmed", {"fee_minor": 100, "guard": '=HYPERLINK("http://evil")'})],
    )
    assert "'=HYPERLINK" in to_csv(report)
    assert money(-5) == "-0.05" and money(123456) == "1234.56"


def test_report_rejects_bad_input(central):
    s = central.client("sup")
    assert s.get("/api/reports/daily", params={"site": "../etc"}).status_code == 422
    assert s.get("/api/reports/daily", params={"site": "x", "day": "not-a-date"}).status_code == 422


def test_shifts_on_duty_and_reconciliation(central, lanes):
    s = central.client("guard1")
    lane = lanes("shift-exit", site="shift")
    lane.event(
        wire.GuardShift(guard="zhang", post="north-booth", shift_id="s1"),
        wire.EventType.GUARD_SIGNED_ON,
    )
    central.wait_for(
        lambda: s.get("/api/shifts/on-duty", params={"site": "shift"}).json()["items"],
        what="guard on duty",
    )
    now = wire.format_ts(wire.utc_now())
    lane.event(
        wire.ShiftClosed(
            shift_id="s1",
            guard="zhang",
            incoming_guard="li",
            post="north-booth",
            opened_at=now,
            closed_at=now,
            expected_cash_minor=5000,
            declared_cash_minor=5200,
            currency="CNY",
        ),
        wire.EventType.SHIFT_CLOSED,
    )
    lane.event(
        wire.GuardShift(guard="li", post="north-booth", shift_id="s2"),
        wire.EventType.GUARD_SIGNED_ON,
    )
    central.wait_for(
        lambda: (
            [
                g["guard"]
                for g in s.get("/api/shifts/on-duty", params={"site": "shift"}).json()["items"]
            ]
            == ["li"]
        ),
        what="li on duty",
    )
    shifts = s.get("/api/shifts", params={"site": "shift"}).json()["items"]
    assert shifts[0]["variance_minor"] == 200 and shifts[0]["incoming_guard"] == "li"


def test_tickets_and_occupancy(central, lanes):
    s = central.client("guard1")
    entry = lanes("occ-entry", site="occ", role="entry")
    now = wire.format_ts(wire.utc_now())
    entry.event(
        wire.TicketIssued(
            serial="OCC1", entry_at=now, vehicle_class="car", medium="card", key_id=1
        ),
        wire.EventType.TICKET_ISSUED,
    )
    entry.event(wire.VehiclePassed(serial="OCC1"), wire.EventType.VEHICLE_ENTERED)
    t = central.wait_for(
        lambda: (r := s.get("/api/tickets/OCC1")).status_code == 200 and r.json(), what="ticket"
    )
    assert t["site"] == "occ" and t["entry_device"] == "occ-entry"
    assert s.get("/api/tickets", params={"site": "occ"}).json()["items"][0]["serial"] == "OCC1"
    assert s.get("/api/tickets/NOPE").status_code == 404
    occ = central.wait_for(
        lambda: [o for o in s.get("/api/occupancy").json()["items"] if o["site"] == "occ"],
        what="occupancy",
    )
    assert occ[0]["occupied"] == 1
    hist = s.get("/api/occupancy/occ/history").json()
    assert hist["site"] == "occ" and isinstance(hist["points"], list)


def test_printable_report_escapes_hostile_names(central, lanes):
    s = central.client("sup")
    lane = lanes("esc-exit", site="esc")
    pay(lane, "E1", 100, guard="<script>alert(1)</script>")
    central.wait_for(
        lambda: s.get("/api/reports/daily", params={"site": "esc"}).json()["revenue_minor"] == 100,
        what="payment",
    )
    page = s.get("/reports/daily", params={"site": "esc"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_visitors_on_site_hook(central):
    s = central.client("guard1")
    # The visitor log (central/visitors) registers itself as the count provider: nobody checked in yet.
    assert s.get("/api/visitors/on-site-count", params={"site": "north"}).json() == {
        "site": "north",
        "count": 0,
    }
    saved = central.app.state.ops.visitor_count
    ops = central.app.state.ops
    ops.visitor_count = lambda db, site: 7 if site == "north" else 0
    try:
        assert s.get("/api/visitors/on-site-count", params={"site": "north"}).json()["count"] == 7
    finally:
        ops.visitor_count = saved


def test_quarantine_is_visible_to_supervisors(central, mod_broker):

    publish.single(
        "gatepost/v1/north/q-lane/event/vehicle_arrived",
        b"{not json",
        qos=1,
        hostname="127.0.0.1",
        port=mod_broker.port,
    )
    s = central.client("sup")
    items = central.wait_for(
        lambda: [q for q in s.get("/api/quarantine").json()["items"] if "q-lane" in q["topic"]],
        what="quarantined",
    )
    assert "not JSON" in items[0]["reason"] and items[0]["preview"] == "{not json"
    assert central.client("guard1").get("/api/quarantine").status_code == 403

"""The console with a real broker and a real central: handover reconciliation, and the broker going away."""

from __future__ import annotations

import pytest

from edge.link import Forwarder, MqttLink
from tests.central.api.harness import PASSWORD, start_central
from tests.console.test_console_browser import lane, open_console
from tests.lane.sim import wait_for

pytestmark = pytest.mark.browser


@pytest.fixture
def central(tmp_path, broker):
    c = start_central(tmp_path / "central", broker.port)
    yield c
    c.stop()


@pytest.fixture
def linked(broker):
    """Connect a post's lanes to the broker the way the agent does: outbox → forwarder → MQTT."""
    parts: list = []

    def link(post):
        for name, sim in post.lanes.items():
            # a short backoff cap: with the field default (30 s) a slow run can leave the
            # lane's next retry past the test's wait after the broker comes back
            mqtt = MqttLink(
                "demo", name, host="127.0.0.1", port=broker.port, role=sim.role, reconnect_max_s=2
            )
            forwarder = Forwarder(sim.outbox, mqtt)
            forwarder.start()
            mqtt.start()
            parts.append((forwarder, mqtt))

    yield link
    for forwarder, mqtt in parts:
        forwarder.stop()
        mqtt.stop()


def central_events(central, event_type: str) -> list[dict]:
    s = central.client("sup")
    try:
        return s.get("/api/events", params={"site": "demo", "type": event_type}).json()["items"]
    finally:
        s.close()


def test_sign_on_pay_and_handover_with_a_cash_variance_shown_on_central(
    page, make_post, central, linked
):
    post = make_post()
    linked(post)
    sim = post.lanes["exit-1"]
    open_console(page, post)
    car = post.car_with_ticket("exit-1", 90)
    fee = sim.payments.due.fee_minor
    lane(page, "exit-1").locator("button[data-action='pay-cash']:not([disabled])").click()
    wait_for(lambda: sim.barrier.state == "open", what="barrier open")
    car.drive_through()
    # the outbox empties as the broker takes each event: the console's ledger keeps the shift's copy
    wait_for(lambda: post.store.last_event("exit-1", "vehicle_exited"), what="exit recorded")

    page.click("#handover-btn")
    page.wait_for_selector("#handover-dialog[open]")
    assert page.text_content("#shift-expected") == f"{fee // 100}.{fee % 100:02d} CNY"
    declared = fee - 100  # one yuan short
    page.fill("#declared-cash", f"{declared // 100}.{declared % 100:02d}")
    page.fill("#incoming-id", "g002")
    page.fill("#incoming-pin", "5678")
    page.click("#handover-submit")
    page.wait_for_selector("#handover-report:not([hidden])")
    assert page.text_content("#report-variance") == "-1.00 CNY"
    assert "岗务交接单" in page.text_content("#report-lines")
    assert "岗务交接单".encode("gb18030") in post.printer.captured
    page.click("#handover-dialog .cancel")
    page.wait_for_selector("#duty >> text=g002 李娜")

    closed = central.wait_for(
        lambda: central_events(central, "shift_closed"), timeout=15, what="shift_closed at central"
    )
    data = closed[0]["data"]
    assert (data["expected_cash_minor"], data["declared_cash_minor"]) == (fee, declared)
    assert data["counts"]["payments"] == 1 and data["incoming_guard"] == "g002 李娜"

    page.goto(f"{central.url}/dashboard/shifts")
    page.wait_for_url("**/login?next=/dashboard/shifts")
    page.fill("#username", "sup")
    page.fill("#password", PASSWORD)
    page.click("#login-btn")
    page.wait_for_url("**/dashboard/shifts")
    row = page.wait_for_selector(f"tr[data-shift-id='{data['shift_id']}']")
    assert "-1.00 CNY" in row.query_selector("td.variance").text_content()
    assert row.query_selector("td.expected").text_content() == f"{fee // 100}.{fee % 100:02d} CNY"
    assert (
        row.query_selector("td.declared").text_content()
        == f"{declared // 100}.{declared % 100:02d} CNY"
    )
    page.wait_for_selector("#on-duty >> text=g002 李娜")


def test_console_keeps_serving_with_the_broker_down_and_events_arrive_after(
    page, make_post, central, linked, broker
):
    post = make_post()
    linked(post)
    sim = post.lanes["exit-1"]
    open_console(page, post)
    central.wait_for(
        lambda: central_events(central, "guard_signed_on"), timeout=15, what="sign-on at central"
    )

    # A clean stop: the broker saves its sessions, as a restarted site broker has them. (A SIGKILL
    # within its autosave interval forgets central's subscription; tests/faults covers crashes.)
    broker.stop()
    card = lane(page, "exit-1")
    card.locator("button[data-action='incident']").click()
    page.select_option("#action-form select[name='kind']", "forced_entry")
    page.fill("#action-form textarea[name='description']", "白色轿车跟车强行进入 tailgated through")
    page.fill("#action-form input[name='plate']", "粤B99999")
    page.click("#action-submit")
    page.locator("#toast.show", has_text="事件已上报").wait_for()
    card.locator("button[data-action='manual-raise']").click()
    page.fill("#action-form textarea[name='reason']", "消防检查 fire inspection")
    page.click("#action-submit")
    wait_for(lambda: sim.barrier.state == "open", what="barrier open with the broker down")
    assert {"incident_reported", "manual_raise"} <= {
        row.event_type for row in sim.outbox.pending(limit=1000)
    }
    assert not central_events(central, "incident_reported")

    broker.start()  # same port, the broker's own persistence
    incident = central.wait_for(
        lambda: central_events(central, "incident_reported"), timeout=30, what="incident at central"
    )
    assert (
        incident[0]["data"]["kind"] == "forced_entry"
        and incident[0]["data"]["guard"] == "g001 王强"
    )
    central.wait_for(
        lambda: central_events(central, "manual_raise"), timeout=15, what="manual raise at central"
    )
    s = central.client("sup")
    # Other alarms (a lane seen offline while the broker was down) may come first: wait for this one.
    alarms = central.wait_for(
        lambda: [
            a
            for a in s.get("/api/alarms", params={"site": "demo"}).json()["items"]
            if a["kind"] in ("forced_entry", "incident")
        ],
        what="incident alarm",
    )
    s.close()
    assert alarms
    wait_for(lambda: sim.outbox.depth == 0, timeout=15, what="outbox drained")

"""The supervisor's dashboard in Debian's Chromium, against a real central, broker and simulated lanes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from central import audit
from edge import wire

pytestmark = pytest.mark.browser


def device_known(central, device, site="north"):
    s = central.client("sup")
    central.wait_for(
        lambda: s.get(f"/api/devices/{site}/{device}").status_code == 200, what=f"device {device}"
    )


def test_sign_in_and_wrong_password(page, central):
    page.goto(f"{central.url}/login")
    page.fill("#username", "sup")
    page.fill("#password", "not-the-password")
    page.click("#login-btn")
    page.wait_for_selector("#login-error:not(:empty)")
    assert "wrong username or password" in page.text_content("#login-error")
    page.fill("#password", "correct-horse-battery")
    page.click("#login-btn")
    page.wait_for_url("**/dashboard")
    page.wait_for_selector("body[data-ready='1']")
    assert "sup" in page.text_content("#who")


def test_published_event_appears_in_the_feed_live(sign_in, central, lanes):
    """Pushed to the open page, no reload (its latency is measured by tests/bench/dashboard.py)."""
    lane = lanes("ui-exit")
    device_known(central, "ui-exit")
    page = sign_in("sup")
    page.wait_for_selector("#live-state.on")
    env = lane.event(
        wire.PaymentConfirmed(serial="UI1", fee_minor=1250, currency="CNY", method="cash"),
        wire.EventType.PAYMENT_CONFIRMED,
    )
    row = page.wait_for_selector(f"tr[data-event-id='{env.id}']", timeout=20_000)
    assert "12.50 CNY" in row.text_content()
    assert page.text_content(".tile[data-device='ui-exit'] dd.last").startswith("已收费")


def test_hostile_text_is_shown_as_text(sign_in, central, lanes):
    lane = lanes("ui-hostile")
    device_known(central, "ui-hostile")
    page = sign_in("sup")
    page.wait_for_selector("#live-state.on")
    evil = "<img src=x onerror=window.__pwned=1>"
    env = lane.event(
        wire.IncidentReported(kind="dispute", description=evil), wire.EventType.INCIDENT_REPORTED
    )
    row = page.wait_for_selector(f"tr[data-event-id='{env.id}']")
    assert evil in row.text_content()
    alarm = page.wait_for_selector("li.alarm[data-kind='incident'] >> text=ui-hostile")
    assert (
        evil in page.locator("li.alarm[data-kind='incident']", has_text="ui-hostile").text_content()
    )
    assert alarm is not None
    assert page.evaluate("window.__pwned === undefined")
    assert page.query_selector("img") is None


def test_offline_device_raises_an_alarm_acknowledged_in_the_page(sign_in, central, lanes):
    lane = lanes("ui-offline")
    device_known(central, "ui-offline")
    page = sign_in("sup")
    page.wait_for_selector("#live-state.on")
    lane.kill()  # connection dropped: the broker publishes the Last Will
    item = page.wait_for_selector(
        "li.alarm[data-kind='device_offline'] >> text=ui-offline", timeout=8000
    )
    li = page.locator("li.alarm[data-kind='device_offline']", has_text="ui-offline")
    assert "active_unacknowledged" in li.get_attribute("class")
    assert page.locator(".tile[data-device='ui-offline']").get_attribute("class").split() == [
        "tile",
        "offline",
    ]
    li.locator("button.ack").click()
    page.wait_for_selector(
        "li.alarm.active_acknowledged[data-kind='device_offline'] >> text=ui-offline"
    )
    assert item is not None
    with central.sessions() as db:
        assert any(
            e.action == "alarm.acknowledge" and "ui-offline" in e.target
            for e in audit.entries(db, actor="sup")
        )


def test_remote_raise_with_confirmation_reaches_the_lane_and_is_audited(sign_in, central, lanes):
    lane = lanes("ui-raise")
    device_known(central, "ui-raise")
    page = sign_in("sup")
    page.click(".tile[data-device='ui-raise'] button.raise")
    page.click("#raise-next")  # no reason yet: refused
    assert page.text_content("#raise-result") == "请填写原因"
    page.fill("#raise-reason", "救护车通行 / ambulance")
    page.click("#raise-next")
    assert (
        page.is_visible("#raise-step2") and not lane.commands
    )  # nothing sent before the confirmation
    page.click("#raise-confirm")
    page.wait_for_selector("#raise-result[data-status='done']", timeout=5000)
    assert [c.args["reason"] for c in lane.commands] == ["救护车通行 / ambulance"]
    with central.sessions() as db:
        (entry,) = [
            e for e in audit.entries(db, action="command.raise") if e.target == "north/ui-raise"
        ]
    assert entry.actor == "sup" and entry.reason == "救护车通行 / ambulance"


def test_csv_export(sign_in, central, lanes):
    lane = lanes("ui-csv")
    lane.event(
        wire.PaymentConfirmed(serial="CSV1", fee_minor=2000, currency="CNY", method="cash"),
        wire.EventType.PAYMENT_CONFIRMED,
    )
    device_known(central, "ui-csv")
    page = sign_in("sup")
    page.wait_for_function("document.querySelector('#report-csv').href.includes('daily.csv')")
    with page.expect_download() as info:
        page.click("#report-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert ["lane 车道", "ui-csv", "20.00", "CNY"] in rows
    with central.sessions() as db:
        assert any(e.action == "report.export" for e in audit.entries(db, actor="sup"))


def test_language_switch(sign_in, central):
    page = sign_in("sup", lang="zh-CN")
    assert page.text_content("#feed-h") == "实时事件"
    page.click("#lang-toggle")
    assert page.text_content("#feed-h") == "Live events"
    assert page.evaluate("document.documentElement.lang") == "en"
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#feed-h") == "Live events"  # remembered
    page.click("#lang-toggle")
    assert page.text_content("#alarms-h span") == "告警"


def test_guard_is_refused_a_supervisor_action(sign_in, central, lanes):
    lanes("ui-guard")
    device_known(central, "ui-guard")
    page = sign_in("guard1")
    page.wait_for_selector(".tile[data-device='ui-guard']")
    assert (
        page.query_selector(".tile[data-device='ui-guard'] button.raise") is None
    )  # no button for a guard
    assert page.query_selector("li.alarm button.ack") is None
    # and the API refuses the same action even if the guard crafts the request in the page
    status = page.evaluate(
        """async () => {
            const me = await (await fetch('/api/auth/me')).json();
            const r = await fetch('/api/devices/north/ui-guard/commands/raise', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token},
                body: JSON.stringify({reason: 'guard tries'})});
            return r.status;
        }"""
    )
    assert status == 403
    with central.sessions() as db:
        assert any(
            e.outcome == "denied" and e.action == "command"
            for e in audit.entries(db, actor="guard1")
        )


def test_readable_on_a_wall_screen_and_a_laptop(sign_in, central, lanes):
    lanes("ui-layout")
    device_known(central, "ui-layout")
    page = sign_in("sup")
    for width, height in ((1920, 1080), (1366, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(100)
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"horizontal scroll at {width}x{height}"
        assert (
            page.is_visible("#alarm-list")
            and page.is_visible("#lane-tiles")
            and page.is_visible("#occ-chart")
        )


def test_capacity_change_from_the_page_is_pushed_and_audited(sign_in, central, lanes):
    lanes("ui-cap-entry", role="entry")
    device_known(central, "ui-cap-entry")
    page = sign_in("sup")
    page.fill("#cap-capacity", "80")
    page.fill("#cap-reserved", "5")
    page.fill("#cap-reason", "二期车位启用 / phase 2 bays open")
    page.click("#capacity-form button[type=submit]")
    page.wait_for_selector("#cap-result[data-status='ok']")
    sites = {s["site"]: s for s in central.client("sup").get("/api/sites").json()["items"]}
    assert sites["north"]["capacity"] == 80 and sites["north"]["reserved"] == 5
    with central.sessions() as db:
        (entry,) = [e for e in audit.entries(db, action="config.capacity") if e.target == "north"]
    assert entry.actor == "sup" and entry.detail == {"capacity": 80, "reserved": 5}


def test_guard_sees_no_capacity_form(sign_in, central):
    page = sign_in("guard1")
    assert not page.is_visible("#capacity-form") and not page.is_visible("#report-csv")

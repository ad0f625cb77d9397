"""Central's visitor pages in Debian chromium: sign in, search, on-site list, evacuation list,
a host's invitation QR, and the supervisor's block list."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect

from edge import wire
from edge.hw.qr import decode_qr_image
from edge.wire import EventType
from tests.central.api.harness import PASSWORD
from tests.central.visitors.conftest import INVITE_KEY
from tests.central.visitors.test_visitor_log import Listener, checked_in, visit

pytestmark = [pytest.mark.browser, pytest.mark.mqtt]


def sign_in(page, central, user: str) -> None:
    page.goto(central.url + "/login")
    page.fill("input[name=username], #username", user)
    page.fill("input[name=password], #password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard")


def test_guard_searches_and_prints_the_evacuation_list(page, central, kiosk):
    k = kiosk("page-lobby", site="east")
    here = checked_in("<b>Bold</b> Name", host="Host A", party_size=2)
    k.event(here, EventType.VISITOR_CHECKED_IN)
    central.wait_for(lambda: visit(central, here.visit_id), what="visit stored")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, central, "guard1")
    page.goto(central.url + "/visitors?site=east")
    row = page.locator(f"#on-site tr[data-visit='{here.visit_id}']")
    expect(row.locator(".name")).to_have_text("<b>Bold</b> Name")
    expect(row.locator(".phone")).to_have_text("138****5678")
    assert page.locator("#results b:has-text('Bold')").count() == 0
    assert page.locator("a.photo").count() == 0  # guards never get a photo link
    page.fill("#q-host", "host a")
    page.click("#q-go")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    page.click("#evacuation-link")
    expect(page.locator("#evacuation .name")).to_have_text(["<b>Bold</b> Name"])
    expect(page.locator("#people")).to_have_text("2")
    assert int(page.locator("#evacuation .minutes").first.inner_text()) >= 0
    assert dialogs == []


def wait_for_site(central, site: str) -> None:
    """A kiosk's first status makes its site known; the page's site lists come from /api/sites."""
    c = central.client("guard1")
    try:
        central.wait_for(
            lambda: site in {s["site"] for s in c.get("/api/sites").json()["items"]},
            what=f"{site} known to central",
        )
    finally:
        c.close()


def test_guard_invites_a_visitor_and_the_page_shows_the_signed_qr(page, central, kiosk):
    kiosk("south-lobby", site="south")
    wait_for_site(central, "south")
    sign_in(page, central, "guard1")
    page.goto(central.url + "/visitors?site=south")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#block-panel").count() == 0  # the block list is the supervisor's
    expect(page.locator("#invite-form select[name=site]")).to_have_value("south")
    today = page.input_value("#invite-form input[name=day]")

    page.click("#invite-go")  # no name
    expect(page.locator("#invite-error")).to_contain_text("姓名 Name")
    page.fill(
        "#invite-form input[name=day]", (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    )
    page.fill("#invite-form input[name=name]", "Yesterday")
    page.click("#invite-go")
    expect(page.locator("#invite-error")).to_contain_text("the day is in the past")
    assert page.locator("#invite-card").is_hidden()

    hostile = "<img src=x onerror=alert(1)> 王\u202e小明"
    page.fill("#invite-form input[name=day]", today)
    page.fill("#invite-form input[name=name]", hostile)
    page.fill("#invite-form input[name=host]", "李四")
    page.select_option("#invite-form select[name=category]", "contractor")
    page.click("#invite-go")
    expect(page.locator("#invite-card")).to_be_visible()
    expect(page.locator("#invite-name")).to_have_text(hostile)
    assert page.locator("#invite-panel img[src='x']").count() == 0
    assert page.locator("#invite-error").is_hidden()

    # The picture on the page is the signed invite the kiosk will accept today, and no other day.
    png = page.locator("#invite-qr").screenshot()
    text = decode_qr_image(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE))
    assert text == page.locator("#invite-qr").get_attribute("data-qr")
    invite = wire.verify_invite(text, {1: INVITE_KEY}, site="south", today=today)
    assert (invite.name, invite.host, invite.category) == (hostile, "李四", "contractor")


def test_supervisor_keeps_the_block_list_and_the_kiosks_get_it(page, central, kiosk, mod_broker):
    kiosk("west-lobby", site="west")
    wait_for_site(central, "west")
    topic = wire.config_topic("west", wire.ConfigKind.VISITOR_BLOCKLIST)
    sign_in(page, central, "sup")
    page.goto(central.url + "/visitors?site=west")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#block-form select[name=site]", "west")
    expect(page.locator("#block-list tbody")).to_have_text("无 None")

    page.fill("#block-form input[name=reason]", "no one named")
    page.click("#block-go")
    expect(page.locator("#block-error")).to_have_text(
        "请填写姓名或手机号 / Give a name or a phone number"
    )
    page.fill("#block-form input[name=phone]", "call me maybe")
    page.click("#block-go")
    expect(page.locator("#block-error")).to_contain_text("手机 Phone")

    hostile = "<script>alert(1)</script> Spammer"
    page.fill("#block-form input[name=name]", hostile)
    page.fill("#block-form input[name=phone]", "139 0000 2222")
    page.fill("#block-form input[name=reason]", "harassed the front desk")
    page.click("#block-go")
    row = page.locator("#block-list tr[data-block]")
    expect(row).to_have_count(1)
    expect(row.locator(".name")).to_have_text(hostile)
    expect(row.locator(".phone")).to_have_text(
        "139****2222"
    )  # masked on screen, exact at the kiosk
    site_now = wire.utc_now().astimezone(ZoneInfo("Asia/Shanghai"))
    shown_at = {(site_now - timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M") for m in (0, 1)}
    assert row.locator(".at").inner_text() in shown_at  # in the site's zone, not UTC
    expect(page.locator("#block-error")).to_be_hidden()
    listener = Listener(mod_broker.port, topic)
    try:
        central.wait_for(
            lambda: any(hostile in p.decode() for _, p, _ in listener.messages),
            what="retained list",
        )
        doc = wire.parse_site_config(*listener.messages[-1][:2])
        assert doc.data["entries"] == [{"name": hostile, "phone": "139 0000 2222"}]
    finally:
        listener.close()

    page.once("dialog", lambda d: d.accept())
    row.locator("button.unblock").click()
    expect(page.locator("#block-list tr[data-block]")).to_have_count(0)
    listener = Listener(mod_broker.port, topic)
    try:
        central.wait_for(lambda: listener.messages, what="emptied retained list")
        assert wire.parse_site_config(*listener.messages[-1][:2]).data["entries"] == []
    finally:
        listener.close()

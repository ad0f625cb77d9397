"""Central's visitor pages in Debian chromium: sign in, search, on-site list, evacuation list."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from edge.wire import EventType
from tests.central.api.harness import PASSWORD
from tests.central.visitors.test_visitor_log import checked_in, visit

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

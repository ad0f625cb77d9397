"""The demo site in Debian's chromium: the supervisor's dashboard with live traffic and visitors on site,
the booth console with its guard signed on, the lobby kiosk's start screen, and an invitation made on the
visitor log that the kiosk accepts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from edge import wire
from edge.sim.demo import DemoOptions, DemoSite, run_demo
from edge.sim.traffic import TrafficProfile
from tests.demo.test_demo import _wait


def office_hours_zone(now: datetime) -> str:
    """A fixed-offset zone in which ``now`` is about 17:00, so a two-hour span is in the lobby's office hours."""
    offset = (17 - now.hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{-offset:+d}"  # the Etc/ zones count the other way round


@pytest.mark.browser
def test_demo_dashboard_console_and_kiosk_in_the_browser(page):
    started: list[DemoSite] = []
    stop = threading.Event()
    # A busy lobby in office hours, so there are visitors on site at the end of the span.
    profile = TrafficProfile(tz=office_hours_zone(datetime.now(UTC)), lobby_visitors_per_day=40)
    runner = threading.Thread(
        target=run_demo,
        kwargs={
            "options": DemoOptions(
                speed=1800, seed=9, duration=timedelta(hours=2), http_port=0, profile=profile
            ),
            "echo": lambda line: None,
            "stop": stop,
            "on_started": started.append,
        },
        daemon=True,
    )
    runner.start()
    try:
        site = _wait(lambda: started and started[0], 60, "the demo to start")

        # The booth console: three lanes, the demo guard on duty; this browser signs on by itself.
        page.goto(site.urls["booth console"])
        page.wait_for_selector("body[data-ready='1'][data-duty='off']")
        assert page.locator("article.lane").count() == 3
        assert "g001" in page.locator("#duty").inner_text()
        page.fill("#sign-on-id", "g001")
        page.fill("#sign-on-pin", site.guard_pins["g001"])
        page.click("#sign-on-submit")
        page.wait_for_selector("body[data-duty='on']")

        # The lobby kiosk's start screen: the four kinds of visitor.
        page.goto(site.urls["kiosk"])
        page.wait_for_selector("#screen-start:not([hidden])")
        assert page.locator("#screen-start button[data-category]").count() == 4

        user, password = site.logins["supervisor"]
        page.goto(site.urls["dashboard"])
        page.wait_for_url("**/login?next=/dashboard")
        page.fill("#username", user)
        page.fill("#password", password)
        page.click("#login-btn")
        page.wait_for_url("**/dashboard")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_function("document.querySelectorAll('#feed tr').length >= 3", timeout=30_000)
        page.wait_for_function(
            "document.querySelectorAll('#lane-tiles .tile.online').length >= 3", timeout=30_000
        )
        assert page.locator("#feed tr").count() >= 3
        # Visitors on site: the kiosk's check-ins, through the broker and central, on the dashboard.
        page.wait_for_function(
            "Number(document.getElementById('visitors-count').textContent) >= 1", timeout=45_000
        )
        shown = int(page.locator("#visitors-count").inner_text())
        api = page.evaluate("fetch('/api/visitors/on-site-count?site=demo').then(r => r.json())")
        assert (
            api["count"] >= 1 and abs(shown - api["count"]) <= 3
        )  # both live; a check-out may fall between

        # From the dashboard to the visitor log: an invitation that the demo's kiosk accepts today.
        page.click("#visitors-link")
        page.wait_for_url("**/visitors")
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#on-site tbody tr[data-visit]").count() >= 1
        kiosk = site.kiosk.kiosk
        today = kiosk.clock().astimezone(kiosk.zone).date().isoformat()
        page.select_option("#invite-form select[name=site]", "demo")
        page.fill("#invite-form input[name=day]", today)
        page.fill("#invite-form input[name=name]", "演示访客 Demo Guest")
        page.click("#invite-go")
        page.locator("#invite-card").wait_for()
        qr = page.locator("#invite-qr").get_attribute("data-qr")
        assert (
            wire.verify_invite(qr, kiosk.settings.keys, site="demo", today=today).name
            == "演示访客 Demo Guest"
        )
    finally:
        stop.set()
        runner.join(60)
    assert not runner.is_alive()

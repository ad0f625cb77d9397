"""A running central for the browser tests (shared per module), simulated lanes, and a sign-in helper."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.central.api.harness import PASSWORD, Central, SimLane, start_central
from tests.support.services import MOSQUITTO, Broker, require


@pytest.fixture(scope="module")
def mod_broker(tmp_path_factory):
    require(MOSQUITTO is not None, "mosquitto")
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def central(tmp_path_factory, mod_broker) -> Iterator[Central]:
    c = start_central(tmp_path_factory.mktemp("central"), mod_broker.port)
    yield c
    c.stop()


@pytest.fixture
def lanes(mod_broker):
    made: list[SimLane] = []

    def make(
        device: str, site: str = "north", role: str = "exit", answer: str | None = "done"
    ) -> SimLane:
        lane = SimLane(site, device, mod_broker.port, role=role, answer=answer).connect()
        made.append(lane)
        return lane

    yield make
    for lane in made:
        lane.close()


@pytest.fixture
def sign_in(page, central):
    def go(username: str, lang: str = "zh-CN"):
        page.goto(f"{central.url}/dashboard")
        page.wait_for_url("**/login?next=/dashboard")
        page.evaluate("lang => localStorage.setItem('gp.lang', lang)", lang)
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("#login-btn")
        page.wait_for_url("**/dashboard")
        page.wait_for_selector("body[data-ready='1']")
        return page

    return go

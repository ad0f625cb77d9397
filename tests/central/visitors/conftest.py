"""A real central (Mosquitto, SQLite, uvicorn, ingest) with the visitor log, and a fake kiosk publisher."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from central.visitors.settings import VisitorSettings
from tests.central.api.harness import Central, SimLane, start_central
from tests.support.services import MOSQUITTO, Broker, require

INVITE_KEY = bytes(range(32))


@pytest.fixture(scope="module")
def mod_broker(tmp_path_factory):
    require(MOSQUITTO is not None, "mosquitto")
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def central(tmp_path_factory, mod_broker, monkeypatch_module) -> Iterator[Central]:
    monkeypatch_module.setenv("GATEPOST_VISITOR_INVITE_KEYS", f"1={INVITE_KEY.hex()}")
    monkeypatch_module.setenv("GATEPOST_VISITOR_RETENTION_DAYS", "30")
    c = start_central(tmp_path_factory.mktemp("central"), mod_broker.port)
    assert isinstance(c.app.state.visitor_settings, VisitorSettings)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture
def kiosk(mod_broker):
    made: list[SimLane] = []

    def make(device: str, site: str = "north") -> SimLane:
        lane = SimLane(site, device, mod_broker.port, role="kiosk").connect()
        made.append(lane)
        return lane

    yield make
    for lane in made:
        lane.close()

"""Fixtures: a running central (real Mosquitto, SQLite, uvicorn) and simulated lanes.

The central and its broker are shared by the tests of one module (starting
them takes a couple of seconds); tests use their own lane and site ids so
they do not see each other's devices.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.central.api.harness import Central, SimLane, start_central
from tests.support.services import MOSQUITTO, Broker, require


@pytest.fixture(scope="module")
def mod_broker(tmp_path_factory):
    require(MOSQUITTO is not None, "mosquitto")
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def central(tmp_path_factory, mod_broker) -> Iterator[Central]:
    c = start_central(
        tmp_path_factory.mktemp("central"), mod_broker.port, alarm_barrier_open_max_s=1
    )
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

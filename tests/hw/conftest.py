"""Fixtures for GPIO tests: a fresh MockFactory per test and a hand-wound clock."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory


class FakeClock:
    """A monotonic clock the test advances by hand, so timing tests never sleep."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def mock_factory() -> MockFactory:
    f = MockFactory()
    yield f
    f.reset()
    f.close()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()

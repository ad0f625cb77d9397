"""Shared fixtures: real Mosquitto, PostgreSQL and Chromium (see tests/support/services.py)."""

import logging

import pytest

from tests.support.services import broker, browser, make_broker, page, pg_url  # noqa: F401


@pytest.fixture(autouse=True)
def _root_logger_restored():
    """A command run in-process (the demo, `gatepost …` through CliRunner) configures the root
    logger as a real process would; put it back so later tests' caplog still sees warnings."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    yield
    root.setLevel(level)
    root.handlers[:] = handlers

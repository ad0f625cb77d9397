"""Shared fixtures: real Mosquitto, PostgreSQL and Chromium (see tests/support/services.py)."""

from tests.support.services import broker, browser, make_broker, page, pg_url  # noqa: F401

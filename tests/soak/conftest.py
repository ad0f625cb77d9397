"""Soak tests run only when asked for (``pytest -m slow`` / ``make soak``), never in the default run."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow soak: run with pytest -m slow (make soak)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

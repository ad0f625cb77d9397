"""Helpers for the simulated-lane tests: wait for a condition, read the outbox."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from edge.link.outbox import Outbox


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def event_types(outbox: Outbox) -> list[str]:
    return [row.event_type for row in outbox.pending(limit=10_000)]


def events_of(outbox: Outbox, event_type: str) -> list[dict]:
    return [json.loads(row.payload)["data"] for row in outbox.pending(limit=10_000)
            if row.event_type == event_type]

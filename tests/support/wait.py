"""Waiting in tests: on a condition, with a deadline — never sleep-then-assert.

Deadlines are generous (the suite must hold on a busy 2-core CI machine);
they bound a failure, they do not measure speed (timings live in tests/bench).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import paho.mqtt.client as paho

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 15.0


def wait_until(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT_S,
    what: str = "condition",
    interval: float = 0.01,
) -> T:
    """Poll ``predicate`` until it is truthy and return its value; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def finishes_within(call: Callable[[], T], timeout: float = DEFAULT_TIMEOUT_S) -> T:
    """Run ``call`` in a thread and return its result; fail if it has not returned by the deadline.

    For "this wait was cut short": give the call a window far longer than the
    deadline (say 60 s), then only the cut (a card, an interrupt, a close) can
    have ended it in time — an ordering, not a stopwatch.
    """
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # handed back to the test below
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise AssertionError(f"still waiting after {timeout:g} s")
    if errors:
        raise errors[0]
    return result[0]


def subscribe_and_wait(
    client: paho.Client,
    topics: str | Iterable[tuple[str, int]],
    qos: int = 1,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Subscribe and return only once the broker's SUBACK has arrived (the subscription is live)."""
    acked = threading.Event()
    previous = client.on_subscribe

    def on_subscribe(*args: Any) -> None:  # the chained callback's shape depends on its API version
        acked.set()
        if previous is not None:
            previous(*args)

    client.on_subscribe = on_subscribe
    try:
        if isinstance(topics, str):
            result, _ = client.subscribe(topics, qos)
        else:
            result, _ = client.subscribe(list(topics))
        assert result == paho.MQTT_ERR_SUCCESS, f"subscribe failed: {paho.error_string(result)}"
        if not acked.wait(timeout):
            raise AssertionError(f"no SUBACK within {timeout:g} s for {topics!r}")
    finally:
        client.on_subscribe = previous

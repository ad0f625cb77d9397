"""central.periodic.Every: the background loop behind alarms, the event tail and the visitor purge."""

import threading
import time

from central.periodic import Every


def test_a_failing_run_is_logged_and_the_loop_goes_on(caplog):
    runs: list[int] = []
    third = threading.Event()

    def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("database briefly locked")
        if len(runs) >= 3:
            third.set()

    loop = Every(0.01, work, name="test-loop").start()
    worker = loop._thread
    assert worker is not None
    try:
        assert third.wait(5), "the loop stopped after its first failure"
    finally:
        loop.stop()
    stopped_at = len(runs)
    assert "test-loop: run failed" in caplog.text and "database briefly locked" in caplog.text
    # stop() returns only once the worker thread has ended: no run can follow it.
    assert not worker.is_alive(), "the loop's thread outlived stop()"
    assert len(runs) == stopped_at, "work ran after stop()"

    loop.start()
    try:
        deadline = time.monotonic() + 5
        while len(runs) == stopped_at and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        loop.stop()
    assert len(runs) > stopped_at, "a stopped loop starts again"

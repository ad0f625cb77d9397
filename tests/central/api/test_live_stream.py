"""The live hub: ids on every frame, replay after a reconnect, a bounded stream lifetime."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from central.dashboard.live import LiveHub

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: the test's own thread may already hold a running
    loop (Playwright's sync API keeps one while a browser fixture of the same worker is open)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


async def collect(hub: LiveHub, last_event_id: str | None = None, n: int = 50) -> list[str]:
    out = []
    async for chunk in hub.stream(last_event_id=last_event_id, keepalive_s=0.05):
        out.append(chunk)
        if chunk.startswith("event: bye") or len(out) >= n:
            break
    return out


def test_reconnect_replays_what_was_missed_and_stream_ends_on_time():
    hub = LiveHub(lifetime_s=0.3)
    for i in range(5):
        hub.publish("event", {"n": i})
    chunks = run(collect(hub, last_event_id="3"))
    body = "".join(chunks)
    assert '"n":3' in body and '"n":4' in body and '"n":2' not in body
    assert chunks[-1].startswith("event: bye")


def test_unknown_or_stale_last_id_asks_for_a_resync():
    hub = LiveHub(lifetime_s=0.1)
    hub.publish("event", {"n": 1})
    assert any(c.startswith("event: resync") for c in run(collect(hub, last_event_id="999")))
    assert any(
        c.startswith("event: resync") for c in run(collect(hub, last_event_id="not-a-number"))
    )


def test_live_frames_reach_a_subscriber_from_another_thread():
    hub = LiveHub(lifetime_s=2)

    async def listen() -> str:
        agen = hub.stream()
        assert (await agen.__anext__()).startswith("retry:")
        threading.Thread(target=hub.publish_many, args=("event", [{"a": 1}, {"b": 2}])).start()
        frame = await asyncio.wait_for(agen.__anext__(), 15)
        await agen.aclose()
        return frame

    frame = run(listen())
    assert frame.count("event: event") == 2 and frame.endswith("id: 1\n\n")

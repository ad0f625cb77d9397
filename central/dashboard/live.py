"""Live updates to browsers: a fan-out hub feeding Server-Sent Events.

Ingest and the alarm monitor run on their own threads and call
:meth:`LiveHub.publish`; each browser's SSE response awaits its own bounded
queue on the server's event loop. A browser too slow to keep up loses its
oldest messages and is told to reload, rather than slowing anyone else.

Every frame carries an ``id``, and the hub keeps the last few thousand: a
browser that reconnects (network blip, or the stream's planned end) sends
``Last-Event-ID`` and gets what it missed. Streams end on purpose every
``lifetime_s`` seconds so that a server shutdown never waits on an open
dashboard for long; the browser reconnects at once and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

QUEUE_BOUND = 2000
REPLAY_FRAMES = 5000


def _frame(kind: str, payload: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'), default=str)}\n\n"


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_BOUND)
        self.overflowed = False

    def offer(self, frame: str) -> None:
        """Runs on the subscriber's loop."""
        if self.queue.full():
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(frame)


class LiveHub:
    """Thread-safe publish, async subscribe. ``kind`` becomes the SSE ``event:`` name."""

    def __init__(self, lifetime_s: float = 60.0) -> None:
        self.lifetime_s = lifetime_s
        self._subs: set[_Subscriber] = set()
        self._lock = threading.Lock()
        self._last_id = 0
        self._recent: deque[tuple[int, str]] = deque(maxlen=REPLAY_FRAMES)

    def publish(self, kind: str, payload: Any) -> None:
        self.publish_frame(_frame(kind, payload))

    def publish_many(self, kind: str, payloads: list[Any]) -> None:
        if payloads:
            self.publish_frame("".join(_frame(kind, p) for p in payloads))

    def publish_frame(self, frame: str) -> None:
        """Send one chunk of SSE events (each ending in a blank line); the last one gets the chunk's id."""
        with self._lock:
            self._last_id += 1
            frame = f"{frame[:-1]}id: {self._last_id}\n\n"
            self._recent.append((self._last_id, frame))
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, frame)
            except RuntimeError:  # loop closed: the server is shutting down
                with self._lock:
                    self._subs.discard(sub)

    async def stream(
        self,
        hello: dict[str, Any] | None = None,
        last_event_id: str | None = None,
        keepalive_s: float = 15.0,
    ) -> AsyncIterator[str]:
        """The SSE body for one browser: a hello, what it missed, then frames as they come."""
        sub = _Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
            missed, resync = self._missed(last_event_id)
        ends_at = time.monotonic() + self.lifetime_s
        try:
            yield "retry: 250\n\n"
            if hello is not None:
                yield _frame("hello", hello)
            if resync:
                yield _frame("resync", {})
            for frame in missed:
                yield frame
            while (left := ends_at - time.monotonic()) > 0:
                try:
                    frame = await asyncio.wait_for(sub.queue.get(), min(keepalive_s, left))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if sub.overflowed:
                    sub.overflowed = False
                    yield _frame("resync", {})
                yield frame
            yield _frame("bye", {"reconnect": True})
        finally:
            with self._lock:
                self._subs.discard(sub)

    def _missed(self, last_event_id: str | None) -> tuple[list[str], bool]:
        """Frames after ``last_event_id`` (caller holds the lock), or resync if they are gone."""
        if not last_event_id:
            return [], False
        try:
            last = int(last_event_id)
        except ValueError:
            return [], True
        if last > self._last_id or (self._recent and last < self._recent[0][0] - 1):
            return [], True  # another server process, or too long away: reload everything
        return [f for i, f in self._recent if i > last], False

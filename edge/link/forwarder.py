"""Drains the outbox to the broker in seq order, deleting each row only after its PUBACK.

One thread per device. It wakes the moment :meth:`Outbox.emit` commits, so a
live event leaves within a millisecond or two; it keeps at most ``window``
QoS 1 messages unacknowledged; it paces a backlog after a reconnect at
``replay_rate_per_s`` so a lane back from a long outage does not flood central.

Order is never changed. Paho (persistent session) re-sends the messages that
were in flight when a connection dropped, as soon as the next one is up; the
forwarder holds back newer rows until those are acknowledged, so the broker
sees seq 1..n in order across reconnects. After a process restart nothing is
in flight and the forwarder simply starts again from the oldest row.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from edge.errors import GatepostError
from edge.link.outbox import Outbox
from edge.link.port import Link

log = logging.getLogger(__name__)


class Forwarder:
    """Moves rows from an :class:`Outbox` to a :class:`~edge.link.port.Link`.

    :param window: QoS 1 messages in flight at once.
    :param replay_rate_per_s: steady publish rate while a backlog drains
        (``None``: unlimited). Bursts up to ``window`` go at once, so live
        traffic of a lane is never slowed.
    :param ack_timeout_s: if a connected broker acknowledges nothing for this
        long, republish the unacknowledged rows (a duplicate is harmless; a
        stuck queue is not).
    """

    def __init__(
        self,
        outbox: Outbox,
        link: Link,
        *,
        window: int = 20,
        replay_rate_per_s: float | None = 500.0,
        checkpoint_every_s: float = 5.0,
        ack_timeout_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if replay_rate_per_s is not None and replay_rate_per_s <= 0:
            raise ValueError(f"replay_rate_per_s must be positive, got {replay_rate_per_s}")
        self.outbox = outbox
        self.link = link
        self.window = window
        self.rate = replay_rate_per_s
        self.checkpoint_every_s = checkpoint_every_s
        self.ack_timeout_s = ack_timeout_s
        self._mono = monotonic
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acks: collections.deque[tuple[int, bool]] = collections.deque()
        self._inflight: dict[int, int] = {}
        """mid → seq of rows handed to the link and not yet acknowledged."""
        self._after = 0
        """Highest seq handed to the link in this process."""
        self._resync = False
        self._tokens = float(window)
        self._last_refill = monotonic()
        self._last_progress = monotonic()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.acked = 0
        outbox.add_emit_listener(self._wake.set)
        link.add_published_listener(self._on_published)
        link.add_connect_listener(self._on_connect)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-forwarder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._process_acks()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ callbacks (other threads)

    def _on_published(self, mid: int, ok: bool) -> None:
        # Runs on paho's thread with paho's lock held: only queue it, never block.
        self._acks.append((mid, ok))
        self._wake.set()

    def _on_connect(self) -> None:
        self._resync = True
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        next_checkpoint = self._mono() + self.checkpoint_every_s
        while not self._stop.is_set():
            self._wake.wait(self._sleep_for())
            self._wake.clear()
            try:
                self._process_acks()
                self._check_stall()
                self._publish_some()
                if self._mono() >= next_checkpoint:
                    self.outbox.checkpoint()
                    next_checkpoint = self._mono() + self.checkpoint_every_s
            except GatepostError as exc:
                log.error("forwarder: %s; retrying in 1 s", exc)
                self._stop.wait(1.0)
            except Exception:
                log.exception("forwarder step failed; retrying in 1 s")
                self._stop.wait(1.0)

    def _sleep_for(self) -> float:
        if self.rate is not None and self._tokens < 1 and self.outbox.depth > len(self._inflight):
            return max(0.001, (1 - self._tokens) / self.rate)
        return 1.0

    def _process_acks(self) -> None:
        done: list[int] = []
        failed = False
        while self._acks:
            mid, ok = self._acks.popleft()
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue  # a publish that is not ours (health, status, command result)
            if ok:
                done.append(seq)
            else:
                failed = True
                log.error("broker refused event seq %d; it stays in the outbox", seq)
        if done:
            self.outbox.ack_many(done)
            self.acked += len(done)
            self._last_progress = self._mono()
        if failed and not self._inflight:
            self._after = 0  # read again from the oldest row

    def _check_stall(self) -> None:
        if not self._inflight or not self.link.connected.is_set():
            self._last_progress = self._mono()
            return
        if self._mono() - self._last_progress > self.ack_timeout_s:
            log.warning(
                "no PUBACK for %d events in %.0f s; republishing from the oldest",
                len(self._inflight), self.ack_timeout_s,
            )
            self._inflight.clear()
            self._after = 0
            self._last_progress = self._mono()

    def _refill(self) -> None:
        now = self._mono()
        if self.rate is None:
            self._tokens = float(self.window)
        else:
            self._tokens = min(float(self.window), self._tokens + (now - self._last_refill) * self.rate)
        self._last_refill = now

    def _publish_some(self) -> None:
        if not self.link.connected.is_set():
            return
        if self._resync:
            if self._inflight:
                return  # paho is re-sending the old in-flight rows; keep order
            self._resync = False
        room = self.window - len(self._inflight)
        self._refill()
        count = min(room, int(self._tokens))
        if count <= 0:
            return
        for row in self.outbox.pending(count, after=self._after):
            mid = self.link.publish(row.topic, row.payload, 1, False)
            self._inflight[mid] = row.seq
            self._after = row.seq
            self._tokens -= 1
            self.published += 1
        if self._acks:
            self._wake.set()

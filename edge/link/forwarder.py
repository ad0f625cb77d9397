"""Drains the outbox to the broker in seq order; central's ack, not the PUBACK, ends a row.

One thread per device. It wakes the moment :meth:`Outbox.emit` commits, so a
live event leaves within a millisecond or two; it keeps at most ``window``
QoS 1 messages unacknowledged by the broker; it paces a backlog (and every
re-send) at ``replay_rate_per_s`` so a lane back from a long outage does not
flood central.

Two acknowledgements, two meanings (DESIGN.md §3). The broker's PUBACK only
says the broker holds the message — in memory until its next autosave, so a
broker crash can still lose it — and marks the row sent
(:meth:`Outbox.mark_sent`). Central's ack on ``…/ack`` (the highest contiguous
seq central has committed) deletes the rows it covers (:meth:`Outbox.confirm`).
Rows that central has not confirmed are sent again, from the oldest:

- after every reconnect (the broker may have restarted without them), once
  paho has re-sent what was in flight on the old connection;
- when sent rows wait longer than ``central_ack_timeout_s`` for central's ack
  to move while connected (central was down, crashed between its commit and
  its ack, or a message went missing on the way), once the pass under way has
  reached the newest row. Each fruitless re-send doubles the wait, up to
  ``central_ack_backoff_max_s``, so a central that is down for hours is not
  sent the same backlog every minute; any progress resets it.

Re-sends are duplicates for central, which stores by id and acknowledges them
again. Order is never changed: the broker sees seq 1..n in order, then again
from the oldest unconfirmed row after a re-send.

Nothing here is on the barrier's path: the lane only waits for the outbox's
fsync, never for the broker or central.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from edge.errors import GatepostError, PayloadError
from edge.link.outbox import Outbox
from edge.link.port import Link
from edge.wire import ack_topic, parse_ack

log = logging.getLogger(__name__)


class Forwarder:
    """Moves rows from an :class:`Outbox` to a :class:`~edge.link.port.Link`.

    :param window: QoS 1 messages in flight (awaiting PUBACK) at once.
    :param replay_rate_per_s: steady publish rate while a backlog drains or is
        re-sent (``None``: unlimited). Bursts up to ``window`` go at once, so
        live traffic of a lane is never slowed.
    :param ack_timeout_s: if a connected broker acknowledges nothing for this
        long, republish the rows awaiting PUBACK (a duplicate is harmless; a
        stuck queue is not).
    :param central_ack_timeout_s: how long sent rows may wait for central's ack
        before they are sent again (doubling after each fruitless re-send).
    :param central_ack_backoff_max_s: the longest that wait grows to (never below
        ``central_ack_timeout_s``).
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
        central_ack_timeout_s: float = 60.0,
        central_ack_backoff_max_s: float = 900.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if replay_rate_per_s is not None and replay_rate_per_s <= 0:
            raise ValueError(f"replay_rate_per_s must be positive, got {replay_rate_per_s}")
        if central_ack_timeout_s <= 0:
            raise ValueError(f"central_ack_timeout_s must be positive, got {central_ack_timeout_s}")
        self.outbox = outbox
        self.link = link
        self.window = window
        self.rate = replay_rate_per_s
        self.checkpoint_every_s = checkpoint_every_s
        self.ack_timeout_s = ack_timeout_s
        self.central_ack_timeout_s = central_ack_timeout_s
        self.central_ack_backoff_max_s = max(central_ack_backoff_max_s, central_ack_timeout_s)
        self._mono = monotonic
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acks: collections.deque[tuple[int, bool]] = collections.deque()
        self._central: collections.deque[int] = collections.deque()
        """Seqs from central's acks, queued by the network thread."""
        self._inflight: dict[int, int] = {}
        """mid → seq of rows handed to the link and not yet acknowledged by the broker."""
        self._after = 0
        """Highest seq handed to the link since the last (re)start of the cursor."""
        self._resync = False
        self._tokens = float(window)
        self._last_refill = monotonic()
        self._last_progress = monotonic()
        self._central_wait = central_ack_timeout_s
        self._central_due: float | None = None
        """When unconfirmed sent rows are sent again (None: nothing sent is waiting)."""
        self._thread: threading.Thread | None = None
        self.published = 0
        self.acked = 0
        """Broker PUBACKs for our rows."""
        self.confirmed = 0
        """Rows deleted on central's ack."""
        self.resends = 0
        """Times the cursor went back to the oldest unconfirmed row."""
        outbox.add_emit_listener(self._wake.set)
        link.add_published_listener(self._on_published)
        link.add_connect_listener(self._on_connect)
        link.subscribe(ack_topic(outbox.site, outbox.device), self._on_central_ack, 1)

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
        self._process_central_acks()

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

    def _on_central_ack(self, topic: str, payload: bytes, retained: bool) -> None:
        """On the network thread: validate and queue; the forwarder's thread deletes."""
        try:
            parts, ack = parse_ack(topic, payload)
        except PayloadError as exc:
            log.error("central ack refused: %s (topic %s)", exc, topic[:200])
            return
        if (parts.site, parts.device) != (self.outbox.site, self.outbox.device):
            log.error("central ack for %s/%s is not ours; ignored", parts.site, parts.device)
            return
        self._central.append(ack.seq)
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        next_checkpoint = self._mono() + self.checkpoint_every_s
        while not self._stop.is_set():
            self._wake.wait(self._sleep_for())
            self._wake.clear()
            try:
                self._process_acks()
                self._process_central_acks()
                self._check_stall()
                self._check_central_late()
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
        if self._central_due is not None:
            return max(0.001, min(1.0, self._central_due - self._mono()))
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
            self.outbox.mark_sent(done)
            self.acked += len(done)
            self._last_progress = self._mono()
            if self._central_due is None:
                self._central_due = self._mono() + self._central_wait
        if failed and not self._inflight:
            self._rewind()  # read again from the oldest unconfirmed row

    def _process_central_acks(self) -> None:
        if not self._central:
            return
        upto = 0
        last = self.outbox.last_seq
        while self._central:
            seq = self._central.popleft()
            # Each ack is judged alone: an impossible one queued beside a good one must not hide it.
            if seq > last:
                log.error(
                    "central acknowledged seq %d, beyond the last seq handed out (%d); ignored",
                    seq,
                    last,
                )
                continue
            upto = max(upto, seq)
        if upto <= self.outbox.confirmed:
            return  # an older or repeated ack (several ingest workers, a restored database)
        self.confirmed += self.outbox.confirm(upto)
        self._after = max(self._after, upto)
        self._central_wait = self.central_ack_timeout_s
        # Still-unconfirmed sent rows get a fresh wait; none left: nothing is due.
        self._central_due = self._mono() + self._central_wait if self.outbox.unacked else None

    def _check_stall(self) -> None:
        if not self._inflight or not self.link.connected.is_set():
            self._last_progress = self._mono()
            return
        if self._mono() - self._last_progress > self.ack_timeout_s:
            log.warning(
                "no PUBACK for %d events in %.0f s; republishing from the oldest",
                len(self._inflight),
                self.ack_timeout_s,
            )
            self._inflight.clear()
            self._rewind()
            self._last_progress = self._mono()

    def _check_central_late(self) -> None:
        """Sent rows that central has not confirmed in time: send them again, from the oldest."""
        if self._central_due is None or self._mono() < self._central_due:
            return
        if not self.link.connected.is_set():
            return  # the reconnect re-sends anyway
        if self._after < self.outbox.last_seq:
            return  # finish the pass under way first (a backlog draining at the replay rate)
        if not self.outbox.unacked:
            self._central_due = None
            return
        log.warning(
            "central has not acknowledged %d sent events (confirmed up to seq %d) in %.0f s;"
            " sending them again",
            self.outbox.unacked,
            self.outbox.confirmed,
            self._central_wait,
        )
        self._rewind()
        self._central_wait = min(self._central_wait * 2, self.central_ack_backoff_max_s)
        self._central_due = self._mono() + self._central_wait

    def _rewind(self) -> None:
        self._after = self.outbox.confirmed
        self.resends += 1

    def _refill(self) -> None:
        now = self._mono()
        if self.rate is None:
            self._tokens = float(self.window)
        else:
            self._tokens = min(
                float(self.window), self._tokens + (now - self._last_refill) * self.rate
            )
        self._last_refill = now

    def _publish_some(self) -> None:
        if not self.link.connected.is_set():
            return
        if self._resync:
            if self._inflight:
                return  # paho is re-sending the old in-flight rows; keep order
            self._resync = False
            # The broker may have restarted without what it had acknowledged: everything
            # central has not confirmed goes again (paced like any backlog).
            self._rewind()
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
        if self._acks or self._central:
            self._wake.set()

"""Outbox → Mosquitto → central: live latency, delete only on central's ack, order across
reconnects, bursts, and re-sends when central's ack is late."""

from __future__ import annotations

import json
import threading
import time

import pytest

from central.ingest.worker import PAUSE_BEFORE_ACK_ENV
from edge.link.forwarder import Forwarder
from edge.link.mqtt import MqttLink
from edge.link.outbox import Outbox
from edge.wire import ALL_EVENTS, EventType, PaymentConfirmed, ack_topic, make_ack, parse_event
from tests.link.helpers import Central, Collector, publish, wait_until


class ForwarderClock:
    """The forwarder's clock, injected: it counts its reads, and when frozen moves only when told.

    A read is a sync point (the forwarder's loop has run again since); a frozen clock
    lets a test judge the replay rate by tokens, not by a stopwatch on a busy machine.
    """

    def __init__(self, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        self._now = time.monotonic()
        self.reads = 0

    def __call__(self) -> float:
        with self._lock:
            self.reads += 1
            return self._now if self._frozen else time.monotonic()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def wait_reads(self, count: int, timeout: float = 15.0) -> bool:
        """Wait until the forwarder has read the clock ``count`` more times (its loop went round)."""
        seen = self.reads
        return wait_until(lambda: self.reads >= seen + count, timeout)


def paid(i: int) -> PaymentConfirmed:
    return PaymentConfirmed(serial=f"S{i}", fee_minor=100 + i, currency="CNY", method="cash")


@pytest.fixture
def central(broker, tmp_path):
    """Central's real ingest (SQLite), not started: a test starts it when central should be up."""
    made = Central(broker.port, tmp_path / "central.db")
    yield made
    made.close()


@pytest.fixture
def device(broker, tmp_path):
    """An outbox, a link and a forwarder for lane-1, torn down after the test."""
    made = []

    def build(**fwd):
        box = Outbox(tmp_path / "outbox.db", "site-a", "lane-1")
        link = MqttLink(
            "site-a",
            "lane-1",
            host="127.0.0.1",
            port=broker.port,
            reconnect_min_s=1,
            reconnect_max_s=1,
        )
        forwarder = Forwarder(box, link, **fwd)
        made.append((box, link, forwarder))
        link.start()
        forwarder.start()
        return box, link, forwarder

    yield build
    for box, link, forwarder in made:
        forwarder.stop()
        link.stop()
        box.close()


def seqs(messages) -> list[int]:
    return [json.loads(m.payload)["seq"] for m in messages]


def wait_unique(sub: Collector, n: int, timeout: float = 15.0) -> list[int]:
    """Seqs in arrival order once ``n`` distinct ones are in (a QoS 1 re-send may duplicate)."""
    wait_until(lambda: len(set(seqs(list(sub.messages)))) >= n, timeout)
    return seqs(list(sub.messages))


def test_live_events_arrive_valid_in_order_and_leave_the_outbox(broker, device, central):
    central.start()
    sub = Collector(broker.port, ALL_EVENTS).start()
    box, link, _ = device()
    assert link.connected.wait(15)
    sent = [box.emit(EventType.PAYMENT_CONFIRMED, paid(i)) for i in range(10)]
    got = sub.wait_for(10, 15)
    assert seqs(got) == [e.seq for e in sent]
    envelope, data = parse_event(got[3].topic, got[3].payload)
    assert envelope == sent[3] and data == paid(3)
    assert wait_until(lambda: box.depth == 0, 15)  # central's ack, not the PUBACK, emptied it
    assert central.stored("lane-1") == list(range(1, 11))
    sub.stop()


def test_each_live_event_goes_out_on_its_own(broker, device):
    """A live event is sent when emitted, not held for a batch or a timer's next tick.

    Each emit is followed by a wait for that one event alone; how quickly it arrives is
    a figure of tests/bench/live_link.py, not an assertion here.
    """
    sub = Collector(broker.port, ALL_EVENTS).start()
    box, link, _ = device()
    assert link.connected.wait(15)
    for i in range(20):
        sent = box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
        got = sub.wait_for(i + 1, 15)
        assert seqs(got) == list(range(1, sent.seq + 1)), f"event {sent.seq} did not go out alone"
    assert len(sub.messages) == 20
    sub.stop()


def test_nothing_is_deleted_without_centrals_ack_and_all_arrive_in_order_later(
    broker, device, central
):
    central.start()
    central.stop()  # its persistent session waits at the broker
    sub = Collector(broker.port, ALL_EVENTS, client_id="ingest", persistent=True).start()
    clock = ForwarderClock()
    box, link, forwarder = device(replay_rate_per_s=2000, monotonic=clock)
    assert link.connected.wait(15)
    broker.stop()
    assert wait_until(lambda: not link.connected.is_set(), 15)
    for i in range(200):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    assert clock.wait_reads(6)  # the forwarder's loop has gone round since the emits
    assert box.depth == 200  # no broker, no PUBACK, no delete
    broker.start()
    order = wait_unique(sub, 200, 20)
    assert list(dict.fromkeys(order)) == list(range(1, 201)), f"arrival order {order}"
    assert wait_until(lambda: box.unacked == 200, 15)
    assert box.depth == 200  # the broker has them all; central has not said so: nothing deleted
    central.start()
    assert wait_until(lambda: box.depth == 0, 20)
    assert central.stored("lane-1") == list(range(1, 201))
    assert forwarder.acked >= 200 and forwarder.confirmed == 200
    sub.stop()


def test_order_holds_when_the_broker_dies_mid_stream(broker, device, central):
    central.start()
    sub = Collector(broker.port, ALL_EVENTS, client_id="ingest", persistent=True).start()
    box, link, _ = device(window=20, replay_rate_per_s=None)
    assert link.connected.wait(15)
    for i in range(300):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    broker.stop()  # clean stop: the broker keeps the collector's session on disk
    for i in range(300, 400):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    broker.start()
    assert wait_until(lambda: box.depth == 0, 20)
    order = wait_unique(sub, 400)
    first_seen = list(dict.fromkeys(order))  # a QoS 1 re-send may duplicate, never reorder
    assert first_seen == list(range(1, 401)), f"arrival order {order}"
    assert central.stored("lane-1") == list(range(1, 401))
    sub.stop()


def test_a_burst_beyond_mosquittos_default_queue_arrives_complete(broker, device, central):
    # The collector is away while the burst is published: the broker must queue all
    # of it (max_queued_messages defaults to 1000 and would drop the rest silently).
    sub = Collector(broker.port, ALL_EVENTS, client_id="ingest", persistent=True).start()
    sub.stop()
    central.start()
    central.stop()  # central's session queues the burst too
    box, link, _ = device(window=50, replay_rate_per_s=None)
    assert link.connected.wait(15)
    for i in range(1500):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    assert wait_until(lambda: box.unacked == 1500, 30)
    sub.start()
    got = sub.wait_for(1500, 20)
    assert seqs(got)[:1500] == list(range(1, 1501))
    sub.stop()
    central.start()
    assert wait_until(lambda: box.depth == 0, 30)
    assert central.stored("lane-1") == list(range(1, 1501))


def test_replay_after_reconnect_is_paced(broker, device):
    """10 go at once (the window), the other 100 at 200/s: on the forwarder's own clock, frozen
    and moved by the test, the backlog never runs ahead of the tokens and needs ≥ 0.5 s of it."""
    clock = ForwarderClock(frozen=True)
    sub = Collector(broker.port, ALL_EVENTS).start()
    box, link, forwarder = device(window=10, replay_rate_per_s=200, monotonic=clock)
    assert link.connected.wait(15)
    broker.stop()
    assert wait_until(lambda: not link.connected.is_set(), 15)
    for i in range(110):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    broker.start()
    sub.start()
    assert link.connected.wait(15)
    assert wait_until(lambda: forwarder.acked >= 10, 15)  # the window, with no time passed
    moved = 0.0
    while forwarder.acked < 110:
        assert clock.wait_reads(4)  # the forwarder went round: it took every token it had
        allowed = 10 + 200 * moved
        assert forwarder.published <= allowed + 1e-6, (
            f"{forwarder.published} published after {moved:.2f} s of clock, the rate allows {allowed:.0f}"
        )
        assert moved < 5, f"backlog stuck at {forwarder.acked} acked"
        clock.advance(0.01)  # two tokens at 200/s
        moved += 0.01
    assert moved >= 0.49, (
        f"backlog drained in {moved:.2f} s of the forwarder's clock, faster than the rate"
    )
    assert seqs(sub.wait_for(110, 15)) == list(range(1, 111))
    sub.stop()


def test_a_restarted_device_replays_what_it_had_not_sent(broker, tmp_path, central):
    central.start()
    box = Outbox(tmp_path / "outbox.db", "site-a", "lane-1")
    for i in range(5):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    box.close()  # the lane rebooted before the network came back
    sub = Collector(broker.port, ALL_EVENTS).start()
    box = Outbox(tmp_path / "outbox.db", "site-a", "lane-1")
    link = MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port)
    forwarder = Forwarder(box, link)
    link.start()
    forwarder.start()
    try:
        assert seqs(sub.wait_for(5, 15)) == [1, 2, 3, 4, 5]
        assert wait_until(lambda: box.depth == 0, 15)
        assert central.stored("lane-1") == [1, 2, 3, 4, 5]
    finally:
        forwarder.stop()
        link.stop()
        box.close()
        sub.stop()


def test_rows_central_never_got_are_sent_again_when_its_ack_is_late(broker, device, central):
    """The broker took (PUBACK) and dropped them — nobody was subscribed — so only central's
    missing ack shows they are not stored: after the timeout they go again and arrive."""
    box, link, forwarder = device(central_ack_timeout_s=1.0)
    assert link.connected.wait(15)
    for i in range(30):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    assert wait_until(lambda: box.unacked == 30, 15)
    central.start()  # subscribes only now: the first 30 are gone from the broker
    assert wait_until(lambda: box.depth == 0, 15)
    assert central.stored("lane-1") == list(range(1, 31))
    assert forwarder.confirmed == 30 and forwarder.published >= 60


def test_a_replay_of_stored_events_is_acknowledged_again(
    broker, device, central, tmp_path, monkeypatch
):
    """Central committed and stopped before its ack: the re-sent rows are duplicates, stored
    once, and their ack comes with the duplicate. The duplicates come from the lane's re-send
    after its ack timeout, or from the broker redelivering what central never acknowledged
    to it — whichever is first on the day; either way nothing is stored twice."""
    held = tmp_path / "held"
    box, link, forwarder = device(central_ack_timeout_s=1.0)
    assert link.connected.wait(15)
    central.start()
    central.stop()  # its session queues the five below
    for i in range(5):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    assert wait_until(lambda: box.unacked == 5, 15)
    monkeypatch.setenv(PAUSE_BEFORE_ACK_ENV, str(held))
    central.start(linger_s=0.5)  # one batch of all five, committed, then held before the ack
    monkeypatch.delenv(PAUSE_BEFORE_ACK_ENV)
    assert wait_until(held.exists, 15)
    assert central.stored("lane-1") == [1, 2, 3, 4, 5] and box.depth == 5
    central.stop()
    central.start()
    assert wait_until(lambda: box.depth == 0, 15)
    assert central.stored("lane-1") == [1, 2, 3, 4, 5]  # the re-sent ones were duplicates


def test_a_malformed_or_foreign_ack_deletes_nothing(broker, device):
    box, link, forwarder = device()
    assert link.connected.wait(15)
    for i in range(5):
        box.emit(EventType.PAYMENT_CONFIRMED, paid(i))
    assert wait_until(lambda: box.unacked == 5, 15)
    topic = ack_topic("site-a", "lane-1")
    for payload in (
        b"not json",
        b'{"v":1,"seq":"5","ts":"2026-11-26T08:00:00.000Z"}',
        b"\xff" * 10,
    ):
        publish(broker.port, topic, payload)
    publish(broker.port, topic, make_ack(99).to_json())  # beyond the last seq handed out
    publish(broker.port, ack_topic("site-a", "lane-2"), make_ack(5).to_json())  # not subscribed
    publish(broker.port, topic, make_ack(2).to_json())  # a genuine one, after the junk
    assert wait_until(lambda: box.confirmed == 2, 15)
    assert box.depth == 3 and forwarder.confirmed == 2

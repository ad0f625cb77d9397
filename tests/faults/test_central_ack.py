"""Fault tests (issue 11, finding 4): only central's ack ends an event's life at the edge.

Mosquitto acknowledges (PUBACK) what it holds in memory and writes it to disk
only every ``autosave_interval``; a SIGKILL loses everything it took since the
last snapshot. Before central's ack, lanes deleted a row on that PUBACK, so a
broker crash while central was down lost 762 of 1,611 events of one lane.

Real processes: Mosquitto (short ``autosave_interval``), ``gatepost central run
--ingest-only``, and two lanes' real outboxes, forwarders and MQTT links
streaming events (a payment among them). Each scenario ends with both outboxes
empty — emptied only by central's ack — and is counted against the outboxes:
0 lost, 0 stored twice, 0 gaps left open, nothing quarantined.

1. The broker SIGKILLed at several offsets after its last autosave, central down.
2. The same with central up.
3. Central SIGKILLed between its database commit and its ack (a test-only hook,
   ``GATEPOST_TEST_PAUSE_BEFORE_ACK``, makes it stop right there so the kill
   lands in that window every time), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from central.ingest.worker import PAUSE_BEFORE_ACK_ENV
from edge import wire
from edge.link import Forwarder, MqttLink, Outbox
from tests.faults.support import SITE, Central, wait_until
from tests.support.services import MOSQUITTO, Broker, require

AUTOSAVE_S = 2
KILL_OFFSETS_S = (0.3, 1.0, 1.7)
"""When, after a snapshot, the broker is killed: early, middle and late in the interval."""
RATE = 40.0
"""Events per second per lane."""
DEVICES = ("ack-entry-1", "ack-exit-1")


@dataclass
class Lane:
    """One lane's link side: its real outbox, forwarder and MQTT link, and a steady event stream."""

    device: str
    outbox: Outbox
    link: MqttLink
    forwarder: Forwarder
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @classmethod
    def build(cls, root: Path, device: str, port: int) -> Lane:
        outbox = Outbox(root / f"{device}.sqlite3", SITE, device)
        link = MqttLink(
            SITE,
            device,
            host="127.0.0.1",
            port=port,
            keepalive=5,
            reconnect_min_s=0.2,
            reconnect_max_s=1,
        )
        forwarder = Forwarder(outbox, link, replay_rate_per_s=2000, central_ack_timeout_s=2.0)
        return cls(device, outbox, link, forwarder)

    def start(self) -> None:
        self.forwarder.start()
        self.link.start()

    def stream(self, count: int | None = None) -> None:
        """Emit at ``RATE`` until :meth:`halt` (or ``count`` events) in a thread of its own."""
        self.stop.clear()

        def run() -> None:
            started, n = time.monotonic(), 0
            while not self.stop.is_set() and (count is None or n < count):
                emit(self.outbox, n)
                n += 1
                delay = started + n / RATE - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)

        self.thread = threading.Thread(target=run, name=f"stream-{self.device}", daemon=True)
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(10)

    def close(self) -> None:
        self.halt()
        self.forwarder.stop()
        self.link.stop()
        self.outbox.close()


def emit(outbox: Outbox, n: int) -> None:
    """A lane's mix: a payment every fourth event, the rest arrivals and barrier moves."""
    if n % 4 == 0:
        outbox.emit(
            wire.EventType.PAYMENT_CONFIRMED,
            wire.PaymentConfirmed(
                serial=f"P{n:06d}", fee_minor=500 + n, currency="CNY", method="cash"
            ),
        )
    elif n % 2:
        outbox.emit(wire.EventType.VEHICLE_ARRIVED, wire.VehicleArrived(lane_role="exit"))
    else:
        outbox.emit(wire.EventType.BARRIER_OPENED, wire.BarrierMoved(cause="paid"))


def snapshot_id(broker: Broker) -> tuple[int, int] | None:
    try:
        st = (broker.workdir / "mosquitto.db").stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def kill_after_next_autosave(broker: Broker, lanes: list[Lane], offset_s: float) -> int:
    """SIGKILL the broker ``offset_s`` after its next snapshot; return the PUBACKs it took meanwhile."""
    before = snapshot_id(broker)
    wait_until(lambda: snapshot_id(broker) != before, 4 * AUTOSAVE_S, "the broker's next autosave")
    acked = sum(lane.forwarder.acked for lane in lanes)
    time.sleep(offset_s)
    at_risk = sum(lane.forwarder.acked for lane in lanes) - acked
    broker.kill()
    return at_risk


@dataclass
class Count:
    events: int
    stored: int
    distinct: int
    payments: int
    open_gaps: int
    quarantined: int

    @property
    def lost(self) -> int:
        return self.events - self.distinct

    @property
    def duplicates(self) -> int:
        return self.stored - self.distinct


def count(central: Central, lanes: list[Lane]) -> Count:
    events = stored = distinct = payments = 0
    for lane in lanes:
        rows, seqs, low, high, paid = central.rows(
            "SELECT count(*), count(DISTINCT seq), COALESCE(min(seq), 0), COALESCE(max(seq), 0),"
            " count(*) FILTER (WHERE type = 'payment_confirmed') FROM events WHERE device = :d",
            d=lane.device,
        )[0]
        assert (low, high) == (1, lane.outbox.last_seq), f"{lane.device}: seqs {low}..{high}"
        events += lane.outbox.last_seq
        stored, distinct, payments = stored + rows, distinct + seqs, payments + paid
    gaps = central.rows("SELECT count(*) FROM seq_gaps WHERE closed_at IS NULL")[0][0]
    quarantined = central.rows("SELECT count(*) FROM quarantine")[0][0]
    return Count(events, stored, distinct, payments, int(gaps), int(quarantined))


def drained(central: Central, lanes: list[Lane], timeout: float = 90) -> None:
    """Until central's acks have emptied every outbox (nothing else deletes a row)."""
    for lane in lanes:

        def emptied(lane: Lane = lane) -> bool:
            return lane.outbox.depth == 0

        wait_until(emptied, timeout, f"{lane.device}: outbox emptied by central's ack")


@pytest.fixture
def site(tmp_path: Path):
    """A broker with a 2 s autosave, central (not started) on SQLite, two lanes (started)."""
    require(MOSQUITTO is not None, "mosquitto")
    broker = Broker(tmp_path / "broker", autosave_interval=AUTOSAVE_S).start()
    central = Central(f"sqlite:///{tmp_path}/central.db", broker.port, tmp_path / "central.log")
    lanes = [Lane.build(tmp_path, d, broker.port) for d in DEVICES]
    try:
        yield broker, central, lanes
    finally:
        for lane in lanes:
            lane.close()
        central.stop()
        broker.stop()


@pytest.mark.parametrize("central_up", [False, True], ids=["central-down", "central-up"])
def test_broker_sigkilled_after_its_autosave_loses_nothing(site, central_up: bool):
    broker, central, lanes = site
    started = time.monotonic()
    central.start()
    central.wait_subscribed(broker.port)  # central's persistent session exists at the broker
    if not central_up:
        central.stop()
    for lane in lanes:
        lane.start()
        lane.stream()
    at_risk = []
    for offset in KILL_OFFSETS_S:
        wait_until(
            lambda: all(lane.forwarder.acked > 0 for lane in lanes), 30, "the broker taking events"
        )
        at_risk.append(kill_after_next_autosave(broker, lanes, offset))
        time.sleep(0.3)  # the lanes notice and go on writing to their outboxes
        broker.start()
        wait_until(
            lambda: all(lane.link.connected.is_set() for lane in lanes), 15, "the lanes reconnected"
        )
    time.sleep(0.5)
    for lane in lanes:
        lane.halt()
    if not central_up:
        assert all(lane.outbox.depth == lane.outbox.last_seq for lane in lanes), (
            "deleted without central"
        )
        central.start()
    drained(central, lanes)
    result = count(central, lanes)
    print(
        f"\nbroker SIGKILL after autosave ({'central up' if central_up else 'central down'}): "
        f"kills={len(KILL_OFFSETS_S)} at +{KILL_OFFSETS_S} s, pubacked_since_snapshot={at_risk}, "
        f"events={result.events} (payments {result.payments}) stored={result.stored} "
        f"lost={result.lost} duplicates={result.duplicates} open_gaps={result.open_gaps} "
        f"quarantined={result.quarantined} resends={[lane.forwarder.resends for lane in lanes]} "
        f"in {time.monotonic() - started:.0f}s"
    )
    assert sum(at_risk) > 0, "no event was at risk: the kills tested nothing"
    assert result.lost == 0 and result.duplicates == 0
    assert result.open_gaps == 0 and result.quarantined == 0
    assert result.payments == sum((lane.outbox.last_seq + 3) // 4 for lane in lanes)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/central.db"
    return request.getfixturevalue("pg_url")


def test_central_sigkilled_between_commit_and_ack_loses_nothing(
    broker, db_url: str, tmp_path: Path
):
    started = time.monotonic()
    central = Central(db_url, broker.port, tmp_path / "central.log")
    lanes = [Lane.build(tmp_path, d, broker.port) for d in DEVICES]
    held = tmp_path / "held-before-ack"
    try:
        central.start()
        central.wait_subscribed(broker.port)
        central.stop()
        for lane in lanes:
            lane.start()
            lane.stream(count=120)  # queued at the broker for central's session
        for lane in lanes:
            lane.thread.join(30)  # type: ignore[union-attr]
        wait_until(
            lambda: all(lane.outbox.unacked == 120 for lane in lanes), 20, "the broker holding all"
        )

        central.env = central.env | {PAUSE_BEFORE_ACK_ENV: str(held)}
        central.start()  # commits its first batch, then stops before central's ack
        wait_until(held.exists, 30, "central's commit, held before its ack")
        committed = sum(central.stored(lane.device) for lane in lanes)
        central.kill()
        assert all(lane.outbox.depth == 120 for lane in lanes), "deleted without central's ack"
        assert committed > 0

        del central.env[PAUSE_BEFORE_ACK_ENV]
        for lane in lanes:
            lane.stream(count=40)  # the lanes go on meanwhile
        central.start()
        for lane in lanes:
            lane.thread.join(30)  # type: ignore[union-attr]
        drained(central, lanes)
        result = count(central, lanes)
        print(
            f"\ncentral SIGKILL between commit and ack ({db_url.split(':')[0]}): "
            f"committed_before_kill={committed} events={result.events} (payments {result.payments}) "
            f"stored={result.stored} lost={result.lost} duplicates={result.duplicates} "
            f"open_gaps={result.open_gaps} quarantined={result.quarantined} "
            f"resends={[lane.forwarder.resends for lane in lanes]} in {time.monotonic() - started:.0f}s"
        )
        assert result.events == 2 * 160
        assert result.lost == 0 and result.duplicates == 0
        assert result.open_gaps == 0 and result.quarantined == 0
    finally:
        for lane in lanes:
            lane.close()
        central.stop()

"""The multi-site path for real: a site Mosquitto bridged to the central Mosquitto.

Both brokers run the shipped ``gatepost.conf``; the site broker adds the
``site-bridge.conf`` that ``gatepost provision SITE --bridge`` filled in (TLS,
the bridge's own login on central). Central's real ingest logs in with the
logins of its provisioned ``central.env`` on the central broker; each lane is
the edge's own outbox + forwarder + link, logged in with its provisioned
password over TLS on the site broker. Events go up, central's acks come
down, the outboxes empty. The fault runs SIGKILL a broker mid-stream and
count: every event stored once, no gap left open, every outbox empty.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from central.db.models import Event, SeqGap
from central.db.session import make_engine, upgrade
from central.ingest.service import IngestService
from central.provision import Provisioner
from central.settings import load_settings
from edge import wire
from edge.link.forwarder import Forwarder
from edge.link.mqtt import MqttLink
from edge.link.outbox import Outbox
from tests.support.secure_broker import Client, SecureBroker, make_certs, wait_until
from tests.support.services import MOSQUITTO, free_port, require

SITE = "site-1"
LANES = ("lane-a", "lane-b")


@dataclass
class Lane:
    """One device's outbox, link and forwarder (what an agent runs), on the site broker."""

    outbox: Outbox
    link: MqttLink
    forwarder: Forwarder

    def stop(self) -> None:
        self.forwarder.stop()
        self.link.stop()
        self.outbox.close()


@dataclass
class Bridged:
    central_etc: Path
    site_etc: Path
    central_broker: SecureBroker
    site_broker: SecureBroker
    engine: Engine
    ingest: IngestService
    lanes: dict[str, Lane] = field(default_factory=dict)

    def stored(self, device: str) -> tuple[int, int]:
        """(rows, distinct seqs) central holds for ``device``: a duplicate would make them differ."""
        with self.engine.connect() as conn:
            rows, distinct = conn.execute(
                select(func.count(), func.count(func.distinct(Event.seq))).where(
                    Event.device == device
                )
            ).one()
        return int(rows), int(distinct)

    def open_gaps(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(SeqGap).where(SeqGap.closed_at.is_(None))
                ).scalar_one()
            )


@pytest.fixture
def bridged(tmp_path: Path) -> Iterator[Bridged]:
    require(MOSQUITTO is not None, "mosquitto")
    central_etc, site_etc = tmp_path / "central-etc", tmp_path / "site-etc"
    make_certs(central_etc / "tls")
    make_certs(site_etc / "tls")
    # What the installer copies to the site broker: central's CA, to check central's certificate.
    shutil.copy(central_etc / "tls" / "ca.crt", site_etc / "tls" / "central-ca.crt")
    on_central = Provisioner(central_etc)
    central_login = on_central.provision_central()
    central_tls = free_port()
    bridge = on_central.provision_bridge(SITE, central_address=f"localhost:{central_tls}")
    on_site = Provisioner(site_etc)
    devices = {lane: on_site.provision_device(SITE, lane, role="entry") for lane in LANES}

    central_broker = SecureBroker(
        tmp_path / "central-broker", etc=central_etc, tls_port=central_tls
    ).start()
    assert bridge.config_path is not None
    site_broker = SecureBroker(
        tmp_path / "site-broker", etc=site_etc, bridge=bridge.config_path.read_text()
    ).start()

    engine = make_engine(f"sqlite:///{tmp_path}/central.db")
    upgrade(engine)
    env = dict(
        line.split("=", 1)
        for line in central_login.env_path.read_text().splitlines()
        if line and not line.startswith("#")
    )
    settings = load_settings(
        db_url=str(engine.url),
        broker_port=central_broker.port,
        broker_username=env["GATEPOST_BROKER_USERNAME"],
        broker_password=env["GATEPOST_BROKER_PASSWORD"],
    )
    ingest = IngestService(settings, engine, housekeeping=False).start()
    made = Bridged(central_etc, site_etc, central_broker, site_broker, engine, ingest)
    try:
        for lane in LANES:
            box = Outbox(tmp_path / f"outbox-{lane}.db", SITE, lane)
            link = MqttLink(
                SITE,
                lane,
                host="localhost",
                port=site_broker.tls_port,
                username=lane,
                password=devices[lane].password,
                tls={"ca_file": str(site_etc / "tls" / "ca.crt")},
                keepalive=5,
                reconnect_min_s=1,
                reconnect_max_s=2,
            )
            # Central's ack is late after a broker lost messages: re-send after 3 s, not the default minute.
            forwarder = Forwarder(
                box,
                link,
                central_ack_timeout_s=3.0,
                central_ack_backoff_max_s=6.0,
                replay_rate_per_s=1000,
            )
            made.lanes[lane] = Lane(box, link, forwarder)
            link.start()
            forwarder.start()
        for running in made.lanes.values():
            assert running.link.connected.wait(10)
        yield made
    finally:
        for running in made.lanes.values():
            running.stop()
        ingest.stop()
        site_broker.stop()
        central_broker.stop()
        engine.dispose()


def paid(i: int) -> wire.PaymentConfirmed:
    return wire.PaymentConfirmed(serial=f"S{i}", fee_minor=100 + i, currency="CNY", method="cash")


def emit(bridged: Bridged, count: int, per_s: float) -> None:
    """Each lane writes ``count`` payments to its outbox at ``per_s``, as a busy lane would."""
    for i in range(count):
        for lane in bridged.lanes.values():
            lane.outbox.emit(wire.EventType.PAYMENT_CONFIRMED, paid(i))
        time.sleep(1 / per_s)


def all_home(bridged: Bridged, count: int) -> bool:
    return all(
        bridged.stored(name)[1] == count and lane.outbox.depth == 0
        for name, lane in bridged.lanes.items()
    )


def test_events_go_up_the_bridge_and_centrals_acks_come_down(bridged: Bridged):
    count = 200
    emit(bridged, count, per_s=200)
    assert wait_until(lambda: all_home(bridged, count), 60), {n: bridged.stored(n) for n in LANES}
    for name, lane in bridged.lanes.items():
        assert bridged.stored(name) == (count, count)
        assert lane.outbox.confirmed == count  # deleted on central's ack, which crossed the bridge
    assert bridged.open_gaps() == 0
    log = bridged.central_broker.log_text()
    assert "New bridge connected from 127.0.0.1" in log and f"as bridge-{SITE} (" in log


def bridge_password(bridged: Bridged) -> str:
    conf = (bridged.central_etc / "bridges" / f"{SITE}.conf").read_text()
    return next(
        line.split()[1] for line in conf.splitlines() if line.startswith("remote_password ")
    )


def central_password(bridged: Bridged) -> str:
    env = (bridged.central_etc / "central.env").read_text()
    return env.split("GATEPOST_BROKER_PASSWORD=", 1)[1].splitlines()[0]


def test_the_bridge_login_is_held_to_its_own_sites_topics(bridged: Bridged):
    """The bridge's password, used directly on central: its site's downlink only, its site's uplink only."""
    bridged.site_broker.stop()  # the bridge's own session is now free for the test to use
    as_bridge = Client(
        bridged.central_broker, bridged.central_etc, f"bridge-{SITE}", bridge_password(bridged)
    )
    central = Client(
        bridged.central_broker,
        bridged.central_etc,
        "central.ops",
        central_password(bridged),
        tls=False,
    )
    try:
        assert as_bridge.wait_connected() and central.wait_connected()
        as_bridge.subscribe("gatepost/v1/#")  # asks for everything; the ACL filters
        ours = [
            wire.cmd_topic(SITE, "lane-a", "raise"),
            wire.ack_topic(SITE, "lane-a"),
            wire.config_topic(SITE, "tariff"),
            wire.TIME_TOPIC,
        ]
        theirs = [
            wire.cmd_topic("site-2", "lane-x", "raise"),
            wire.ack_topic("site-2", "lane-x"),
            wire.config_topic("site-2", "tariff"),
        ]
        for topic in theirs + ours:
            central.client.publish(topic, b"{}", qos=1).wait_for_publish(5)
        assert wait_until(lambda: set(ours) <= set(as_bridge.topics()), 10), as_bridge.topics()
        assert not set(theirs) & set(as_bridge.topics())
        # Up: another site's event is refused by the broker; its own site's is stored.
        foreign = wire.make_event("site-2", "lane-x", 1, paid(1), wire.EventType.PAYMENT_CONFIRMED)
        own = wire.make_event(SITE, "lane-a", 1, paid(1), wire.EventType.PAYMENT_CONFIRMED)
        for env in (foreign, own):
            as_bridge.client.publish(
                wire.event_topic(env.site, env.device, env.type), env.to_json(), qos=1
            )
        assert wait_until(lambda: bridged.stored("lane-a") == (1, 1), 10)
        assert bridged.stored("lane-x") == (0, 0)
    finally:
        as_bridge.close()
        central.close()


def mid_stream(bridged: Bridged, count: int, fraction: float) -> None:
    """Wait until the lanes have written ``fraction`` of their events and central stored some."""
    first = next(iter(bridged.lanes.values())).outbox
    assert wait_until(lambda: first.last_seq >= count * fraction, 60)


def restart_ingest(bridged: Bridged) -> None:
    bridged.ingest = IngestService(
        bridged.ingest.settings, bridged.engine, housekeeping=False
    ).start()


SCENARIOS = {
    # What is SIGKILLed, and what else is down meanwhile. A broker holds what it acknowledged in
    # memory until its next autosave (every 30 s): a kill loses it, unless someone still has it.
    "site broker": ("site",),
    "central broker": ("central",),
    "site broker, then central broker": ("site", "central"),
    # Central's ingest down: the central broker holds the whole backlog in memory when it dies.
    "central broker while central is down": ("ingest-down", "central", "ingest-up"),
    # Uplink down: the site broker holds the bridge's whole queue in memory when it dies.
    "site broker while the uplink is down": ("uplink-down", "site", "uplink-up"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_broker_sigkilled_mid_stream_loses_nothing(bridged: Bridged, scenario: str):
    """SIGKILL (no clean shutdown, no final autosave) while both lanes stream, then start it again.

    The lanes still hold every event the killed broker had, since only
    central's ack (which crosses the bridge) deletes a row, and send them again.
    """
    count = 400
    writer = threading.Thread(target=emit, args=(bridged, count, 40.0), daemon=True)
    writer.start()
    steps = SCENARIOS[scenario]
    for n, step in enumerate(steps, start=1):
        mid_stream(bridged, count, n / (len(steps) + 1))
        if step in ("site", "central"):
            broker = bridged.site_broker if step == "site" else bridged.central_broker
            broker.kill()
            broker.start()
        elif step == "ingest-down":
            bridged.ingest.stop()
        elif step == "ingest-up":
            restart_ingest(bridged)
        elif step == "uplink-down":
            bridged.central_broker.stop()
        elif step == "uplink-up":
            bridged.central_broker.start()
    writer.join(120)
    assert wait_until(lambda: all_home(bridged, count), 180), {n: bridged.stored(n) for n in LANES}
    lost = sum(count - bridged.stored(name)[1] for name in LANES)
    duplicates = sum(rows - distinct for rows, distinct in (bridged.stored(name) for name in LANES))
    gaps = bridged.open_gaps()
    resent = sum(lane.forwarder.published for lane in bridged.lanes.values()) - count * len(LANES)
    print(
        f"bridge fault ({scenario}, SIGKILL mid-stream): {count} events per lane x {len(LANES)} lanes, "
        f"lost {lost}, stored twice {duplicates}, open gaps {gaps}, "
        f"outbox depth {[lane.outbox.depth for lane in bridged.lanes.values()]}, re-sent by the lanes {resent}"
    )
    assert (lost, duplicates, gaps) == (0, 0, 0)

"""Finding 3 of issue 11: a broker login presenting someone else's client id.

Real Mosquitto from the shipped config with ``gatepost provision`` logins, a
real central ingest (the logins of its ``central.env``) and a real lane agent
on simulated hardware. The attacker holds a lane's broker password and
presents central's persistent-session id, or another lane's, over and over
while traffic flows. Judged by what happened: every event stored, no gap
open, central's and the lanes' connections never taken over, and a remote
raise reaching its lane and moving the barrier exactly once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from central.db.models import Event, SeqGap
from central.db.session import make_engine, upgrade
from central.ingest.service import IngestService, broker_connection
from central.mqtt import MqttLink
from central.provision import Provisioned, Provisioner
from central.settings import Settings, load_settings
from edge import wire
from edge.agent import Agent
from edge.config import load_config
from edge.hw.barrier import Barrier
from edge.link.mqtt import MqttLink as LaneLink
from tests.lane.test_link_faults import command, lane_config
from tests.support.secure_broker import Client, SecureBroker, make_certs, wait_until
from tests.support.services import MOSQUITTO, require

SITE = "sunrise-garden"  # the shipped lane example's site and device
LANE_A, LANE_B = "sg-entry-1", "sg-exit-1"
EVENTS = 300
TAKEOVERS = 15


@dataclass
class Secured:
    broker: SecureBroker
    etc: Path
    central: Provisioned
    lanes: dict[str, Provisioned]


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    require(MOSQUITTO is not None, "mosquitto")
    etc = tmp_path / "etc"
    make_certs(etc / "tls")
    prov = Provisioner(etc)
    lanes = {
        LANE_A: prov.provision_device(SITE, LANE_A, role="entry"),
        LANE_B: prov.provision_device(SITE, LANE_B, role="exit"),
    }
    central = prov.provision_central(workers=2)
    broker = SecureBroker(tmp_path / "broker", etc=etc).start()
    yield Secured(broker, etc, central, lanes)
    broker.stop()


def central_settings(secured: Secured, db_url: str) -> Settings:
    """Central as its systemd unit runs it: the provisioned env file, the broker's loopback listener."""
    env = dict(
        line.split("=", 1)
        for line in secured.central.env_path.read_text().splitlines()
        if line and not line.startswith("#")
    )
    return load_settings(
        db_url=db_url,
        broker_port=secured.broker.port,
        broker_username=env["GATEPOST_BROKER_USERNAME"],
        broker_password=env["GATEPOST_BROKER_PASSWORD"],
        ingest_workers=int(env["GATEPOST_INGEST_WORKERS"]),
        time_beacon_s=1.0,
    )


def stored(engine: Engine, device: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count(func.distinct(Event.seq))).where(Event.device == device)
            ).scalar_one()
        )


def open_gaps(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(SeqGap).where(SeqGap.closed_at.is_(None))
            ).scalar_one()
        )


def takeover(secured: Secured, login: str, client_id: str) -> Client:
    """``login``'s password presenting ``client_id``, persistent, asking for everything."""
    attacker = Client(
        secured.broker,
        secured.etc,
        login,
        secured.lanes[login].password,
        client_id=client_id,
        clean=False,
    )
    assert attacker.wait_connected(), f"{login} as {client_id!r}: {attacker.rc}"
    attacker.subscribe("gatepost/v1/#")
    return attacker


def test_a_lane_login_presenting_centrals_client_ids_cannot_take_centrals_sessions(
    secured: Secured, tmp_path
):
    engine = make_engine(f"sqlite:///{tmp_path}/central.db")
    upgrade(engine)
    settings = central_settings(secured, str(engine.url))
    central = IngestService(settings, engine).start()
    lane = Client(
        secured.broker,
        secured.etc,
        LANE_A,
        secured.lanes[LANE_A].password,
        client_id=LANE_A,
        clean=False,
    )
    assert lane.wait_connected()
    # The ids central used before (predictable: gatepost-central-…) and the ones it uses now.
    victims = [
        cid
        for _, cid in (broker_connection(settings, r) for r in ("ingest-0", "ingest-1", "house"))
    ]
    victims += ["gatepost-central-ingest-0", LANE_A]
    seen: list[tuple[str, bytes]] = []
    try:
        sent = []
        for chunk in range(TAKEOVERS):
            # Take-over attempts interleaved with the stream: each connects while events are in flight.
            attacker = takeover(secured, LANE_B, victims[chunk % len(victims)])
            for seq in range(
                chunk * EVENTS // TAKEOVERS + 1, (chunk + 1) * EVENTS // TAKEOVERS + 1
            ):
                env = wire.make_event(
                    SITE,
                    LANE_A,
                    seq,
                    wire.VehicleArrived(lane_role="entry"),
                    wire.EventType.VEHICLE_ARRIVED,
                )
                sent.append(
                    lane.client.publish(
                        wire.event_topic(SITE, LANE_A, env.type), env.to_json(), qos=1
                    )
                )
            attacker.close()
            seen += attacker.messages
        for info in sent:
            info.wait_for_publish(30)
        assert wait_until(lambda: stored(engine, LANE_A) == EVENTS, 60), (
            f"stored {stored(engine, LANE_A)} of {EVENTS}"
        )
        assert open_gaps(engine) == 0
        # Central's connections were never taken over: each is still on its first connection.
        assert [w.link.generation for w in central.workers] == [1, 1]
        assert central._house_link.generation == 1
        assert lane.disconnects == 0  # presenting LANE_A's id did not knock the lane off either
        assert not [t for t, _ in seen if f"/{LANE_A}/" in t]  # and read none of its traffic
        log = secured.broker.log_text()
        assert "already connected, closing old connection" not in log
        assert (
            f"as {LANE_B} (" in log
        )  # the broker renamed every attempt to the attacker's own login
    finally:
        lane.close()
        central.stop()
        engine.dispose()


def test_a_remote_raise_reaches_its_lane_while_another_login_presents_its_client_id(
    secured: Secured, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GATEPOST_SITE_KEYS", json.dumps({"1": "ab" * 32}))
    monkeypatch.setenv("GATEPOST_MQTT_PASSWORD", secured.lanes[LANE_A].password)
    path = lane_config(
        tmp_path,
        broker_port=secured.broker.tls_port,
        extra={
            "[console]\n": f'[link.tls]\nca_file = "{secured.etc / "tls" / "ca.crt"}"\n\n[console]\n'
        },
    )
    settings = central_settings(secured, f"sqlite:///{tmp_path}/unused.db")
    ops = MqttLink(*broker_connection(settings, "ops"))
    watch: list[tuple[str, bytes]] = []
    ops.on_message(lambda m: watch.append((m.topic, m.payload)))
    ops.subscribe(f"{wire.TOPIC_ROOT}/{SITE}/{LANE_A}/#")
    ops.start()
    agent = Agent(load_config(path), state_dir=tmp_path / "state")
    agent.start()
    drops = threading.Event()
    attackers: list[Client] = []
    try:
        assert agent.link is not None and agent.link.connected.wait(10)
        agent.link.add_disconnect_listener(drops.set)
        ops.publish(
            wire.TIME_TOPIC,
            wire.TimeBeacon(ts=wire.format_ts(wire.utc_now())).model_dump_json(),
            qos=0,
        )
        wait_until(lambda: agent.lane.machine.clock_synced, 10)
        # Lane B's login holding lane A's ids (what it sends now, and the predictable old one), persistent.
        attackers = [
            takeover(secured, LANE_B, cid) for cid in (LANE_A, f"gatepost-{SITE}-{LANE_A}")
        ]
        ops.publish(
            wire.cmd_topic(SITE, LANE_A, "raise"),
            command("req-takeover-1", central_now=wire.utc_now(), expires_in_s=60),
            qos=1,
        )

        def results() -> list[dict]:
            return [json.loads(p) for t, p in watch if t == wire.cmd_result_topic(SITE, LANE_A)]

        assert wait_until(lambda: any(r["id"] == "req-takeover-1" for r in results()), 15), (
            results()
        )
        assert [(r["status"], r["ok"]) for r in results() if r["id"] == "req-takeover-1"] == [
            ("done", True)
        ]
        opened = wire.event_topic(SITE, LANE_A, "barrier_opened")
        raised = wire.event_topic(SITE, LANE_A, "manual_raise")
        assert wait_until(lambda: any(t == raised for t, _ in watch), 10)
        assert wait_until(lambda: any(t == opened for t, _ in watch), 10)
        barrier = agent.lane.barrier
        assert isinstance(barrier, Barrier) and barrier.state in ("opening", "open")
        # Exactly once: one audited raise, one opening; the lane never lost its session.
        for client in attackers:
            client.close()
        assert [json.loads(p)["data"]["request_id"] for t, p in watch if t == raised] == [
            "req-takeover-1"
        ]
        assert [t for t, _ in watch].count(opened) == 1
        assert not drops.is_set()
        assert not any(f"/{LANE_A}/cmd/" in t for a in attackers for t in a.topics())
    finally:
        agent.stop()
        ops.stop()
        for client in attackers:
            client.close()


def test_centrals_persistent_session_keeps_its_backlog_against_a_clean_session_takeover(
    secured: Secured, tmp_path
):
    """While central is down the broker queues for its session; a clean-session connect under its
    id would wipe that queue if the broker honoured the id. It does not: all arrive."""
    engine = make_engine(f"sqlite:///{tmp_path}/central.db")
    upgrade(engine)
    settings = central_settings(secured, str(engine.url))
    IngestService(
        settings, engine, housekeeping=False
    ).start().stop()  # the sessions exist, central is down
    lane = Client(
        secured.broker,
        secured.etc,
        LANE_A,
        secured.lanes[LANE_A].password,
        client_id=LANE_A,
        clean=False,
    )
    assert lane.wait_connected()
    count = 100
    try:
        for seq in range(1, count + 1):
            env = wire.make_event(
                SITE,
                LANE_A,
                seq,
                wire.VehicleArrived(lane_role="entry"),
                wire.EventType.VEHICLE_ARRIVED,
            )
            lane.client.publish(
                wire.event_topic(SITE, LANE_A, env.type), env.to_json(), qos=1
            ).wait_for_publish(10)
            if seq % 25 == 0:
                for victim in ("central.ingest-0", "central.ingest-1"):
                    wiper = Client(
                        secured.broker,
                        secured.etc,
                        LANE_B,
                        secured.lanes[LANE_B].password,
                        client_id=victim,
                        clean=True,
                    )
                    assert wiper.wait_connected()
                    wiper.close()
        central = IngestService(settings, engine, housekeeping=False).start()
        try:
            assert wait_until(lambda: stored(engine, LANE_A) == count, 60), stored(engine, LANE_A)
            assert open_gaps(engine) == 0
        finally:
            central.stop()
    finally:
        lane.close()
        engine.dispose()


def test_a_lanes_persistent_session_keeps_a_command_queued_while_it_was_away(secured: Secured):
    """The lane's link sends its login as client id (what the broker enforces), so its session
    survives a reconnect; lane B's login presenting that id with a clean session wipes nothing."""

    def lane_link() -> tuple[LaneLink, list[bytes]]:
        got: list[bytes] = []
        link = LaneLink(
            SITE,
            LANE_A,
            host="localhost",
            port=secured.broker.tls_port,
            username=LANE_A,
            password=secured.lanes[LANE_A].password,
            tls={"ca_file": str(secured.etc / "tls" / "ca.crt")},
        )
        link.subscribe(wire.device_cmd_filter(SITE, LANE_A), lambda t, p, r: got.append(p))
        link.start()
        assert link.connected.wait(10)
        return link, got

    link, _ = lane_link()
    link.stop()  # a clean disconnect: the persistent session stays with the broker
    for cid in (LANE_A, f"gatepost-{SITE}-{LANE_A}"):
        wiper = Client(
            secured.broker,
            secured.etc,
            LANE_B,
            secured.lanes[LANE_B].password,
            client_id=cid,
            clean=True,
        )
        assert wiper.wait_connected()
        wiper.close()
    ops = Client(secured.broker, secured.etc, "central.ops", secured.central.password, tls=False)
    assert ops.wait_connected()
    ops.client.publish(
        wire.cmd_topic(SITE, LANE_A, "raise"), b"queued-while-away", qos=1
    ).wait_for_publish(5)
    ops.close()
    link, got = lane_link()
    try:
        assert wait_until(lambda: got == [b"queued-while-away"], 10), got
    finally:
        link.stop()

"""The agent's link fault paths: outbox backlog alarm, clock sync into the lane, command expiry
judged on central's time, and central's remote raise at an unattended lane."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from edge.agent import Agent
from edge.config import load_config
from edge.console.guards import hash_pin
from edge.errors import OutboxFull
from edge.lane import messages
from edge.lane.machine import BadgeRead, LaneRefused
from edge.link.outbox import Outbox
from edge.sim.vehicle import VehicleSimulator
from edge.wire import (
    TIME_TOPIC,
    Command,
    CommandName,
    EventType,
    ReaderFault,
    TimeBeacon,
    cmd_result_topic,
    cmd_topic,
    format_ts,
    health_topic,
    utc_now,
)
from tests.lane.conftest import ROOT
from tests.lane.sim import event_types, events_of, wait_for
from tests.link.helpers import Collector, publish
from tests.support.browser import Browser
from tests.support.services import free_port

EXAMPLE = ROOT / "firmware_configs" / "examples" / "entry_lane.toml"
CRITICAL_PER_TRANSIT = ("badge_accepted", "barrier_opened", "vehicle_entered")


def lane_config(
    tmp_path: Path, *, broker_port: int = 1883, extra: dict[str, str] | None = None
) -> Path:
    """The shipped entry-lane example, simulated, on a local broker, with edits."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("simulate = false", "simulate = true")
    text = text.replace(
        'profile = "boards/pi4_lane.toml"',
        f'profile = "{ROOT}/firmware_configs/boards/pi4_lane.toml"',
    )
    text = text.replace(
        'file = "../tariffs/day_night_cn.toml"',
        f'file = "{ROOT}/firmware_configs/tariffs/day_night_cn.toml"',
    )
    text = text.replace('host = "mqtt.sunrise-garden.example"', 'host = "127.0.0.1"')
    text = text.replace("port = 8883", f"port = {broker_port}")
    text = text.replace("port = 8080", f"port = {free_port()}")
    head, _, rest = text.partition("[link.tls]")
    text = head + rest.split("\n\n", 1)[1]
    for old, new in (extra or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "entry_lane.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def site_keys(monkeypatch):
    monkeypatch.setenv("GATEPOST_SITE_KEYS", json.dumps({"1": "ab" * 32}))
    monkeypatch.setenv("GATEPOST_MQTT_PASSWORD", "unused")


def badge_transit(lane, vehicle, badge: str) -> None:
    car = vehicle()
    car.arrive()
    wait_for(lambda: lane.status().phase == "waiting", what="vehicle waiting")
    lane.submit(BadgeRead(badge))
    wait_for(lambda: lane.barrier.state == "open", what="badge raises")
    car.drive_through()
    wait_for(
        lambda: lane.barrier.state == "closed" and lane.status().phase == "idle",
        what="closed again",
    )


# --------------------------------------------------------------------------- outbox backlog


def test_backlog_alarm_is_shown_said_and_sent_and_access_events_are_never_dropped(lanes, tmp_path):
    sim = lanes("entry", camera=False, start=False)
    small = Outbox(tmp_path / "small-outbox.db", "demo", "entry-1", bound=20)
    sim.lane.sink = small
    sim.outbox = small
    sim.closers.insert(0, small.close)  # closed after the lane has stopped
    small.add_near_full_listener(
        lambda near: sim.lane.backlog_changed(near, small.depth, small.bound)
    )
    sim.lane.start()
    if True:
        transits = 7  # five events each: 35 rows, well past the bound of 20
        for i in range(transits):
            badge_transit(sim.lane, sim.vehicle, "0A1B2C3D4E" if i % 2 else "0B0B0B0B0B")
        status = sim.lane.status()
        assert status.backlog_alarm is True
        backlog = events_of(small, "outbox_backlog")
        assert (
            backlog == [{"depth": backlog[0]["depth"], "bound": 20}] and backlog[0]["depth"] >= 16
        )
        alarm = messages.OUTBOX_BACKLOG
        assert alarm.lines() in sim.text.shown  # display (both languages for the booth)
        assert alarm.zh in sim.text.said  # and the voice
        for kind in CRITICAL_PER_TRANSIT:
            assert event_types(small).count(kind) == transits, kind
        assert small.depth > small.bound
        # Telemetry is what gives way at the bound, never access events.
        with pytest.raises(OutboxFull):
            for _ in range(5):
                small.emit_telemetry(EventType.READER_FAULT, ReaderFault(reader="card", detail="x"))
        # The broker is back and takes everything: sent is not acknowledged, the alarm stays.
        small.mark_sent([row.seq for row in small.pending(limit=1000)])
        assert small.near_full and sim.lane.status().backlog_alarm is True
        # Central acknowledges: the backlog drains and the alarm clears.
        small.confirm(small.last_seq)
        wait_for(lambda: sim.lane.status().backlog_alarm is False, what="alarm cleared")
        assert sim.text.shown[-1] == messages.WELCOME.lines()


def test_agent_wires_the_outbox_alarm_into_the_lane_and_raises_it_again_after_a_restart(
    tmp_path, site_keys
):
    path = lane_config(tmp_path, extra={"outbox_bound = 200000": "outbox_bound = 1000"})
    agent = Agent(load_config(path), state_dir=tmp_path / "state", connect=False)
    agent.start()
    try:
        assert agent.lane.status().backlog_alarm is False
        agent.outbox.emit_many(
            [
                (EventType.READER_FAULT, ReaderFault(reader="badge", detail=str(i)))
                for i in range(800)
            ]
        )
        wait_for(lambda: agent.lane.status().backlog_alarm, what="alarm raised")
        backlog = events_of(agent.outbox, "outbox_backlog")
        assert len(backlog) == 1 and backlog[0]["bound"] == 1000 and backlog[0]["depth"] >= 800
        agent.lane.set_whitelist({"0A1B2C3D4E": "resident"})
        badge_transit(agent.lane, lambda: _vehicle(agent), "0A1B2C3D4E")  # the lane goes on working
        assert event_types(agent.outbox).count("badge_accepted") == 1
    finally:
        agent.stop()
    again = Agent(load_config(path), state_dir=tmp_path / "state", connect=False)
    again.start()
    try:
        assert again.lane.status().backlog_alarm is True  # still near full on disk: alarm at once
        assert len(events_of(again.outbox, "outbox_backlog")) == 2
    finally:
        again.stop()


def _vehicle(agent: Agent) -> VehicleSimulator:
    lane = agent.lane
    return VehicleSimulator(
        arming_loop=lane.arming_loop,
        safety_loop=lane.safety_loop,
        photo_eye=lane.photo_eye,
        barrier=lane.barrier,
        step_s=0.03,
    )


# --------------------------------------------------------------------------- clock, commands, unattended


def command(
    request_id: str, *, central_now, expires_in_s: float, reason: str = "fire brigade"
) -> bytes:
    return (
        Command(
            id=request_id,
            name=CommandName.RAISE,
            issued_at=format_ts(central_now),
            expires_at=format_ts(central_now + timedelta(seconds=expires_in_s)),
            by="supervisor-li",
            args={"reason": reason},
        )
        .model_dump_json()
        .encode()
    )


def test_agent_booth_lane_is_unattended_until_a_browser_signs_on_and_after_sign_off(
    tmp_path, site_keys
):
    config = load_config(lane_config(tmp_path))
    (tmp_path / "guards.toml").write_text(
        f'[[guard]]\nid = "g001"\nname = "王强"\nrole = "guard"\npin_hash = "{hash_pin("1234")}"\n',
        encoding="utf-8",
    )
    agent = Agent(config, state_dir=tmp_path / "state", connect=False)
    agent.start()
    try:
        browser = Browser.at(f"http://127.0.0.1:{config.console.port}/")
        assert agent.lane.status().guard_on_duty is None  # nobody acts before a sign-on
        on = browser.sign_on("g001", "1234")
        assert on.status_code == 200, on.text
        assert agent.lane.status().guard_on_duty == "g001 王强" and agent.lane.status().attended
        off = browser.post(
            "/api/console/close-shift",
            json={"request_id": "req-sign-off-1", "declared_cash": "0", "unattended": True},
        )
        assert off.status_code == 200, off.text
        status = agent.lane.status()
        assert (status.guard_on_duty, status.attended) == (None, False)
        assert event_types(agent.outbox).count("guard_signed_off") == 1
    finally:
        agent.stop()


def test_agent_judges_commands_on_centrals_time_and_central_may_raise_an_unattended_lane(
    tmp_path, site_keys, broker
):
    path = lane_config(
        tmp_path,
        broker_port=broker.port,
        extra={
            'unattended_mode = "badges_only"': 'unattended_mode = "refuse_all"',
        },
    )
    config = load_config(path)
    site, device = "sunrise-garden", "sg-entry-1"
    results = Collector(broker.port, cmd_result_topic(site, device)).start()
    health = Collector(broker.port, health_topic(site, device)).start()
    raises = Collector(broker.port, f"gatepost/v1/{site}/{device}/event/manual_raise").start()
    agent = Agent(config, state_dir=tmp_path / "state")
    agent.start()
    try:
        lane = agent.lane
        assert agent.link is not None and agent.link.connected.wait(5)
        status = lane.status()
        assert status.attended is False and status.guard_on_duty is None
        assert status.unattended_mode == "refuse_all"
        # Central's beacon agrees with the Pi: the lane trusts its clock.
        publish(
            broker.port, TIME_TOPIC, TimeBeacon(ts=format_ts(utc_now())).model_dump_json(), qos=0
        )
        wait_for(lambda: lane.machine.clock_synced, what="clock synced from the beacon")
        # Then central's clock reads 10 minutes later than the Pi's: the lane is told at once.
        publish(
            broker.port,
            TIME_TOPIC,
            TimeBeacon(ts=format_ts(utc_now() + timedelta(minutes=10))).model_dump_json(),
            qos=0,
        )
        wait_for(lambda: not lane.machine.clock_synced, what="clock unsynced from the beacon")
        central_now = utc_now() + timedelta(minutes=10)
        # Expired 5 minutes ago in central's time, though still "valid" by the Pi's slow clock.
        publish(
            broker.port,
            cmd_topic(site, device, "raise"),
            command(
                "req-stale-001", central_now=central_now - timedelta(minutes=6), expires_in_s=60
            ),
        )
        msgs = results.wait_for(1, 10)
        assert json.loads(msgs[0].payload)["status"] == "expired"
        assert lane.barrier.state == "closed"
        # Nobody on duty, refuse_all: the booth cannot raise, central can, with a reason.
        with pytest.raises(LaneRefused):
            lane.manual_raise("let me in", by="passer-by")
        publish(
            broker.port,
            cmd_topic(site, device, "raise"),
            command("req-fresh-001", central_now=central_now, expires_in_s=60),
        )
        msgs = results.wait_for(2, 10)
        answer = json.loads(msgs[1].payload)
        assert (answer["id"], answer["status"], answer["ok"]) == ("req-fresh-001", "done", True)
        wait_for(lambda: lane.barrier.state == "open", what="remote raise")
        audited = json.loads(raises.wait_for(1, 10)[0].payload)["data"]
        assert audited == {
            "reason": "fire brigade",
            "by": "supervisor-li",
            "request_id": "req-fresh-001",
        }
        docs = health.wait_for(1, 10)
        assert docs, "health published on connect"
        doc = json.loads(docs[-1].payload)
        assert doc["guard_on_duty"] is None
        assert doc["readers"]["camera"] == "ok" and doc["readers"]["snapshots"] == "ok"
    finally:
        agent.stop()
        for collector in (results, health, raises):
            collector.stop()

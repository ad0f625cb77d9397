"""`gatepost edge` on simulated hardware against a real Mosquitto (the demo's tests are in tests/demo)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from edge.agent import Agent
from edge.config import load_config
from edge.errors import ConfigError
from edge.hw.gpio import activate
from tests.lane.conftest import ROOT
from tests.lane.sim import wait_for
from tests.support.services import free_port
from tests.support.wait import subscribe_and_wait

EXAMPLE = ROOT / "firmware_configs" / "examples" / "entry_lane.toml"


def simulated_config(tmp_path: Path, broker_port: int, console_port: int) -> Path:
    """The shipped entry-lane example with simulate = true, a local broker and absolute paths."""
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
    text = text.replace("port = 8080", f"port = {console_port}")
    head, _, rest = text.partition("[link.tls]")
    text = head + rest.split("\n\n", 1)[1] if "[link.tls]" in text else text
    path = tmp_path / "entry_lane.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_agent_runs_the_example_config_simulated_and_events_reach_the_broker(
    tmp_path, broker, monkeypatch
):
    monkeypatch.setenv("GATEPOST_SITE_KEYS", json.dumps({"1": "ab" * 32}))
    monkeypatch.setenv("GATEPOST_MQTT_PASSWORD", "unused")
    console_port = free_port()
    config = load_config(simulated_config(tmp_path, broker.port, console_port))
    received: list[str] = []
    got = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: (received.append(m.topic), got.set())
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    subscribe_and_wait(client, "gatepost/v1/+/+/event/+")
    agent = Agent(config, state_dir=tmp_path / "state")
    try:
        agent.start()  # how quickly it is ready is measured in tests/bench/lane_latency.py (ready_s)
        sims = agent.assembly.sims
        activate(agent.lane.arming_loop)
        sims.rdm6300.present("0A1B2C3D4E")
        # Not on the whitelist yet: refused — once the lane has decided (its badge_rejected event), the arm is still down.
        wait_for(
            lambda: "badge_rejected" in {r.event_type for r in agent.outbox.pending(1000)},
            what="the unknown badge refused",
        )
        assert agent.lane.barrier.state == "closed"
        agent.lane.set_whitelist({"0A1B2C3D4E": "resident"})
        sims.rdm6300.remove()
        time.sleep(2.0)  # precondition: out of the field longer than the reader's 1.5 s debounce
        sims.rdm6300.present("0A1B2C3D4E")
        wait_for(
            lambda: agent.lane.barrier.state == "open", what="badge raises the simulated barrier"
        )
        wait_for(
            lambda: any(t.endswith("/event/badge_accepted") for t in received),
            what="badge_accepted at the broker",
        )
        assert all(t.startswith("gatepost/v1/sunrise-garden/sg-entry-1/event/") for t in received)
        state = httpx.get(f"http://127.0.0.1:{console_port}/api/lane", timeout=5).json()
        assert state["role"] == "entry" and state["phase"] == "open"
        # No sign-on and no machine token: refused, and the arm stays where the badge put it.
        refused = httpx.post(
            f"http://127.0.0.1:{console_port}/api/lane/manual-close",
            json={"reason": "x"},
            timeout=5,
        )
        assert refused.status_code == 401
        assert agent.lane.barrier.state == "open" and "manual_close" not in {
            r.event_type for r in agent.outbox.pending(1000)
        }
    finally:
        agent.stop()
        client.loop_stop()
        client.disconnect()


def test_agent_on_real_hardware_without_ticket_keys_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("GATEPOST_SITE_KEYS", raising=False)
    path = simulated_config(tmp_path, 1883, free_port())
    real = path.read_text().replace("simulate = true", "simulate = false")
    path.write_text(real)
    agent = Agent(load_config(path), state_dir=tmp_path / "s", connect=False)
    with pytest.raises(ConfigError, match="GATEPOST_SITE_KEYS"):
        agent.start()
    assert not hasattr(agent, "assembly")  # stopped before any hardware was touched

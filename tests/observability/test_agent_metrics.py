"""An agent's /metrics after real traffic: the shipped entry-lane config, simulated hardware, real Mosquitto."""

from __future__ import annotations

import json
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from edge.agent import Agent
from edge.config import load_config
from edge.hw.gpio import activate, deactivate
from edge.kiosk.agent import KioskAgent
from edge.lane.inputs import ReaderFailed
from tests.kiosk.helpers import KEY_HEX, form, kiosk_config
from tests.lane.sim import wait_for
from tests.lane.test_agent_and_demo import simulated_config
from tests.link.helpers import Central
from tests.support.browser import Browser
from tests.support.services import free_port

BADGE = "0A1B2C3D4E"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_agent_metrics_count_transits_reader_errors_and_the_outbox(tmp_path, broker, monkeypatch):
    monkeypatch.setenv("GATEPOST_SITE_KEYS", json.dumps({"1": "ab" * 32}))
    monkeypatch.setenv("GATEPOST_MQTT_PASSWORD", "unused")
    path = simulated_config(tmp_path, broker.port, free_port())
    metrics_port = free_port()
    path.write_text(path.read_text() + f'\n[metrics]\nbind = "127.0.0.1"\nport = {metrics_port}\n')
    central = Central(broker.port, tmp_path / "central.db").start()
    agent = Agent(load_config(path), state_dir=tmp_path / "state")
    agent.start()
    try:
        assert agent.metrics_port == metrics_port
        lane, sims = agent.lane, agent.assembly.sims
        wait_for(
            lambda: scrape(metrics_port)[("gatepost_agent_broker_connected", ())] == 1,
            timeout=10,
            what="the link is up",
        )
        lane.set_whitelist({BADGE: "resident"})

        for _ in range(2):  # two residents drive in
            activate(lane.arming_loop)
            sims.rdm6300.present(BADGE)
            wait_for(lambda: lane.barrier.state == "open", what="barrier opens for the badge")
            sims.rdm6300.remove()
            activate(lane.safety_loop)
            deactivate(lane.arming_loop)
            deactivate(lane.safety_loop)
            wait_for(lambda: lane.barrier.state == "closed", what="barrier closes behind the car")
            time.sleep(
                2.0
            )  # precondition: past the reader's 1.5 s repeat gap, so the next badge counts
        # What the card-station thread submits when a read fails (edge/lane/lane.py, _read_card).
        lane.submit(ReaderFailed("card_station", "read failed: no answer from the PN532"))

        samples = {}

        def counted() -> bool:
            samples.update(scrape(metrics_port))
            return (
                samples.get(("gatepost_agent_reader_errors_total", (("reader", "card_station"),)))
                == 1
            )

        wait_for(counted, timeout=15, what="the reader fault is counted")
        assert samples[("gatepost_agent_transits_total", (("direction", "in"),))] == 2
        assert samples[("gatepost_agent_events_total", (("type", "badge_accepted"),))] == 2
        assert samples[("gatepost_agent_events_total", (("type", "vehicle_entered"),))] == 2
        labels = (("device", "sg-entry-1"), ("role", "entry"), ("site", "sunrise-garden"))
        assert samples[("gatepost_agent_info", labels)] == 1
        assert samples[("gatepost_agent_outbox_bound", ())] == agent.config.link.outbox_bound

        # Connected, central up: central's ack drains the outbox, and the scrape shows it.
        wait_for(
            lambda: scrape(metrics_port)[("gatepost_agent_outbox_depth", ())] == 0,
            timeout=15,
            what="outbox drained to central",
        )
        assert scrape(metrics_port)[("gatepost_agent_outbox_unacked", ())] == 0

        # Central gone: the broker takes the next event, which waits for central's ack.
        central.stop()
        lane.submit(ReaderFailed("card_station", "read failed again"))
        wait_for(
            lambda: scrape(metrics_port)[("gatepost_agent_outbox_unacked", ())] == 1,
            timeout=15,
            what="sent, not acknowledged by central",
        )
        assert scrape(metrics_port)[("gatepost_agent_outbox_depth", ())] == 1

        # Broker gone: events pile up in the outbox and the oldest one ages.
        broker.stop()
        wait_for(
            lambda: scrape(metrics_port)[("gatepost_agent_broker_connected", ())] == 0,
            timeout=15,
            what="the link notices the broker is gone",
        )
        lane.submit(ReaderFailed("badge", "no frame for 60 s"))
        wait_for(
            lambda: (
                scrape(metrics_port)[("gatepost_agent_outbox_oldest_unsent_seconds", ())] >= 1.0
            ),
            timeout=15,
            what="the oldest unsent event ages past a second",
        )
        offline = scrape(metrics_port)
        assert offline[("gatepost_agent_outbox_depth", ())] >= 2
        assert offline[("gatepost_agent_outbox_oldest_unsent_seconds", ())] >= 1.0
        assert offline[("gatepost_agent_reader_errors_total", (("reader", "badge"),))] == 1
        assert offline[("gatepost_agent_outbox_depth", ())] == agent.outbox.depth
    finally:
        agent.stop()
        central.close()
    # Stopped: the metrics port is closed again.
    try:
        httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=1)
        raise AssertionError("metrics still served after stop")
    except httpx.TransportError:
        pass


def test_kiosk_metrics_count_check_ins_camera_errors_and_the_outbox(tmp_path, broker, monkeypatch):
    monkeypatch.setenv("GATEPOST_TEST_KIOSK_KEYS", f"1={KEY_HEX}")
    path = kiosk_config(tmp_path, broker.port)
    metrics_port = free_port()
    path.write_text(path.read_text() + f'\n[metrics]\nbind = "127.0.0.1"\nport = {metrics_port}\n')
    central = Central(broker.port, tmp_path / "central.db").start()
    agent = KioskAgent(load_config(path), state_dir=tmp_path / "kiosk-state", port=0).start()
    try:
        assert agent.metrics_port == metrics_port
        wait_for(
            lambda: scrape(metrics_port)[("gatepost_agent_broker_connected", ())] == 1,
            timeout=10,
            what="the kiosk's link is up",
        )
        http = Browser.at(agent.url).open()  # the kiosk page's CSRF token on every POST
        body = form(name="Metric Mei")
        assert http.post("/api/check-in", json=body).json()["ok"]
        assert http.post("/api/check-in", json=body).json()[
            "repeat"
        ]  # a double tap is not a second visitor
        agent.camera_source.unplug()
        assert http.post("/api/photo").status_code == 503
        assert http.post("/api/check-out/scan").status_code == 503

        samples = scrape(metrics_port)
        assert samples[("gatepost_agent_events_total", (("type", "visitor_checked_in"),))] == 1
        assert samples[("gatepost_agent_reader_errors_total", (("reader", "camera"),))] == 2
        labels = (("device", "sg-lobby-1"), ("role", "kiosk"), ("site", "sunrise-garden"))
        assert samples[("gatepost_agent_info", labels)] == 1
        wait_for(
            lambda: scrape(metrics_port)[("gatepost_agent_outbox_depth", ())] == 0,
            timeout=15,
            what="central acknowledged the check-in",
        )
        assert central.stored("sg-lobby-1") != []
    finally:
        agent.stop()
        central.close()

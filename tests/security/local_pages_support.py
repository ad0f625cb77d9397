"""A real lane agent from the shipped exit example, its booth console over TLS, and what an attacker can see.

The agent runs on simulated hardware (MockFactory pins, PN532/RDM6300 emulators on
ptys) with the console served by a real uvicorn, bound as the shipped example binds
it (0.0.0.0, TLS with a certificate from ``gatepost provision --console-host``).
Attacks are judged by what happened: did the barrier's OPEN relay pin change, did an
action's row reach the outbox.
"""

from __future__ import annotations

import json
import re
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from central.console_tls import make_console_cert
from edge.agent import Agent
from edge.config import load_config
from edge.console.guards import hash_pin
from edge.sim.pn532_emulator import NtagMemory
from edge.sim.vehicle import VehicleSimulator
from edge.ticket import new_serial
from tests.lane.sim import wait_for
from tests.support.browser import Browser
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
EXIT_EXAMPLE = ROOT / "firmware_configs" / "examples" / "exit_lane.toml"
PINS = {"g001": "1234", "g002": "5678", "s001": "9999"}
LANE = "sg-exit-1"
ACTIONS = (
    "manual_raise",
    "manual_close",
    "payment_confirmed",
    "lost_ticket",
    "free_exit",
    "incident_reported",
    "shift_closed",
    "guard_signed_off",
    "entry_refused_full",
)
"""Rows an attacker must never get into the outbox."""


def exit_config(tmp_path: Path, *, extra: dict[str, str] | None = None) -> Path:
    """The shipped exit example, simulated, offline, its TLS files made by ``gatepost provision``."""
    crt, key, _ca = make_console_cert(
        tmp_path / "provision", LANE, ["sg-exit-1.local", "127.0.0.1"]
    )
    keys = tmp_path / "site_keys.toml"
    keys.write_text('[keys]\n1 = "' + "ab" * 32 + '"\n', encoding="utf-8")
    text = EXIT_EXAMPLE.read_text(encoding="utf-8")
    edits = {
        "simulate = false": "simulate = true",
        'profile = "boards/pi5_lane.toml"': f'profile = "{ROOT}/firmware_configs/boards/pi5_lane.toml"',
        'file = "../tariffs/day_night_cn.toml"': f'file = "{ROOT}/firmware_configs/tariffs/day_night_cn.toml"',
        'file = "/etc/gatepost/site_keys.toml"': f'file = "{keys}"',
        'snapshot_dir = "/var/lib/gatepost/snapshots"': f'snapshot_dir = "{tmp_path / "snapshots"}"',
        "port = 8443": f"port = {free_port()}",
        'tls_cert_file = "/etc/gatepost/tls/sg-exit-1-console.crt"': f'tls_cert_file = "{crt}"',
        'tls_key_file = "/etc/gatepost/tls/sg-exit-1-console.key"': f'tls_key_file = "{key}"',
    } | (extra or {})
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "exit_lane.toml"
    path.write_text(text, encoding="utf-8")
    roster = "".join(
        f'[[guard]]\nid = "{staff}"\nname = "{name}"\nrole = "{role}"\npin_hash = "{hash_pin(PINS[staff])}"\n\n'
        for staff, name, role in (
            ("g001", "王强", "guard"),
            ("g002", "李娜", "guard"),
            ("s001", "张主管", "supervisor"),
        )
    )
    (tmp_path / "guards.toml").write_text(roster, encoding="utf-8")
    return path


@dataclass
class ExitLane:
    """The running agent and how to reach its console the way a booth tablet does."""

    agent: Agent
    ca: Path
    base: str
    """``https://127.0.0.1:<port>``: the socket listens on every interface; 127.0.0.1 is one of its names."""

    @property
    def lane(self) -> Any:
        return self.agent.lane

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client with no cookies at all: another host on the booth network."""
        return httpx.Client(base_url=self.base, verify=self.tls(), timeout=10, **kwargs)

    def browser(self) -> Browser:
        """A browser that opened the console page (its own session, nobody signed on)."""
        return Browser(self.client()).open()

    def guard(self, staff_id: str) -> Browser:
        browser = self.browser()
        browser.sign_on(staff_id, PINS[staff_id])
        return browser

    def relay_states(self) -> int:
        """How many times the barrier's OPEN relay pin has been driven (MockPin keeps every state)."""
        profile = self.agent.config.profile
        assert profile is not None and profile.board.pins.barrier_open is not None
        return len(self.agent.assembly.factory.pin(profile.board.pins.barrier_open.pin).states)

    def rows(self, *types: str) -> list[tuple[str, dict[str, Any]]]:
        """The outbox rows of ``types`` (the agent is offline: nothing leaves the outbox)."""
        out = []
        for row in self.agent.outbox.pending(limit=10_000):
            if row.event_type in types:
                out.append((row.event_type, json.loads(row.payload)["data"]))
        return out

    def car_with_fee(self, minutes: float = 90) -> tuple[VehicleSimulator, str]:
        """A car at the exit holding a genuine card; returns once the lane asks the booth for the fee."""
        lane = self.lane
        entry_at = datetime.now(UTC) - timedelta(minutes=minutes)
        ticket = lane.codec.make(new_serial("sg-entry-1", entry_at), entry_at, "car")
        car = VehicleSimulator(
            arming_loop=lane.arming_loop,
            safety_loop=lane.safety_loop,
            photo_eye=lane.photo_eye,
            barrier=lane.barrier,
            step_s=0.03,
        )
        car.arrive()
        sims = self.agent.assembly.sims
        assert sims is not None
        sims.pn532.place_card(NtagMemory.with_user_memory(lane.codec.encode_card(ticket)))
        wait_for(
            lambda: lane.payments.due is not None or lane.status().phase == "awaiting_payment",
            what="fee quoted at the exit",
        )
        return car, ticket.serial


def start_exit_lane(
    tmp_path: Path,
    *,
    extra: dict[str, str] | None = None,
    connect: bool = False,
    broker_port: int | None = None,
) -> ExitLane:
    edits = dict(extra or {})
    if broker_port is not None:
        edits |= {
            'host = "mqtt.sunrise-garden.example"': 'host = "127.0.0.1"',
            "port = 8883": f"port = {broker_port}",
            '[link.tls]\nca_file = "/etc/gatepost/tls/ca.crt"\n': "",
        }
    config = load_config(exit_config(tmp_path, extra=edits))
    agent = Agent(config, state_dir=tmp_path / "state", connect=connect)
    agent.start()
    assert agent.page_url is not None
    port = int(re.search(r":(\d+)/$", agent.page_url).group(1))  # type: ignore[union-attr]
    return ExitLane(
        agent, tmp_path / "provision" / "tls" / "console-ca.crt", f"https://127.0.0.1:{port}"
    )


def rid() -> str:
    return uuid.uuid4().hex

"""A real central for tests: ``create_app`` with ingest, SQLite in tmp_path, real Mosquitto, uvicorn on a free port.

Also simulated lanes: a paho client with a Last Will that publishes status,
health and events, and answers commands on its cmd topic with a cmd_result.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import uvicorn
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion

from central.api.runtime import OpsSettings
from central.app import create_app, server_config
from central.auth.service import create_user
from central.db.session import make_engine, make_sessions, upgrade
from central.ingest.service import IngestService
from central.settings import load_settings
from edge import wire
from tests.support.services import free_port, wait_for_port

PASSWORD = "correct-horse-battery"
USERS = {"admin": "admin", "sup": "supervisor", "guard1": "guard"}


@dataclass
class Central:
    url: str
    sessions: Any
    app: FastAPI
    stop: Callable[[], None]

    def client(self, username: str | None = None, password: str = PASSWORD) -> httpx.Client:
        """An HTTP client, signed in as ``username`` with the CSRF header set."""
        c = httpx.Client(base_url=self.url, timeout=10)
        if username:
            r = c.post("/api/auth/login", json={"username": username, "password": password})
            r.raise_for_status()
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


def start_central(
    tmp_path: Path,
    broker_port: int,
    *,
    ingest_in_app: bool = True,
    db_url: str | None = None,
    **ops: Any,
) -> Central:
    """``ingest_in_app=False`` runs ingest beside the app with its own hooks, as ``central run --no-ingest`` plus a separate ingest process would."""
    db_url = db_url or f"sqlite:///{tmp_path}/central.db"
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = make_sessions(engine)
    with sessions() as db:
        for name, role in USERS.items():
            create_user(db, name, PASSWORD, role, now=wire.utc_now(), by="test")
        db.commit()
    settings = load_settings(
        db_url=db_url,
        broker_port=broker_port,
        client_id=f"gp-test-{uuid.uuid4().hex[:8]}",
        occupancy_publish_s=1.0,
    )
    outside = None if ingest_in_app else IngestService(settings, engine, housekeeping=False).start()
    app = create_app(
        settings, engine=engine, ingest=IngestService(settings, engine) if ingest_in_app else None
    )
    # plain http on 127.0.0.1, as the demo: the cookie cannot be Secure here
    app.state.ops_settings = OpsSettings(**({"alarm_tick_s": 0.2, "cookie_secure": False} | ops))
    port = free_port()
    server = uvicorn.Server(
        server_config(app, "127.0.0.1", port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)

    def stop() -> None:
        server.should_exit = True
        thread.join(15)
        if outside is not None:
            outside.stop()
        engine.dispose()

    return Central(url=f"http://127.0.0.1:{port}", sessions=sessions, app=app, stop=stop)


@dataclass
class SimLane:
    """A stand-in for a lane agent: Last Will, status, health, events, and command answers."""

    site: str
    device: str
    port: int
    role: str = "exit"
    answer: str | None = "done"
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    commands: list[wire.Command] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"lane-{self.device}-{uuid.uuid4().hex[:6]}"
        )
        self.client.will_set(
            wire.status_topic(self.site, self.device), wire.OFFLINE, qos=1, retain=True
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(
            wire.device_cmd_filter(self.site, self.device), 1
        )

    def connect(self) -> SimLane:
        self.client.connect("127.0.0.1", self.port, keepalive=1)
        self.client.loop_start()
        self.client.publish(
            wire.status_topic(self.site, self.device), wire.ONLINE, qos=1, retain=True
        ).wait_for_publish(5)
        return self

    def health(self, **fields: Any) -> None:
        doc = {
            "ts": wire.format_ts(wire.utc_now()),
            "role": self.role,
            "version": "test",
            "uptime_s": 1,
            "outbox_depth": 0,
            "oldest_unsent_s": 0,
            "barrier": "closed",
            "clock_skew_ms": 0,
            "clock_synced": True,
        } | fields
        self.client.publish(
            wire.health_topic(self.site, self.device), json.dumps(doc), qos=1, retain=True
        ).wait_for_publish(5)

    def event(self, data: wire.EventData, event_type: wire.EventType) -> wire.Envelope:
        env = wire.make_event(self.site, self.device, next(self.seq), data, event_type)
        self.client.publish(
            wire.event_topic(self.site, self.device, event_type.value), env.to_json(), qos=1
        ).wait_for_publish(5)
        return env

    def kill(self) -> None:
        """Drop the connection without DISCONNECT, so the broker fires the Last Will."""
        self.client.loop_stop()
        sock = self.client.socket()
        assert sock is not None, "kill() needs a connected lane"
        sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.client.disconnect()
            self.client.loop_stop()

    def _on_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        command = wire.parse_command(msg.topic, bytes(msg.payload), bool(msg.retain))
        self.commands.append(command)
        if self.answer:
            # validated, not constructed: a test may set any answer, the contract says which are valid
            result = wire.CommandResult.model_validate(
                {
                    "id": command.id,
                    "name": command.name.value,
                    "ok": self.answer == "done",
                    "status": self.answer,
                    "ts": wire.format_ts(wire.utc_now()),
                }
            )
            client.publish(
                wire.cmd_result_topic(self.site, self.device), result.model_dump_json(), qos=1
            )

"""Logs as journald/systemd collect them: one JSON object per line, with the event's context.

Both sides run as real processes (``gatepost edge``, ``gatepost central run``),
their stderr a pipe as under systemd, so no flag is needed for JSON.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.lane.test_agent_and_demo import simulated_config
from tests.support.services import free_port

GATEPOST = [str(Path(sys.executable).with_name("gatepost"))]


class Lines:
    """Collects a process's stderr lines on a thread, so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for doc in self.docs():
                if predicate(doc):
                    return doc
            if self.proc.poll() is not None and not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError("no such log line; got:\n" + "\n".join(self.lines[-30:]))

    def docs(self) -> list[dict]:
        return [json.loads(line) for line in list(self.lines)]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(20)
        self._thread.join(5)
        return code


def run(args: list[str], env: dict[str, str], cwd: Path) -> Lines:
    full_env = {k: v for k, v in os.environ.items() if k != "GATEPOST_LOG_FORMAT"} | env
    proc = subprocess.Popen(
        GATEPOST + args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=cwd,
    )
    return Lines(proc)


def assert_json_lines(lines: Lines) -> list[dict]:
    docs = lines.docs()  # every line parses, or json.loads raises here
    assert docs
    for doc in docs:
        assert {"ts", "level", "logger", "msg"} <= doc.keys()
        assert doc["ts"].endswith("+00:00") and doc["level"] in (
            "debug",
            "info",
            "warning",
            "error",
            "critical",
        )
    return docs


def test_agent_logs_json_with_device_context(tmp_path):
    path = simulated_config(tmp_path, free_port(), free_port())
    env = {"GATEPOST_SITE_KEYS": json.dumps({"1": "ab" * 32}), "GATEPOST_MQTT_PASSWORD": "unused"}
    lines = run(
        ["edge", "--config", str(path), "--state-dir", str(tmp_path / "state"), "--offline"],
        env,
        tmp_path,
    )
    try:
        ready = lines.wait_for(lambda d: d["msg"].startswith("agent ready"))
    finally:
        assert lines.stop() == 0
    assert ready["device"] == "sg-entry-1" and ready["role"] == "entry"
    assert ready["logger"] == "gatepost.agent" and ready["level"] == "info"
    docs = assert_json_lines(lines)
    assert any(d["msg"] == "start step done: link" for d in docs)


def test_central_logs_a_quarantined_payload_with_topic_and_reason(tmp_path, broker):
    env = {
        "GATEPOST_DB_URL": f"sqlite:///{tmp_path}/central.db",
        "GATEPOST_BROKER_PORT": str(broker.port),
        "GATEPOST_CLIENT_ID": f"logs-{os.getpid()}",
    }
    lines = run(["central", "run", "--ingest-only"], env, tmp_path)
    try:
        lines.wait_for(lambda d: d["msg"] == "ingest running")
        client = paho.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        topic = "gatepost/v1/east/east-in-1/event/badge_accepted"
        client.publish(topic, b'{"v":1, "oops"', qos=1).wait_for_publish(5)
        client.loop_stop()
        client.disconnect()
        line = lines.wait_for(lambda d: d["msg"] == "quarantined")
    finally:
        assert lines.stop() == 0
    assert line["topic"] == topic and line["level"] == "warning"
    assert line["reason"].startswith("not JSON") and line["size"] == len(b'{"v":1, "oops"')
    assert line["logger"] == "central.ingest.quarantine"
    assert_json_lines(lines)


def test_central_says_ingest_running_only_once_subscribed(tmp_path, make_broker):
    """Started before its broker, central logs its ready line only after every client's SUBACK."""
    broker = make_broker()  # port chosen, not started yet
    env = {
        "GATEPOST_DB_URL": f"sqlite:///{tmp_path}/central.db",
        "GATEPOST_BROKER_PORT": str(broker.port),
        "GATEPOST_CLIENT_ID": f"ready-{os.getpid()}",
    }
    lines = run(["central", "run", "--ingest-only"], env, tmp_path)
    try:
        lines.wait_for(lambda d: d["msg"] == "ingest worker started")
        broker.start()
        lines.wait_for(lambda d: d["msg"] == "ingest running")
        client = paho.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        topic = "gatepost/v1/east/east-in-1/event/badge_accepted"
        client.publish(topic, b"not json", qos=1).wait_for_publish(5)
        client.loop_stop()
        client.disconnect()
        lines.wait_for(lambda d: d["msg"] == "quarantined")
    finally:
        assert lines.stop() == 0
    msgs = [d["msg"] for d in assert_json_lines(lines)]
    running = msgs.index("ingest running")
    assert "connected to broker" in msgs[:running]
    assert msgs.count("ingest running") == 1

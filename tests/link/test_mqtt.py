"""The MQTT link against a real Mosquitto: availability, Last Will, subscriptions."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.link.mqtt import LinkError, MqttLink
from edge.wire import status_topic
from tests.link.helpers import Collector, publish, wait_until

ROOT = Path(__file__).resolve().parents[2]
STATUS = status_topic("site-a", "lane-1")


def make_link(broker, **kwargs) -> MqttLink:
    return MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port, **kwargs)


def test_online_retained_on_connect_and_offline_on_clean_stop(broker):
    link = make_link(broker)
    link.start()
    assert link.connected.wait(15)
    seen = Collector(broker.port, STATUS).start()
    first = seen.wait_for(1)[0]
    assert (first.payload, first.retained) == (b"online", True)
    link.stop()
    assert not link.connected.is_set()
    assert seen.wait_for(2)[1].payload == b"offline"
    seen.stop()
    late = Collector(broker.port, STATUS).start()  # a newcomer reads the retained state
    assert late.wait_for(1)[0] == late.messages[0] and late.messages[0].payload == b"offline"
    late.stop()


def test_last_will_marks_a_killed_device_offline(broker):
    child = textwrap.dedent(
        f"""
        import sys, time
        from edge.link.mqtt import MqttLink
        link = MqttLink("site-a", "lane-1", host="127.0.0.1", port={broker.port}, keepalive=5)
        link.start()
        assert link.connected.wait(15)
        print("up", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        seen = Collector(broker.port, STATUS).start()
        assert seen.wait_for(1)[0].payload == b"online"
        proc.send_signal(signal.SIGKILL)  # no clean disconnect: only the Will can tell
        proc.wait(5)
        msgs = seen.wait_for(2, timeout=15)
        assert msgs[-1].payload == b"offline"
        seen.stop()
    finally:
        proc.kill()
        proc.wait(5)
    late = Collector(broker.port, STATUS).start()
    assert late.wait_for(1)[0].payload == b"offline" and late.messages[0].retained
    late.stop()


def test_subscriptions_survive_a_broker_restart(broker):
    link = make_link(broker, reconnect_min_s=1, reconnect_max_s=1)
    got: list[tuple[str, bytes, bool]] = []
    link.subscribe("gatepost/v1/site-a/config/+", lambda t, p, r: got.append((t, p, r)))
    link.start()
    assert link.connected.wait(15)
    publish(broker.port, "gatepost/v1/site-a/config/capacity", b"one")
    assert wait_until(lambda: len(got) == 1, 15)
    broker.stop()
    assert wait_until(lambda: not link.connected.is_set(), 15)
    broker.start()
    assert link.connected.wait(10)
    publish(broker.port, "gatepost/v1/site-a/config/capacity", b"two")
    assert wait_until(lambda: len(got) == 2, 15)
    assert got[1] == ("gatepost/v1/site-a/config/capacity", b"two", False)
    link.stop()


def test_a_failing_handler_does_not_break_the_link(broker):
    link = make_link(broker)
    got: list[bytes] = []

    def broken(topic, payload, retained):
        raise RuntimeError("bug in a handler")

    link.subscribe("t/+", broken)
    link.subscribe("t/+", lambda t, p, r: got.append(p))
    link.start()
    assert link.connected.wait(15)
    publish(broker.port, "t/x", b"1")
    publish(broker.port, "t/x", b"2")
    assert wait_until(lambda: got == [b"1", b"2"], 15)
    link.stop()


def test_bad_settings_fail_loudly(tmp_path, broker):
    with pytest.raises(ConfigError):
        make_link(broker, tls={"ca_file": str(tmp_path / "missing.pem")})
    with pytest.raises(ConfigError):
        make_link(broker, tls={"ca": "x"})
    link = make_link(broker)
    with pytest.raises(LinkError):
        link.subscribe("bad/#/filter", lambda *a: None)
    with pytest.raises(LinkError):
        link.publish("bad/+/topic", b"x")

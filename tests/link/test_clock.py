"""Clock skew: the pure estimator, and beacons from central through a real broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.link.clock import ClockSkew, ClockWatch
from edge.link.mqtt import MqttLink
from edge.wire import TIME_TOPIC, TimeBeacon, format_ts, time_topic
from tests.link.helpers import publish, wait_until

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def ms(n: float) -> timedelta:
    return timedelta(milliseconds=n)


def test_the_estimate_is_the_least_delayed_sample():
    skew = ClockSkew(threshold_ms=500)
    assert skew.skew_ms is None and not skew.synced(0)
    # The Pi runs 300 ms behind; network delays 40, 5, 90 ms.
    for i, delay in enumerate([40, 5, 90]):
        central = T0 + timedelta(seconds=10 * i)
        skew.observe(central, central - ms(300) + ms(delay), mono=10.0 * i)
    assert skew.skew_ms == -295
    assert skew.synced(25.0)
    assert skew.central_now(T0) == T0 + ms(295)


def test_synced_needs_a_recent_measurement_within_the_threshold():
    skew = ClockSkew(threshold_ms=1000, stale_after_s=60, window=3)
    skew.observe(T0, T0 + ms(2500), mono=0)
    assert skew.skew_ms == 2500 and not skew.synced(1)
    # NTP steps the clock: after a window of good samples the old one is forgotten.
    for i in range(1, 4):
        skew.observe(
            T0 + timedelta(seconds=10 * i), T0 + timedelta(seconds=10 * i) + ms(20), mono=10.0 * i
        )
    assert skew.skew_ms == 20 and skew.synced(31)
    assert not skew.synced(31 + 61)  # stale: no beacon for over a minute


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        ClockSkew(threshold_ms=0)


def test_beacons_over_mqtt_measure_skew_and_alarm_once(broker):
    assert time_topic() == TIME_TOPIC == "gatepost/v1/time"
    local = [T0]
    alarms: list[int] = []
    link = MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port)
    skew = ClockSkew(threshold_ms=2000)
    watch = ClockWatch(link, skew, clock=lambda: local[0], on_unsynced=alarms.append)
    watch.start()
    link.start()
    assert link.connected.wait(15)
    # Central's clock says 08:00:05 while the Pi says 08:00:00: the Pi is 5 s behind.
    publish(
        broker.port,
        TIME_TOPIC,
        TimeBeacon(ts=format_ts(T0 + timedelta(seconds=5))).model_dump_json(),
        qos=0,
    )
    assert wait_until(lambda: skew.skew_ms is not None, 15)
    assert skew.skew_ms == -5000 and alarms == [-5000]
    publish(broker.port, TIME_TOPIC, b'{"ts": "yesterday"}', qos=0)  # ignored
    publish(
        broker.port,
        TIME_TOPIC,
        TimeBeacon(ts=format_ts(T0 + timedelta(seconds=6))).model_dump_json(),
        qos=0,
    )
    assert wait_until(lambda: skew.skew_ms == -6000, 15)
    assert alarms == [-5000]  # one alarm per excursion, not per beacon
    link.stop()


def test_a_retained_beacon_is_ignored(broker):
    publish(broker.port, TIME_TOPIC, TimeBeacon(ts=format_ts(T0)).model_dump_json(), retain=True)
    link = MqttLink("site-a", "lane-1", host="127.0.0.1", port=broker.port)
    skew = ClockSkew()
    got = []
    link.subscribe(TIME_TOPIC, lambda t, p, r: got.append(r))
    ClockWatch(link, skew).start()
    link.start()
    assert wait_until(lambda: got == [True], 15)
    assert skew.skew_ms is None
    link.stop()

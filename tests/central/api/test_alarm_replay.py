"""A replayed (backdated) barrier opening is timed from its arrival at central, not from the device's ts.

A lane that was cut off replays its outbox: ``barrier_opened`` dated days ago,
then ``barrier_closed`` a moment later. Nothing was held open, so no alarm.
A barrier that central then hears nothing more about still raises, timed
from when the opening arrived. Module threshold: 3 s (this module's own central), so
that a close sent right after its opening reaches central within it on a busy machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from central.alarms.kinds import AlarmKind, AlarmThresholds
from central.alarms.rules import BarrierWatch
from edge import wire
from tests.central.api.harness import Central, start_central

LIMITS = AlarmThresholds(barrier_open_max_s=60)


@pytest.fixture(scope="module")
def central(tmp_path_factory, mod_broker) -> Iterator[Central]:
    c = start_central(
        tmp_path_factory.mktemp("central"), mod_broker.port, alarm_barrier_open_max_s=3
    )
    yield c
    c.stop()


def test_barrier_watch_times_an_opening_from_when_central_received_it():
    watch = BarrierWatch()
    now = wire.utc_now()
    device_ts = now - timedelta(days=3)  # replayed from a lane's outbox
    watch.observe_event("s", "d", "barrier_opened", device_ts, received_at=now)
    assert not [
        s
        for s in watch.tick([("s", "d")], now + timedelta(seconds=59), LIMITS)
        if s.action == "raise"
    ]
    raised = [
        s
        for s in watch.tick([("s", "d")], now + timedelta(seconds=61), LIMITS)
        if s.action == "raise"
    ]
    assert [s.kind for s in raised] == [AlarmKind.BARRIER_HELD_OPEN] and raised[0].detail[
        "open_s"
    ] == 61
    watch.observe_event(
        "s", "d", "barrier_closed", device_ts + timedelta(seconds=5), received_at=now
    )
    assert {s.action for s in watch.tick([("s", "d")], now + timedelta(seconds=62), LIMITS)} == {
        "clear"
    }


def _held_open_alarms(client, device: str) -> list[dict]:
    items = client.get("/api/alarms", params={"kind": "barrier_held_open", "site": "north"}).json()[
        "items"
    ]
    return [a for a in items if a["device"] == device]


def _stored(client, device: str, event_type: str) -> bool:
    r = client.get("/api/events", params={"site": "north", "device": device, "type": event_type})
    return r.status_code == 200 and bool(r.json()["items"])


def test_a_backdated_replay_of_open_then_close_raises_no_held_open_alarm(central, lanes):
    s = central.client("sup")
    lane = lanes("al-replay")
    back = wire.utc_now() - timedelta(days=3)
    opened = wire.make_event(
        "north",
        "al-replay",
        next(lane.seq),
        wire.BarrierMoved(cause="payment"),
        wire.EventType.BARRIER_OPENED,
        at=back,
    )
    lane.client.publish(
        wire.event_topic("north", "al-replay", "barrier_opened"), opened.to_json(), qos=1
    ).wait_for_publish(5)
    central.wait_for(
        lambda: _stored(s, "al-replay", "barrier_opened"), what="the replayed opening at central"
    )
    # Central ticks right after a commit and every second: timed on the device's ts (3 days ago), the
    # opening would be "held open" at once. The close follows within the 3 s threshold, as in a replay.
    time.sleep(0.4)  # lets that after-commit tick run before the close arrives (asserted below)
    closed = wire.make_event(
        "north",
        "al-replay",
        next(lane.seq),
        wire.BarrierMoved(cause="vehicle_passed"),
        wire.EventType.BARRIER_CLOSED,
        at=back + timedelta(seconds=8),
    )
    lane.client.publish(
        wire.event_topic("north", "al-replay", "barrier_closed"), closed.to_json(), qos=1
    ).wait_for_publish(5)
    central.wait_for(
        lambda: _stored(s, "al-replay", "barrier_closed"), what="the replayed close at central"
    )
    # A control: another lane's backdated opening with no close, sent now. Once its alarm is up,
    # central has ticked past the threshold after the close too: nothing was held open here.
    control = lanes("al-replay-ctl")
    ctl_open = wire.make_event(
        "north",
        "al-replay-ctl",
        next(control.seq),
        wire.BarrierMoved(cause="payment"),
        wire.EventType.BARRIER_OPENED,
        at=back,
    )
    control.client.publish(
        wire.event_topic("north", "al-replay-ctl", "barrier_opened"), ctl_open.to_json(), qos=1
    ).wait_for_publish(5)
    central.wait_for(
        lambda: _held_open_alarms(s, "al-replay-ctl"),
        timeout=20,
        what="the control's held-open alarm",
    )
    assert _held_open_alarms(s, "al-replay") == []


def test_a_backdated_opening_with_no_close_still_raises_timed_from_its_arrival(central, lanes):
    s = central.client("sup")
    lane = lanes("al-replay-open")
    opened = wire.make_event(
        "north",
        "al-replay-open",
        next(lane.seq),
        wire.BarrierMoved(cause="payment"),
        wire.EventType.BARRIER_OPENED,
        at=wire.utc_now() - timedelta(days=3),
    )
    lane.client.publish(
        wire.event_topic("north", "al-replay-open", "barrier_opened"), opened.to_json(), qos=1
    ).wait_for_publish(5)
    alarm = central.wait_for(
        lambda: _held_open_alarms(s, "al-replay-open"), timeout=20, what="held-open alarm"
    )[0]
    # Seconds since it arrived, not three days since the lane said it opened.
    assert alarm["detail"]["open_s"] < 60

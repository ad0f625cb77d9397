"""Fault test (issue 3): central's ingest process SIGKILLed again and again while events stream in.

A device's real outbox, forwarder and MQTT link (edge/link) publish a steady
stream; ``gatepost central run --ingest-only`` is killed at random moments
while it is committing, and started again each time on the same database and
persistent session. Counted at the end, on SQLite and PostgreSQL: every event
stored exactly once (seq 1..N, no duplicate), no seq gap left open, nothing
quarantined. (``tests/central/ingest/test_crash.py`` covers a single kill with a
bare publisher; this one repeats it under live edge traffic.)
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from edge import wire
from edge.link import Forwarder, MqttLink, Outbox
from tests.faults.support import SITE, Central, wait_until
from tests.support.seed import pick_seed, replay_hint

DEVICE = "ft-load-1"
EVENTS = 4000
RATE = 400.0  # events per second from the lane side
KILLS = 5
TAIL = 200  # the last events wait for the last kill: on a busy machine the kills cannot all come too late


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/central.db"
    return request.getfixturevalue("pg_url")


def _emit_stream(
    outbox: Outbox, stop: threading.Event, kills_done: threading.Event, paused: threading.Event
) -> None:
    """A lane's worth of events at a steady rate, through the real outbox (fsync and all).

    The last ``TAIL`` wait until every kill was made, so each kill finds events still to
    come however slowly central restarts (an ordering, not a race against the clock).
    """
    started = time.monotonic()
    for n in range(EVENTS):
        if stop.is_set():
            return
        if n == EVENTS - TAIL and not kills_done.is_set():
            paused.set()
            kills_done.wait(300)
            started = time.monotonic() - (n + 1) / RATE
        if n % 2:
            outbox.emit(wire.EventType.VEHICLE_ARRIVED, wire.VehicleArrived(lane_role="entry"))
        else:
            outbox.emit(wire.EventType.BARRIER_OPENED, wire.BarrierMoved(cause="badge"))
        delay = started + (n + 1) / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def test_central_sigkilled_repeatedly_during_ingest_loses_nothing(broker, db_url, tmp_path):
    seed = pick_seed("central kills")
    hint = replay_hint(seed)
    rng = random.Random(seed)
    central = Central(db_url, broker.port, tmp_path / "central.log")
    outbox = Outbox(tmp_path / "outbox.sqlite3", SITE, DEVICE)
    link = MqttLink(SITE, DEVICE, host="127.0.0.1", port=broker.port, keepalive=5)
    forwarder = Forwarder(outbox, link, replay_rate_per_s=None)
    stop, kills_done, paused = threading.Event(), threading.Event(), threading.Event()
    emitter = threading.Thread(
        target=_emit_stream, args=(outbox, stop, kills_done, paused), name="lane-events"
    )
    started = time.monotonic()
    stored_at_kill: list[int] = []
    try:
        central.start()
        central.wait_subscribed(broker.port)
        forwarder.start()
        link.start()
        emitter.start()
        for _ in range(KILLS):
            before = central.stored(DEVICE)

            # Kill only a process that is ingesting: it has stored something since it (re)started
            # (or, with all but the held tail stored, it stores a marker: it is up).
            def progressing(n: int = before) -> bool:
                stored = central.stored(DEVICE)
                return stored > n or (paused.is_set() and stored >= EVENTS - TAIL)

            wait_until(progressing, 60, "ingest making progress")
            if central.stored(DEVICE) <= before:
                central.marker(broker.port, 60)
            time.sleep(rng.uniform(0.1, 0.6))
            central.kill()
            stored_at_kill.append(central.stored(DEVICE))
            central.start()
        kills_done.set()
        emitter.join(60)
        wait_until(lambda: outbox.depth == 0, 60, "the outbox drained to the broker")
        wait_until(lambda: central.stored(DEVICE) >= EVENTS, 90, f"all {EVENTS} events in central")
        # Sync point instead of a quiet moment: a marker sent now is stored only after anything
        # the broker already held for central (a late duplicate) was delivered before it.
        central.marker(broker.port)

        rows, distinct, low, high = central.rows(
            "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM events WHERE device = :d",
            d=DEVICE,
        )[0]
        gaps = central.rows(
            "SELECT count(*) FROM seq_gaps WHERE device = :d AND closed_at IS NULL", d=DEVICE
        )[0][0]
        quarantined = central.rows("SELECT count(*) FROM quarantine")[0][0]
        print(
            f"\ncentral kills ({db_url.split(':')[0]}): kills={central.kills} events={EVENTS} "
            f"stored={rows} distinct_seq={distinct} lost={EVENTS - distinct} duplicates={rows - distinct} "
            f"stored_at_each_kill={stored_at_kill} open_gaps={gaps} quarantined={quarantined} "
            f"in {time.monotonic() - started:.0f}s"
        )
        assert central.kills == KILLS and stored_at_kill[-1] < EVENTS, (
            f"the kills came too late to test anything ({hint})"
        )
        assert (rows, distinct, low, high) == (EVENTS, EVENTS, 1, EVENTS), hint
        assert outbox.last_seq == EVENTS, hint
        assert gaps == 0 and quarantined == 0, hint
    finally:
        stop.set()
        emitter.join(10)
        forwarder.stop()
        link.stop()
        outbox.close()
        central.stop()

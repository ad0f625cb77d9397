"""Fault test (issue 3): the broker SIGKILLed and restarted while the lanes keep serving traffic.

Two real lane agents (child process, simulated hardware, clock at 60× real
time) serve cars throughout; Mosquitto is killed like a power cut and comes
back on the same port and persistence file after more than five simulated
minutes. The lanes must go on issuing, charging and opening on local state,
then catch up. Counted at the end: every event each outbox handed out is in
central exactly once, no seq gap is left open, and transits happened while the
broker was gone.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from central.db.models import Event
from tests.faults.support import (
    DEVICES,
    Central,
    LaneSite,
    audit,
    sim_minutes,
    wait_all_stored,
    wait_until,
)

SPEED = 60.0
OUTAGE_S = 6.0  # 6 simulated minutes at 60x


def test_broker_killed_for_five_simulated_minutes_every_event_arrives_once(broker, tmp_path):
    central = Central(f"sqlite:///{tmp_path}/central.db", broker.port, tmp_path / "central.log")
    site = LaneSite(tmp_path / "site", broker.port, cars=100_000, speed=SPEED, stay_s=0.3)
    started = time.monotonic()
    try:
        central.start()
        central.wait_subscribed(broker.port)
        site.start()
        wait_until(
            lambda: all(central.stored(d) > 10 for d in DEVICES.values()),
            30,
            "traffic reaching central",
        )

        killed_at = time.time()
        broker.kill()
        time.sleep(OUTAGE_S)
        stored_during = {d: central.stored(d) for d in DEVICES.values()}
        broker.start()
        back_at = time.time()
        time.sleep(2.0)  # traffic goes on while the lanes reconnect and replay
        site.send("stop")
        done = site.finish(timeout=90)
        assert done["failed"] == [] and all(v == 0 for v in done["outbox_depth"].values()), done

        wait_all_stored(central, site)
        result = audit(central, site)
        offline_from, offline_to = site.clock.at(killed_at), site.clock.at(back_at)
        with central.engine.connect() as conn:
            offline_events = conn.execute(
                select(Event.id).where(
                    Event.device.in_(DEVICES.values()),
                    Event.ts > offline_from,
                    Event.ts < offline_to,
                )
            ).all()
        offline_transits = site.world(
            "SELECT count(*) FROM passes WHERE at > ? AND at < ?", (killed_at, back_at)
        )[0][0]
        transits = site.world("SELECT count(*) FROM passes")[0][0]
        minutes = sim_minutes(site, killed_at, back_at)
        print(
            f"\nbroker outage: {minutes:.1f} simulated min offline, transits={transits} "
            f"(offline {offline_transits}), events={sum(result.stored.values())} "
            f"(written offline {len(offline_events)}, stored during outage {stored_during}), "
            f"last_seq={result.last_seq} lost={result.lost} duplicates={result.duplicates} "
            f"open_gaps={result.open_gaps} quarantined={result.quarantined} "
            f"in {time.monotonic() - started:.0f}s"
        )

        assert minutes >= 5
        assert offline_transits >= 10 and len(offline_events) >= 50
        assert result.lost == 0 and result.duplicates == 0
        assert result.stored == result.last_seq  # exactly once, seq 1..last on each lane
        assert result.open_gaps == 0 and result.quarantined == 0
    finally:
        site.close()
        central.stop()

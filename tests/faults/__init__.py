"""Issue 3's fault tests: real Mosquitto, real processes, counted at the end.

1. ``test_broker_outage.py`` — the broker SIGKILLed and restarted while the lanes serve traffic
   (more than five simulated minutes offline); every event in central exactly once, no gap open.
2. ``test_lane_agent_kills.py`` — the lane agent process SIGKILLed at random points during 500+
   simulated transits; nothing lost or doubled, no ticket charged twice, the barrier recovered safely.
3. ``test_central_kills.py`` — central's ingest process SIGKILLed repeatedly during ingest
   (SQLite and PostgreSQL); nothing lost or doubled.
4. ``test_central_ack.py`` (issue 11) — Mosquitto SIGKILLed at several offsets after its last
   autosave, central down and up; central SIGKILLed between its commit and its ack (SQLite and
   PostgreSQL). Only central's ack empties an outbox; 0 lost, 0 stored twice, 0 gaps open.
5. 10,000 malformed or hostile payloads on event topics, quarantined with reasons while valid
   traffic flows: ``tests/central/ingest/test_hostile.py`` (it already does exactly this).

The lane traffic runs in ``python -m edge.sim.traffic_proc`` (see :mod:`tests.faults.support`).
"""

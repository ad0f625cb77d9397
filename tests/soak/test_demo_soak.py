"""Soak: the demo site for 30 simulated days at high acceleration, central restarted several times.

Slow (``pytest -m slow``, or ``make soak``). ``GATEPOST_SOAK_DAYS`` and
``GATEPOST_SOAK_SPEED`` shorten or speed it up. At the end: the process's
memory stays under :data:`RSS_BOUND_MB`, every lane's outbox is empty, every
ticket issued has exited or is still inside (or was lost), the revenue
central recorded equals the cash the guard took at the booth (one printed
receipt each), every kiosk check-in and check-out reached central, nothing
was quarantined and no barrier faulted.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import time
from datetime import timedelta

import pytest

from edge.sim.demo import DemoOptions, DemoSite
from edge.sim.traffic import TrafficProfile

# Thirty simulated days take about 20 minutes of real time; the suite's 300 s per test does not apply.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

DAYS = float(os.environ.get("GATEPOST_SOAK_DAYS", "30"))
SPEED = float(os.environ.get("GATEPOST_SOAK_SPEED", "100000"))
RESTARTS = 5
RSS_BOUND_MB = 700
"""Three lane agents, the booth console, the kiosk (OpenCV), central, the broker and the traffic in one
process: well under a Pi-class budget each."""
SOAK_PROFILE = TrafficProfile(capacity=24, reserved=4, residents=10, visitor_peak_per_hour=3.0)
"""A smaller site than the demo's, so 30 days of real lane transits fit in a test run."""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_thirty_simulated_days_with_central_restarts_reconcile(tmp_path):
    started = time.monotonic()
    site = DemoSite(
        DemoOptions(
            speed=SPEED,
            seed=30,
            duration=timedelta(days=DAYS),
            exit_after=True,
            http_port=0,
            workdir=tmp_path / "site",
            profile=SOAK_PROFILE,
        )
    ).start()
    figures: dict[str, object] = {}
    try:
        restart_every = timedelta(days=DAYS / (RESTARTS + 1))
        next_restart, restarts = site.sim_start + restart_every, 0
        while not site.driver.finished.wait(0.5):
            if restarts < RESTARTS and site.clock() >= next_restart:
                site.central.restart()
                restarts += 1
                next_restart += restart_every
        assert restarts == RESTARTS, f"only {restarts} central restarts"
        deadline = time.monotonic() + 120
        while any(a.outbox.depth for a in site.agents) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert site.kiosk is not None
        outboxes = [*site.agents, site.kiosk]
        while any(a.outbox.depth for a in outboxes) and time.monotonic() < deadline:
            time.sleep(0.5)
        depths = {a.config.device.id: a.outbox.depth for a in outboxes}
        assert not any(depths.values()), depths
        tally = site.driver.tally.as_dict()
        db = tmp_path / "site" / "central.db"

        def scalar(sql: str) -> int:
            with sqlite3.connect(db, timeout=10) as conn:
                return int(conn.execute(sql).fetchone()[0] or 0)

        def settled() -> bool:
            return (
                scalar("SELECT count(*) FROM events WHERE type='vehicle_exited'") == tally["exits"]
            )

        deadline = time.monotonic() + 60
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.5)
        issued = scalar("SELECT count(*) FROM events WHERE type='ticket_issued'")
        exited = scalar(
            "SELECT count(*) FROM tickets t JOIN events e ON e.type='ticket_issued' "
            "AND json_extract(e.data, '$.serial') = t.serial WHERE t.status='exited'"
        )
        revenue = scalar(
            "SELECT sum(json_extract(data, '$.fee_minor')) FROM events WHERE type='payment_confirmed'"
        )
        cash_payments = scalar(
            "SELECT count(*) FROM events WHERE type='payment_confirmed' "
            "AND json_extract(data, '$.method')='cash'"
        )
        assert site.receipts is not None
        visits = scalar("SELECT count(*) FROM visits")
        visits_out = scalar("SELECT count(*) FROM visits WHERE checked_out_at IS NOT NULL")
        in_lobby = site.driver.model.in_lobby
        figures = {
            "real_s": round(time.monotonic() - started),
            "sim_days": DAYS,
            "speed": SPEED,
            "central_restarts": restarts,
            "rss_mb": round(rss_mb()),
            "peak_rss_mb": round(peak_rss_mb()),
            "rss_bound_mb": RSS_BOUND_MB,
            "outbox_depths": depths,
            "tally": tally,
            "tickets_issued": issued,
            "tickets_exited": exited,
            "tickets_inside": tally["cards_inside"],
            "tickets_lost": tally["lost_cards"],
            "revenue_minor": revenue,
            "receipts_printed": site.receipts.printed,
            "cash_payments": cash_payments,
            "visits": visits,
            "visits_out": visits_out,
            "visitors_on_site": len(in_lobby),
            "shifts_closed": scalar("SELECT count(*) FROM events WHERE type='shift_closed'"),
            "barrier_faults_at_central": scalar(
                "SELECT count(*) FROM events WHERE type='barrier_fault'"
            ),
            "events": scalar("SELECT count(*) FROM events"),
            "quarantined": scalar("SELECT count(*) FROM quarantine"),
        }
        print("SOAK", json.dumps(figures, ensure_ascii=False))
        assert tally["failed"] == 0
        assert issued > 0 and tally["exits"] > 0
        # Every ticket issued has exited, is still in a car inside, or went with a lost card.
        assert issued == exited + tally["cards_inside"] + tally["lost_cards"]
        # Revenue at central = the sum of the receipts the guard took: the booth printer printed one receipt
        # per cash payment, and one shift report per handover.
        assert revenue == tally["fees_paid_minor"]
        assert site.receipts.printed == cash_payments + figures["shifts_closed"]
        # Nothing unreadable reached central, and no barrier faulted (the guard never had to close one by hand).
        assert figures["quarantined"] == 0
        assert tally["barrier_faults"] == 0 and figures["barrier_faults_at_central"] == 0
        # The lobby: every check-in and check-out the kiosk took is a visit at central.
        assert (
            visits == tally["visitors_checked_in"] > 0
            and visits_out == tally["visitors_checked_out"]
        )
        assert visits - visits_out == len(in_lobby)
        assert (
            tally["shift_handovers"] >= int(DAYS)
            and figures["shifts_closed"] == tally["shift_handovers"]
        )
        assert peak_rss_mb() < RSS_BOUND_MB
    finally:
        site.stop()

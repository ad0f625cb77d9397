"""Prometheus ``/metrics`` for central: what ingest did, how late events arrive, what is wrong now.

Each app gets its own :class:`~prometheus_client.CollectorRegistry`, so two
apps in one process (tests, the demo) never add to each other's counters.
Three sources, each read where it is true:

* counters from this process's ingest commits (a commit hook): events stored
  by site and type, and the lag ``received_at - device ts``. Lag is backlog
  (a lane catching up after an outage) plus clock skew; a device clock running
  ahead of central would give a negative lag, which is counted as zero here and
  reported by the clock-skew alarm instead;
* the ingest workers' own counters and queue, read at scrape time;
* the database, read at scrape time: quarantined messages, open alarms by
  kind, devices online, open seq gaps. Another central process (an ingest-only
  worker) may have written them, so they are not counted in memory.

An ingest-only process (``gatepost central run --ingest-only --metrics-port N``)
has no web app: :func:`serve_beside_ingest` gives it the same series on
prometheus-client's own small HTTP server, so each worker's rate and lag can
be scraped at the scale path too.

A scrape never fails because the database is away: those series are left out
and ``gatepost_metrics_db_up`` says 0, with a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from central.alarms.kinds import AlarmState
from central.alarms.models import Alarm
from central.db.models import Device, Quarantined, SeqGap
from central.ingest.batch import CommitReport

log = logging.getLogger(__name__)

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
"""Seconds: sub-second is a healthy lane; minutes to hours is a lane catching up after an outage."""

WORKER_COUNTERS = {
    "messages": "MQTT messages taken from the broker",
    "duplicates": "replayed events already stored (idempotent ingest)",
    "quarantined": "messages that broke the wire contract, kept with the reason",
    "batches": "database commits",
    "db_retries": "commits retried because the database was away or refused",
}


class CentralMetrics:
    """The registry behind one app's ``/metrics`` and the commit hook that feeds it."""

    def __init__(self, sessions: sessionmaker[Session], ingest: Any = None) -> None:
        self.sessions = sessions
        self.ingest = ingest
        self.registry = CollectorRegistry()
        self.events = Counter(
            "gatepost_ingest_events",
            "Events stored for the first time, by site and event type",
            ["site", "type"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "gatepost_ingest_lag_seconds",
            "Central's receive time minus the device's event time (backlog plus clock skew)",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ScrapeTime(self))

    def on_committed(self, report: CommitReport) -> None:
        """Commit hook: runs on the ingest thread, so it only bumps in-memory counters."""
        for event in report.events:
            self.events.labels(event.envelope.site, str(event.envelope.type)).inc()
            self.lag.observe(max(0, event.skew_ms) / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ScrapeTime(Collector):
    """Series read when Prometheus scrapes: the workers' counters and the database's state."""

    def __init__(self, metrics: CentralMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        yield from self._workers()
        yield from self._database()

    def _workers(self) -> Iterator[Any]:
        ingest = self.metrics.ingest
        workers = list(getattr(ingest, "workers", []) or [])
        families = {
            name: CounterMetricFamily(f"gatepost_ingest_{name}", help_text, labels=["worker"])
            for name, help_text in WORKER_COUNTERS.items()
        }
        backlog = GaugeMetricFamily(
            "gatepost_ingest_backlog", "Messages received but not yet committed", labels=["worker"]
        )
        connected = GaugeMetricFamily(
            "gatepost_ingest_broker_connected",
            "1 while the worker is connected to the broker",
            labels=["worker"],
        )
        for worker in workers:
            name = worker.link.client_id
            for stat, family in families.items():
                family.add_metric([name], getattr(worker.stats, stat))
            backlog.add_metric([name], worker.backlog)
            connected.add_metric([name], 1 if worker.link.connected.is_set() else 0)
        yield from families.values()
        yield backlog
        yield connected

    def _database(self) -> Iterator[Any]:
        up = GaugeMetricFamily("gatepost_metrics_db_up", "1 if the database answered this scrape")
        try:
            with self.metrics.sessions() as db:
                families = list(_from_database(db))
        except SQLAlchemyError as exc:
            log.error("metrics: database unreachable", extra={"error": str(exc)[:200]})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _from_database(db: Session) -> Iterator[Any]:
    quarantined = GaugeMetricFamily(
        "gatepost_quarantine_messages", "Messages kept in quarantine (all time, until purged)"
    )
    quarantined.add_metric([], db.scalar(select(func.count()).select_from(Quarantined)) or 0)
    yield quarantined

    alarms = GaugeMetricFamily(
        "gatepost_alarms_open",
        "Alarms not yet cleared, by kind and severity",
        labels=["kind", "severity", "acknowledged"],
    )
    rows = db.execute(
        select(Alarm.kind, Alarm.severity, Alarm.state, func.count())
        .where(Alarm.state != AlarmState.CLEARED.value)
        .group_by(Alarm.kind, Alarm.severity, Alarm.state)
    )
    for kind, severity, state, count in rows:
        acked = "true" if state == AlarmState.ACTIVE_ACKNOWLEDGED.value else "false"
        alarms.add_metric([kind, severity, acked], count)
    yield alarms

    devices = GaugeMetricFamily(
        "gatepost_devices",
        "Devices known to central, by site and availability",
        labels=["site", "online"],
    )
    for site, online, count in db.execute(
        select(Device.site, Device.online, func.count()).group_by(Device.site, Device.online)
    ):
        devices.add_metric([site, "true" if online else "false"], count)
    yield devices

    gaps = GaugeMetricFamily("gatepost_seq_gaps_open", "Seq gaps still waiting for their events")
    gaps.add_metric(
        [],
        db.scalar(select(func.count()).select_from(SeqGap).where(SeqGap.closed_at.is_(None))) or 0,
    )
    yield gaps


router = APIRouter()


@router.get("/metrics", tags=["ops"], include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format; bind central to a private address or proxy it (no login here)."""
    central: CentralMetrics = request.app.state.metrics
    return Response(central.render(), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> CentralMetrics:
    """Give ``app`` its metrics, fed by its commit hooks, and the ``/metrics`` route."""
    central = CentralMetrics(app.state.sessions, app.state.ingest)
    app.state.metrics = central
    app.state.commit_hooks.add(central.on_committed)
    app.include_router(router)
    return central


def serve_beside_ingest(
    ingest: Any, sessions: sessionmaker[Session], host: str, port: int
) -> Callable[[], None]:
    """Serve ``/metrics`` for an ingest-only process; returns how to stop it. ``OSError`` if the port is taken."""
    central = CentralMetrics(sessions, ingest)
    remove_hook = ingest.hooks.add(central.on_committed)
    try:
        server, thread = start_http_server(port, addr=host, registry=central.registry)
    except OSError:
        remove_hook()
        raise
    log.info("ingest metrics on http://%s:%d/metrics", host, port)

    def stop() -> None:
        remove_hook()
        server.shutdown()
        server.server_close()
        thread.join(timeout=3)

    return stop

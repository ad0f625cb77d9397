"""Prometheus metrics of one agent: its outbox, its traffic and its readers.

The outbox series are read from the outbox when Prometheus scrapes, so they
are true even after a restart; the counters (events, transits, reader errors)
count what this process wrote since it started, which is what Prometheus'
``rate()`` and ``increase()`` expect.

Served by prometheus-client's own small HTTP server on ``[metrics] bind:port``
(a thread, no event loop), apart from the booth API: the booth API is for the
guard's screen on 127.0.0.1, the metrics port for the operator's Prometheus.
Every agent has its own registry, so several agents in one process (the demo,
tests) keep their numbers apart.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from edge.errors import GatepostError
from edge.wire import Envelope, EventData, EventType, ReaderFault

log = logging.getLogger(__name__)

TRANSITS = {EventType.VEHICLE_ENTERED: "in", EventType.VEHICLE_EXITED: "out"}


class OutboxLike(Protocol):
    @property
    def depth(self) -> int: ...
    @property
    def bound(self) -> int: ...
    @property
    def near_full(self) -> bool: ...
    @property
    def unacked(self) -> int: ...

    def oldest_unsent_age_s(self) -> float: ...
    def emit(self, event_type: EventType, data: EventData) -> Envelope: ...


class AgentMetrics:
    """The registry of one agent and the counters its lane feeds through :meth:`counting`."""

    def __init__(
        self,
        outbox: OutboxLike,
        *,
        site: str,
        device: str,
        role: str,
        connected: Callable[[], bool] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.connected = connected
        self.registry = CollectorRegistry()
        self.events = Counter(
            "gatepost_agent_events",
            "Events written to the outbox, by type",
            ["type"],
            registry=self.registry,
        )
        self.transits = Counter(
            "gatepost_agent_transits",
            "Vehicles that passed the barrier, by direction",
            ["direction"],
            registry=self.registry,
        )
        self.reader_errors = Counter(
            "gatepost_agent_reader_errors",
            "Reader faults (failed reads, broken frames, no answer)",
            ["reader"],
            registry=self.registry,
        )
        self.registry.register(_AgentState(self, site, device, role, monotonic))
        self._server: Any = None

    def observe(self, event_type: EventType, data: EventData) -> None:
        """Count one event that is now durable in the outbox."""
        self.events.labels(str(event_type)).inc()
        direction = TRANSITS.get(event_type)
        if direction is not None:
            self.transits.labels(direction).inc()
        elif event_type == EventType.READER_FAULT and isinstance(data, ReaderFault):
            self.reader_errors.labels(data.reader).inc()

    def counting(self, sink: OutboxLike) -> CountingSink:
        """``sink`` (the outbox) as the lane writes to it, counted after each durable write."""
        return CountingSink(sink, self)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, bind: str, port: int) -> int:
        """Start the HTTP endpoint (``/metrics``, and ``/`` as well); returns the bound port."""
        server, thread = start_http_server(port, addr=bind, registry=self.registry)
        self._server = (server, thread)
        bound = int(server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", bind, bound)
        return bound

    def stop(self) -> None:
        if self._server is not None:
            server, thread = self._server
            server.shutdown()
            server.server_close()
            thread.join(timeout=3)
            self._server = None


class CountingSink:
    """Passes the lane's writes to the outbox and counts the ones that became durable."""

    def __init__(self, sink: OutboxLike, metrics: AgentMetrics) -> None:
        self._sink = sink
        self._metrics = metrics

    def emit(self, event_type: EventType, data: EventData) -> Envelope:
        envelope = self._sink.emit(event_type, data)
        self._metrics.observe(event_type, data)
        return envelope

    def emit_many(
        self, events: Sequence[tuple[EventType, EventData]], *, at: datetime | None = None
    ) -> list[Envelope]:
        envelopes: list[Envelope] = self._sink.emit_many(events, at=at)  # type: ignore[attr-defined]
        for event_type, data in events:
            self._metrics.observe(event_type, data)
        return envelopes

    def __getattr__(self, name: str) -> Any:
        # Anything else the lane asks of its sink (depth, near_full…) is the outbox's answer.
        return getattr(self._sink, name)


class _AgentState(Collector):
    """Series read at scrape time: the outbox on disk and the broker link."""

    def __init__(
        self,
        metrics: AgentMetrics,
        site: str,
        device: str,
        role: str,
        monotonic: Callable[[], float],
    ) -> None:
        self.metrics = metrics
        self.labels = {"site": site, "device": device, "role": role}
        self.monotonic = monotonic
        self.started = monotonic()

    def collect(self) -> Iterator[Any]:
        outbox = self.metrics.outbox
        info = GaugeMetricFamily(
            "gatepost_agent_info", "Who this agent is", labels=list(self.labels)
        )
        info.add_metric(list(self.labels.values()), 1)
        yield info
        yield _gauge(
            "gatepost_agent_uptime_seconds",
            "Seconds since the agent started",
            self.monotonic() - self.started,
        )
        yield _gauge(
            "gatepost_agent_outbox_depth", "Events central has not acknowledged yet", outbox.depth
        )
        yield _gauge(
            "gatepost_agent_outbox_unacked",
            "Events the broker took that central has not acknowledged yet",
            outbox.unacked,
        )
        yield _gauge(
            "gatepost_agent_outbox_bound", "Rows the outbox aims to stay under", outbox.bound
        )
        yield _gauge(
            "gatepost_agent_outbox_near_full",
            "1 while telemetry is being coalesced",
            1 if outbox.near_full else 0,
        )
        try:
            age = outbox.oldest_unsent_age_s()
        except (
            GatepostError,
            sqlite3.Error,
        ) as exc:  # a closed or broken outbox must not break the scrape
            log.warning("metrics: outbox age unreadable: %s", exc)
        else:
            yield _gauge(
                "gatepost_agent_outbox_oldest_unsent_seconds",
                "How long the oldest unsent event has waited",
                age,
            )
        if self.metrics.connected is not None:
            yield _gauge(
                "gatepost_agent_broker_connected",
                "1 while the MQTT link is up",
                1 if self.metrics.connected() else 0,
            )


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text)
    family.add_metric([], value)
    return family

"""Central's periodic duties beside ingest: republish, sample and reconcile occupancy; the time beacon.

Run once per installation (in the process whose first ingest worker it
shares a broker link with), not once per worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from central.db.session import make_sessions
from central.ingest import occupancy
from central.mqtt import BrokerError, MqttLink
from edge import wire

log = logging.getLogger(__name__)


class Housekeeper:
    """A thread that ticks the occupancy duties and the time beacon."""

    def __init__(
        self,
        link: MqttLink,
        engine: Engine,
        *,
        occupancy_every_s: float = 60.0,
        beacon_every_s: float = 10.0,
        keep_samples: timedelta = timedelta(days=8),
        clock: Callable[[], datetime] = wire.utc_now,
    ) -> None:
        self.link = link
        self.sessions = make_sessions(engine)
        self.occupancy_every_s = occupancy_every_s
        self.beacon_every_s = beacon_every_s
        self.keep_samples = keep_samples
        self.clock = clock
        self.beacon_topic = wire.TIME_TOPIC
        self._stop = threading.Event()
        self._restamped = False
        self._thread = threading.Thread(target=self._run, name="central-housekeeping", daemon=True)

    def start(self) -> Housekeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        next_occupancy = 0.0
        next_beacon = 0.0
        elapsed = 0.0
        tick = min(self.occupancy_every_s, self.beacon_every_s, 1.0)
        while not self._stop.is_set():
            if elapsed >= next_beacon:
                self.beacon()
                next_beacon = elapsed + self.beacon_every_s
            if elapsed >= next_occupancy:
                self.occupancy_tick()
                next_occupancy = elapsed + self.occupancy_every_s
            if self._stop.wait(tick):
                return
            elapsed += tick

    def beacon(self) -> None:
        """Publish central's clock so lanes without an RTC can measure their skew."""
        try:
            beacon = wire.TimeBeacon(ts=wire.format_ts(self.clock()))
            self.link.publish(self.beacon_topic, beacon.model_dump_json(), qos=0, retain=False)
        except BrokerError as exc:
            log.warning("time beacon not sent", extra={"error": str(exc)})

    def occupancy_tick(self) -> list[occupancy.OccupancyView]:
        """Reconcile every site with its open tickets, add a chart sample, republish the counts."""
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                if (
                    not self._restamped
                ):  # the first republish since start outranks a restored database
                    occupancy.restamp(session, now)
                    self._restamped = True
                for view in occupancy.current(session):
                    occupancy.reconcile(session, view.site, now)
                occupancy.sample(session, now, self.keep_samples)
            with self.sessions() as session:
                views = occupancy.current(session)
        except SQLAlchemyError as exc:
            log.error(
                "occupancy housekeeping failed; next tick retries", extra={"error": str(exc)[:200]}
            )
            return []
        for view in views:
            doc = occupancy.document(view)
            if doc is None:
                continue
            try:
                self.link.publish(doc[0], doc[1], qos=1, retain=True)
            except BrokerError as exc:
                log.warning(
                    "occupancy not republished", extra={"site": view.site, "error": str(exc)}
                )
        return views

"""Central's database restored from a backup: the lanes follow central's config again (issue 11, finding 6).

Real processes and files: ``gatepost central run --ingest-only`` on SQLite,
Mosquitto, and a lane's site-config follower (the agent's own
:class:`~edge.link.site_config.SiteConfigStore` on its own broker link). The
database is backed up with SQLite's online backup while central runs, more
cars go in, central is stopped, the backup is put back, and central starts
again; the capacity changed after the backup is still retained at the broker,
and central takes it again. Before the fix, occupancy versions were a database counter: after the
restore they were below what the lane held, and the lane ignored central's
count ("older than held; ignored") until the counter caught up.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge import wire
from edge.link.mqtt import MqttLink
from edge.link.site_config import SiteConfigStore
from edge.wire import ConfigKind, EventType
from tests.observability.test_structured_logs import Lines, run
from tests.support.services import Broker

SITE, LANE = "restore-site", "rs-entry-1"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Central:
    """``gatepost central run --ingest-only`` (ingest + housekeeping) as a process of its own."""

    def __init__(self, db: Path, broker_port: int, workdir: Path) -> None:
        self.env = {
            "GATEPOST_DB_URL": f"sqlite:///{db}",
            "GATEPOST_BROKER_PORT": str(broker_port),
            "GATEPOST_CLIENT_ID": f"restore-{os.getpid()}",
            "GATEPOST_OCCUPANCY_PUBLISH_S": "1",
        }
        self.workdir = workdir
        self.lines: Lines | None = None

    def start(self) -> Central:
        """Start, and return once central says it is subscribed ("ingest running")."""
        self.lines = run(["central", "run", "--ingest-only"], self.env, self.workdir)
        self.lines.wait_for(lambda d: d["msg"] == "ingest running")
        return self

    def stop(self) -> None:
        if self.lines is not None:
            assert self.lines.stop() == 0


class LaneEvents:
    """The lane's event stream: QoS 1, each publish waited for."""

    def __init__(self, port: int) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"restore-lane-{os.getpid()}"
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.seq = 0

    def cars_enter(self, count: int) -> None:
        for _ in range(count):
            self.seq += 1
            env = wire.make_event(
                SITE,
                LANE,
                self.seq,
                wire.VehiclePassed(),
                EventType.VEHICLE_ENTERED,
                at=T0 + timedelta(seconds=self.seq),
            )
            self.client.publish(
                wire.event_topic(SITE, LANE, env.type), env.to_json(), qos=1
            ).wait_for_publish(10)

    def publish_capacity(self, capacity: int) -> None:
        """The retained capacity document, as central's API pushes it; ingest takes the capacity from it."""
        now = wire.utc_now()
        doc = wire.SiteConfig(
            kind=ConfigKind.CAPACITY,
            version=wire.config_version(now),
            ts=wire.format_ts(now),
            data=wire.Capacity(capacity=capacity).model_dump(),
        )
        topic = wire.config_topic(SITE, ConfigKind.CAPACITY)
        self.client.publish(topic, doc.model_dump_json(), qos=1, retain=True).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def follower(broker: Broker, tmp_path: Path) -> Iterator[SiteConfigStore]:
    link = MqttLink(SITE, LANE, host="127.0.0.1", port=broker.port)
    configs = SiteConfigStore(link, SITE, tmp_path / "lane" / "state.db")
    configs.start()
    link.start()
    assert link.connected.wait(10)
    yield configs
    link.stop()
    configs.close()


def occupancy(configs: SiteConfigStore) -> tuple[int, int, int]:
    """(occupied, capacity, version) as the lane holds it; (-1, -1, -1) before the first."""
    doc = configs.get(ConfigKind.OCCUPANCY)
    return (doc.data["occupied"], doc.data["capacity"], doc.version) if doc else (-1, -1, -1)


def test_lanes_follow_central_after_its_database_is_restored_from_a_backup(
    broker: Broker, follower: SiteConfigStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, backup = tmp_path / "central.db", tmp_path / "backup.db"
    central = Central(db, broker.port, tmp_path).start()
    lane = LaneEvents(broker.port)
    try:
        lane.publish_capacity(50)
        lane.cars_enter(3)
        wait_until(
            lambda: occupancy(follower)[:2] == (3, 50), what="the lane to hold occupancy 3 of 50"
        )

        with (
            sqlite3.connect(db) as source,
            sqlite3.connect(backup) as target,
        ):  # online backup, central running
            source.backup(target)

        lane.publish_capacity(60)  # a config change after the backup, retained at the broker
        lane.cars_enter(5)
        wait_until(
            lambda: occupancy(follower)[:2] == (8, 60), what="the lane to hold occupancy 8 of 60"
        )
        *_, held_before_restore = occupancy(follower)

        central.stop()
        for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(backup, db)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="edge.link.site_config"):
            central = Central(db, broker.port, tmp_path).start()
            # central's count is the restored one (3); the lane takes it, newer than what it held
            restored = wait_until(
                lambda: occupancy(follower) if occupancy(follower)[:2] == (3, 60) else None,
                what="the lane to follow the restored central (its count, the retained capacity)",
            )
            assert restored[2] > held_before_restore
            lane.cars_enter(1)  # and central's next change is followed too
            wait_until(
                lambda: occupancy(follower)[:2] == (4, 60),
                what="the lane to follow a change after the restore",
            )
        assert not [r for r in caplog.records if "older than held" in r.getMessage()]
    finally:
        lane.close()
        central.stop()

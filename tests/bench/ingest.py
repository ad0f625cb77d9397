"""Ingest throughput against a bare paho subscriber, on SQLite and PostgreSQL.

    .venv/bin/python tests/bench/ingest.py [--events 50000] [--backend sqlite|postgresql|both]

Prints one JSON line per backend and worker count:
{"bench":"ingest","backend":…,"events":N,"ingest_eps":…,"raw_eps":…,"ratio":…,"lost":0,"duplicates":0,"workers":N}

Method: one Mosquitto of its own. Two persistent sessions are created first
(the raw subscriber's and the ingest worker's), then N events from 10 lanes
are published once and queued by the broker for both. Each consumer then
drains the same N messages from its queue: raw_eps is a bare paho client
(auto-ack, counting only); ingest_eps is the real IngestWorker (parse,
validate, batch commit, ack after commit, gaps, occupancy). ``lost`` counts
events missing from the database; ``duplicates`` counts events stored twice.
``--workers N`` runs N ingest processes on one shared subscription.

Measured on the 2-vCPU build machine (2026-11-27, N=50,000, mosquitto,
PostgreSQL and the bench on the same two cores, other engineers' jobs running):

    before (classify on the paho thread, ORM executemany with RETURNING):
      1 worker   sqlite 8,077 eps ratio 0.207   postgresql 6,931 eps ratio 0.182
    after (classify on the database thread, one-pass JSON parse, driver-level SQLite insert):
      1 worker   sqlite 11,230 eps ratio 0.277  postgresql 8,328 eps ratio 0.234
      2 workers  sqlite 15,307 eps ratio 0.395  postgresql 14,149 eps ratio 0.413

lost = 0 and duplicates = 0 in every run; all still below the 0.6 target.
Where the time goes (cProfile + process CPU time, one worker): ~89 µs of CPU
per message, of which ~12 µs parsing (``classify``), ~34 µs storage (events,
devices/gaps, tickets, occupancy in one transaction) and ~40 µs paho: four
``recv`` calls per PUBLISH, one ``send`` per PUBACK and one wake-up byte per
ack, each a GIL hand-off between the network and database threads. The bare
subscriber costs ~25 µs, so one Python process tops out near 0.3; 0.6 needs
more worker processes and more cores than this box has (mosquitto alone takes
a good part of one core at these rates).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from central.db.models import Event
from central.db.session import make_engine, upgrade
from central.ingest.worker import IngestWorker
from central.mqtt import BrokerAddress, MqttLink
from edge import wire
from tests.support.services import PG_ADMIN_URL, Broker

LANES = 10


def _client(port: int, client_id: str, clean: bool = True) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    return c


def _create_session(port: int, client_id: str) -> None:
    """Subscribe once with a persistent session so the broker queues the stream for it."""
    done = threading.Event()
    c = _client(port, client_id, clean=False)
    c.on_connect = lambda cl, *_: cl.subscribe(wire.ALL_EVENTS, 1)
    c.on_subscribe = lambda *_: done.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    if not done.wait(10):
        raise RuntimeError(f"{client_id}: no SUBACK")
    c.disconnect()
    c.loop_stop()


def _publish(port: int, n: int) -> None:
    payloads = []
    for i in range(n):
        lane = f"lane-{i % LANES}"
        seq = i // LANES + 1
        data = (
            wire.VehicleArrived(lane_role="entry") if i % 3 else wire.VehiclePassed(serial=f"T{i}")
        )
        kind = wire.EventType.VEHICLE_ARRIVED if i % 3 else wire.EventType.VEHICLE_ENTERED
        env = wire.make_event("bench", lane, seq, data, kind)
        payloads.append((wire.event_topic("bench", lane, kind), env.to_json()))
    pub = _client(port, "bench-publisher")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    infos = [pub.publish(t, p, qos=1) for t, p in payloads]
    for info in infos:
        info.wait_for_publish(120)
    pub.disconnect()
    pub.loop_stop()


def _drain_raw(port: int, n: int) -> float:
    got = 0
    done = threading.Event()

    def on_message(*_args: object) -> None:
        nonlocal got
        got += 1
        if got >= n:
            done.set()

    c = _client(port, "bench-raw", clean=False)
    c.on_message = on_message
    start = time.perf_counter()
    c.connect("127.0.0.1", port)
    c.loop_start()
    if not done.wait(600):
        raise RuntimeError(f"raw subscriber got {got}/{n}")
    elapsed = time.perf_counter() - start
    c.disconnect()
    c.loop_stop()
    return elapsed


def _child(url: str, port: int, index: int, share: str | None, ready, go, stop, counter) -> None:
    """One ingest worker in its own process (what several ``central run --ingest-only`` do)."""
    engine = make_engine(url)
    link = MqttLink(
        BrokerAddress("127.0.0.1", port),
        f"bench-ingest-{index}",
        manual_ack=True,
        clean_session=False,
    )
    worker = IngestWorker(link, engine, share_group=share)
    ready.set()
    go.wait()
    worker.start()
    while not stop.wait(0.005):
        counter.value = worker.stats.messages
    worker.stop()
    counter.value = worker.stats.messages


def _drain_ingest_procs(port: int, url: str, n: int, workers: int) -> tuple[float, int]:
    ctx = multiprocessing.get_context("fork")
    go, stop = ctx.Event(), ctx.Event()
    share = "bench" if workers > 1 else None
    readies = [ctx.Event() for _ in range(workers)]
    counters = [ctx.Value("q", 0) for _ in range(workers)]
    procs = [
        ctx.Process(
            target=_child,
            args=(url, port, i, share, readies[i], go, stop, counters[i]),
            daemon=True,
        )
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    for r in readies:
        r.wait(60)
    start = time.perf_counter()
    go.set()
    deadline = time.monotonic() + 900
    while sum(c.value for c in counters) < n:
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    stop.set()
    for p in procs:
        p.join(30)
    return elapsed, sum(c.value for c in counters)


def _pg_url() -> tuple[str, str]:
    import psycopg

    name = f"gp_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace(
        "postgresql://", "postgresql+psycopg://", 1
    )


def _drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(backend: str, n: int, workdir: Path, workers: int = 1) -> dict:
    pg_name = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir}/bench-{uuid.uuid4().hex[:6]}.db"
    else:
        pg_name, url = _pg_url()
    broker = Broker(workdir / f"broker-{backend}-{workers}").start()
    engine = make_engine(url)
    try:
        upgrade(engine)
        share = "bench" if workers > 1 else None
        for i in range(
            workers
        ):  # create the ingest sessions so the broker queues the stream for them
            link = MqttLink(
                BrokerAddress("127.0.0.1", broker.port),
                f"bench-ingest-{i}",
                manual_ack=True,
                clean_session=False,
            )
            IngestWorker(link, engine, share_group=share).start().stop()
        _create_session(broker.port, "bench-raw")
        _publish(broker.port, n)
        raw_s = _drain_raw(broker.port, n)
        ingest_s, processed = _drain_ingest_procs(broker.port, url, n, workers)
        if processed < n:
            raise RuntimeError(f"ingest processed only {processed}/{n} messages in time")
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(Event)).scalar_one()
            distinct = conn.execute(select(func.count(func.distinct(Event.id)))).scalar_one()
        raw_eps = n / raw_s
        ingest_eps = n / ingest_s
        return {
            "bench": "ingest",
            "backend": backend,
            "events": n,
            "ingest_eps": round(ingest_eps),
            "raw_eps": round(raw_eps),
            "ratio": round(ingest_eps / raw_eps, 3),
            "lost": n - distinct,
            "duplicates": stored - distinct,
            "workers": workers,
        }
    finally:
        engine.dispose()
        broker.stop()
        if pg_name:
            _drop_pg(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="ingest processes on one shared subscription (the 1-worker line is printed too)",
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="gatepost-bench-") as tmp:
        for backend in backends:
            # The 1-worker line is the baseline the N-worker line is read against.
            for workers in sorted({1, args.workers}):
                print(json.dumps(run(backend, args.events, Path(tmp), workers)), flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: a lane back from a long outage drains a 100k-event outbox backlog.

Prints one JSON line::

    {"bench":"replay","backlog":100000,"drain_s":…,"eps":…,"lost":0,"duplicates":0,…}

It starts its own Mosquitto (the tests' :class:`~tests.support.services.Broker`),
fills an outbox with ``--backlog`` payment events while no forwarder runs,
then starts :class:`~edge.link.mqtt.MqttLink` + :class:`~edge.link.forwarder.Forwarder`
and times until every row is deleted on central's ack (not the broker's PUBACK)
*and* central has committed every seq. ``lost`` counts seqs that never
arrived; ``duplicates`` counts QoS 1 re-sends.

By default the backlog drains into central's real ingest
(:class:`central.ingest.service.IngestService`, in a child process) and the
bench counts the rows it committed (SQLite in a temporary file, or ``--db
URL``). ``--into subscriber`` uses a bare counting subscriber instead (a
persistent-session QoS 1 client in a child process), which measures only the
edge link and the broker: nobody acknowledges for central there, so the rows
stay in the outbox (``left_in_outbox``) and the clock stops when every seq arrived.

Run: ``.venv/bin/python tests/bench/replay.py [--backlog 100000] [--window 100] [--rate 0]
[--into subscriber|central] [--db postgresql+psycopg://…]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run as a script (``python tests/bench/replay.py``): ``tests`` is importable only once the
# repository root is on sys.path, so these imports must follow the insert.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.link.forwarder import Forwarder  # noqa: E402
from edge.link.mqtt import MqttLink  # noqa: E402
from edge.link.outbox import Outbox  # noqa: E402
from edge.wire import ALL_EVENTS, EventType, PaymentConfirmed  # noqa: E402
from tests.support.services import Broker  # noqa: E402

SUBSCRIBER = """
import sys, threading, time
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
port, topic = int(sys.argv[1]), sys.argv[2]
out, lock = [], threading.Lock()
c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-ingest", clean_session=False,
                protocol=paho.MQTTv311)
c.on_connect = lambda cl, u, f, r, p: cl.subscribe(topic, 1)
c.on_subscribe = lambda *a: print("ready", flush=True)
def on_message(cl, u, m):
    # The seq sits in the envelope; a cheap scan keeps this subscriber faster than the sender.
    i = m.payload.index(b'"seq":') + 6
    j = m.payload.index(b",", i)
    with lock:
        out.append(m.payload[i:j].decode())
c.on_message = on_message
c.connect("127.0.0.1", port)
c.loop_start()
while True:
    time.sleep(0.05)
    with lock:
        batch, out[:] = list(out), []
    if batch:
        sys.stdout.write("\\n".join(batch) + "\\n")
        sys.stdout.flush()
"""


INGEST = """
import logging, signal, sys, threading
from central.db.session import make_engine, upgrade
from central.ingest.service import IngestService
from central.settings import Settings
logging.basicConfig(level=logging.WARNING)
settings = Settings(db_url=sys.argv[1], broker_port=int(sys.argv[2]), client_id="bench-central",
                    auto_migrate=False, _env_file=None)
engine = make_engine(settings.db_url)
upgrade(engine)
service = IngestService(settings, engine, housekeeping=False).start()
print("ready", flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
done.wait()
service.stop()
"""


class CentralIngest:
    """Central's ingest in a child process; the parent counts the events it committed."""

    def __init__(self, port: int, db_url: str) -> None:
        from sqlalchemy import create_engine, text

        self._text = text
        self.proc = subprocess.Popen(
            [sys.executable, "-c", INGEST, db_url, str(port)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise RuntimeError("central ingest did not start")
        self.engine = create_engine(db_url)  # plain reads: no write lock taken on ingest's database
        self.total = 0
        self._unique = 0
        self._last = 0.0

    def unique(self) -> int:
        if time.monotonic() - self._last < 0.25:  # do not hammer the database it is writing to
            return self._unique
        self._last = time.monotonic()
        with self.engine.connect() as conn:
            row = conn.execute(
                self._text(
                    "SELECT COUNT(*), COUNT(DISTINCT seq) FROM events WHERE site = 'bench' AND device = 'lane-1'"
                )
            ).one()
        self.total, self._unique = int(row[0]), int(row[1])
        return self._unique

    def stop(self) -> None:
        self._last = 0.0
        self.unique()
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.engine.dispose()


class CountingSubscriber:
    """Child process subscribed to every event; the parent tallies the seqs it prints."""

    def __init__(self, port: int) -> None:
        self.seen: set[int] = set()
        self.total = 0
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SUBSCRIBER, str(port), ALL_EVENTS],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("subscriber did not start")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.seen.add(int(line))
                self.total += 1

    def unique(self) -> int:
        with self._lock:
            return len(self.seen)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


def fill(box: Outbox, count: int) -> float:
    """Write the backlog. The fill is not what is measured, so it skips fsync."""
    box._emit_db.execute("PRAGMA synchronous=OFF")  # benchmark set-up only
    start = time.monotonic()
    for i in range(count):
        box.emit(
            EventType.PAYMENT_CONFIRMED,
            PaymentConfirmed(
                serial=f"S{i:08d}", fee_minor=500 + i % 3000, currency="CNY", method="cash"
            ),
        )
    box._emit_db.execute("PRAGMA synchronous=FULL")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=100, help="QoS 1 messages in flight")
    parser.add_argument(
        "--rate", type=float, default=0, help="replay rate limit per second (0: none)"
    )
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--into", choices=("central", "subscriber"), default="central")
    parser.add_argument(
        "--db", default=None, help="central's database URL (default: SQLite in a temp dir)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gatepost-bench-") as tmp:
        broker = Broker(Path(tmp) / "broker").start()
        sub: CountingSubscriber | CentralIngest
        if args.into == "central":
            sub = CentralIngest(broker.port, args.db or f"sqlite:///{tmp}/central.db")
        else:
            sub = CountingSubscriber(broker.port)
        box = Outbox(Path(tmp) / "outbox.db", "bench", "lane-1", bound=max(args.backlog * 2, 100))
        fill_s = fill(box, args.backlog)
        link = MqttLink(
            "bench", "lane-1", host="127.0.0.1", port=broker.port, max_inflight=args.window + 10
        )
        forwarder = Forwarder(box, link, window=args.window, replay_rate_per_s=args.rate or None)
        link.start()
        if not link.connected.wait(10):
            raise SystemExit("bench: could not connect to the broker")
        start = time.monotonic()
        forwarder.start()
        deadline = start + args.timeout
        acked_by_central = args.into == "central"
        while time.monotonic() < deadline and (
            (acked_by_central and box.depth > 0) or sub.unique() < args.backlog
        ):
            time.sleep(0.02)
        drain_s = time.monotonic() - start
        time.sleep(0.3)  # let late duplicates, if any, be counted
        forwarder.stop()
        link.stop()
        sub.stop()
        unique, total = sub.unique(), sub.total
        depth = box.depth
        box.close()
        broker.stop()

    print(
        json.dumps(
            {
                "bench": "replay",
                "backlog": args.backlog,
                "drain_s": round(drain_s, 3),
                "eps": round(args.backlog / drain_s, 1) if drain_s > 0 else None,
                "lost": args.backlog - unique,
                "duplicates": total - unique,
                "left_in_outbox": depth,
                "window": args.window,
                "rate_limit": args.rate or None,
                "fill_s": round(fill_s, 3),
                "into": "central ingest (rows committed)"
                if args.into == "central"
                else "counting subscriber (not central ingest)",
            }
        )
    )


if __name__ == "__main__":
    main()

"""Live link benchmark: one event emitted into the outbox → delivered to a subscriber.

Run: ``.venv/bin/python tests/bench/live_link.py [--events 200]``. Prints ONE JSON line::

    {"bench": "live_link", "events": N, "p50_ms": …, "p95_ms": …, "worst_ms": …}

A lane's live event (no backlog) goes out when emitted: the fsync'd outbox
write, the forwarder's wake-up, the broker and a plain QoS 1 subscriber, each
event alone. The default suite checks only that each goes out on its own
(tests/link/test_forwarder.py); the time lives here. Target: worst < 250 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.link.forwarder import Forwarder  # noqa: E402
from edge.link.mqtt import MqttLink  # noqa: E402
from edge.link.outbox import Outbox  # noqa: E402
from edge.wire import ALL_EVENTS, EventType, PaymentConfirmed  # noqa: E402
from tests.link.helpers import Collector  # noqa: E402
from tests.support.services import Broker  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gatepost-bench-") as tmp:
        broker = Broker(Path(tmp) / "broker").start()
        sub = Collector(broker.port, ALL_EVENTS).start()
        box = Outbox(Path(tmp) / "outbox.db", "bench", "lane-1")
        link = MqttLink("bench", "lane-1", host="127.0.0.1", port=broker.port)
        forwarder = Forwarder(box, link)
        link.start()
        forwarder.start()
        if not link.connected.wait(15):
            raise SystemExit("bench: could not connect to the broker")
        samples: list[float] = []
        try:
            for i in range(args.events):
                start = time.perf_counter()
                box.emit(
                    EventType.PAYMENT_CONFIRMED,
                    PaymentConfirmed(serial=f"S{i}", fee_minor=100, currency="CNY", method="cash"),
                )
                if len(sub.wait_for(i + 1, 15)) < i + 1:
                    raise SystemExit(f"bench: event {i + 1} did not arrive")
                samples.append(time.perf_counter() - start)
        finally:
            forwarder.stop()
            link.stop()
            sub.stop()
            box.close()
            broker.stop()
    samples.sort()
    print(
        json.dumps(
            {
                "bench": "live_link",
                "events": len(samples),
                "p50_ms": round(statistics.median(samples) * 1000, 2),
                "p95_ms": round(samples[int(len(samples) * 0.95) - 1] * 1000, 2),
                "worst_ms": round(samples[-1] * 1000, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

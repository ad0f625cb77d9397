"""Dashboard latency benchmark: event published by a lane → row shown in the supervisor's browser.

Run: ``.venv/bin/python tests/bench/dashboard.py [--lanes 50] [--rate 2] [--seconds 20]``.
Prints ONE JSON line:

    {"bench": "dashboard", "lanes": 50, "rate_per_lane": 2, "p50_ms": …, "p95_ms": …,
     "events": N, "shown": N, "p99_ms": …, "max_ms": …, "api_p95_ms": …, "api_errors": 0}

What is measured, in one run on this machine:

* its own Mosquitto (the tests' Broker) and a real central (``create_app`` with
  ingest on SQLite, the ops runtime, uvicorn), exactly as the tests run it;
* ``--lanes`` simulated lanes (one paho client each, with a Last Will) that
  together publish ``lanes × rate`` QoS 1 events per second, round robin,
  evenly spaced;
* Debian's Chromium (Playwright) signed in as a supervisor on the dashboard.
  A MutationObserver stamps ``Date.now()`` when each event's row is added to
  the feed; latency = that stamp − the wall-clock time just before publish
  (same machine, same clock). The path covers broker → ingest commit →
  on_committed → live hub → SSE → the page's DOM.
* meanwhile a thread calls the API (``/api/events``, ``/api/devices``,
  ``/api/alarms``) every 200 ms: ``api_p95_ms`` and ``api_errors`` show the
  API still answering under the load.

Target (issue 4): p95 ≤ 250 ms with the API still answering.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

# Run as a script (``python tests/bench/dashboard.py``): ``tests`` is importable only once the
# repository root is on sys.path, so these imports must follow the insert.
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge import wire  # noqa: E402
from tests.central.api.harness import PASSWORD, SimLane, start_central  # noqa: E402
from tests.support.services import CHROMIUM, CHROMIUM_ARGS, Broker  # noqa: E402

OBSERVER = """() => {
  window.__seen = {};
  new MutationObserver(records => {
    const now = Date.now();
    for (const r of records) for (const n of r.addedNodes) if (n.dataset && n.dataset.eventId) window.__seen[n.dataset.eventId] = now;
  }).observe(document.getElementById('feed'), {childList: true});
}"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lanes", type=int, default=50)
    ap.add_argument("--rate", type=float, default=2.0, help="events per second per lane")
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gp-bench-dash-"))
    broker = Broker(tmp / "broker").start()
    central = start_central(tmp, broker.port)
    lanes: list[SimLane] = []
    try:
        lanes = [
            SimLane("bench", f"lane-{i:02d}", broker.port).connect() for i in range(args.lanes)
        ]
        sup = central.client("sup")
        central.wait_for(
            lambda: (
                len(sup.get("/api/devices", params={"site": "bench"}).json()["items"]) == args.lanes
            ),
            timeout=20,
            what="lanes known",
        )

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.goto(f"{central.url}/login")
            page.evaluate("() => localStorage.setItem('gp.site', 'bench')")
            page.fill("#username", "sup")
            page.fill("#password", PASSWORD)
            page.click("#login-btn")
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_selector("#live-state.on")
            page.evaluate(OBSERVER)

            api_ms: list[float] = []
            api_errors = 0
            stop = threading.Event()

            def poll_api() -> None:
                nonlocal api_errors
                client = central.client("sup")
                paths = [
                    "/api/events?site=bench&limit=50",
                    "/api/devices?site=bench",
                    "/api/alarms?state=active",
                ]
                i = 0
                while not stop.wait(0.2):
                    t0 = time.perf_counter()
                    try:
                        if client.get(paths[i % len(paths)]).status_code != 200:
                            api_errors += 1
                    except httpx.HTTPError:
                        api_errors += 1
                    api_ms.append((time.perf_counter() - t0) * 1000)
                    i += 1

            poller = threading.Thread(target=poll_api, daemon=True)
            poller.start()

            sent: dict[str, float] = {}
            total = int(args.lanes * args.rate * args.seconds)
            interval = 1.0 / (args.lanes * args.rate)
            start = time.perf_counter()
            for n in range(total):
                lane = lanes[n % args.lanes]
                due = start + n * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                env = wire.make_event(
                    "bench",
                    lane.device,
                    next(lane.seq),
                    wire.VehicleArrived(lane_role="exit"),
                    wire.EventType.VEHICLE_ARRIVED,
                )
                sent[env.id] = time.time() * 1000
                lane.client.publish(
                    wire.event_topic("bench", lane.device, "vehicle_arrived"), env.to_json(), qos=1
                )

            deadline = time.monotonic() + 10
            seen: dict[str, float] = {}
            while time.monotonic() < deadline:
                page.wait_for_timeout(250)  # lets Playwright pump the page's events
                seen = page.evaluate("() => window.__seen")
                if len(seen) >= len(sent):
                    break
            stop.set()
            poller.join(2)
            browser.close()

        latencies = [seen[i] - t for i, t in sent.items() if i in seen]
        print(
            json.dumps(
                {
                    "bench": "dashboard",
                    "lanes": args.lanes,
                    "rate_per_lane": args.rate if args.rate != int(args.rate) else int(args.rate),
                    "p50_ms": pct(latencies, 50) if latencies else None,
                    "p95_ms": pct(latencies, 95) if latencies else None,
                    "p99_ms": pct(latencies, 99) if latencies else None,
                    "max_ms": round(max(latencies), 1) if latencies else None,
                    "events": len(sent),
                    "shown": len(latencies),
                    "seconds": args.seconds,
                    "api_calls": len(api_ms),
                    "api_p50_ms": round(statistics.median(api_ms), 1) if api_ms else None,
                    "api_p95_ms": pct(api_ms, 95) if api_ms else None,
                    "api_errors": api_errors,
                }
            )
        )
    finally:
        for lane in lanes:
            lane.close()
        central.stop()
        broker.stop()


if __name__ == "__main__":
    main()

"""PN532 benchmark: driver round trip and card-arrival → CardStation.poll, on the pty emulator.

Run: ``.venv/bin/python tests/bench/pn532.py [--rounds 200]``. Prints ONE JSON line::

    {"bench": "pn532", "listing_p50_ms": …, "listing_p95_ms": …, "card_to_poll_p50_ms": …,
     "card_to_poll_p90_ms": …, "card_to_poll_p99_ms": …}

* **listing** — ``PN532.list_passive_target`` with a card in the field, back to back
  (frame out, ACK, answer in, over the emulator's pty). Target: p95 < 10 ms.
* **card_to_poll** — a card placed while ``CardStation.poll`` is waiting, to the poll's
  return. Target: p90 < 10 ms (the lane's own end-to-end figure is tests/bench/lane_latency.py).

The default suite checks these paths functionally (tests/hw/test_pn532_*.py); the times live here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.hw.card_station import CardStation  # noqa: E402
from edge.hw.pn532 import PN532  # noqa: E402
from edge.sim.pn532_emulator import NtagMemory, PN532Emulator  # noqa: E402

UID = bytes.fromhex("04a1b2c3d4e5f6")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 3)


def listing_round_trips(rounds: int) -> list[float]:
    with PN532Emulator() as emu:
        pn = PN532(emu.device_path, timeout=1.0)
        pn.begin()
        emu.place_card(NtagMemory(uid=UID))
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            if pn.list_passive_target(1.0) != UID:
                raise SystemExit("bench: the card was not listed")
            samples.append(time.perf_counter() - start)
        pn.close()
    return samples


def card_to_poll(rounds: int) -> list[float]:
    with PN532Emulator() as emu:
        station = CardStation(emu.device_path, timeout=1.0)
        station.poll(0.01)
        samples = []
        for i in range(rounds):
            emu.remove_card()  # a new card each round: no debounce
            listings = emu.commands.count(0x4A)
            placed: list[float] = []

            def place(n: int = i, seen: int = listings, placed: list[float] = placed) -> None:
                deadline = time.monotonic() + 15
                while emu.commands.count(0x4A) <= seen and time.monotonic() < deadline:
                    time.sleep(0.001)
                time.sleep(0.005)  # the chip is listing: the card arrives a little later
                placed.append(time.perf_counter())
                emu.place_card(NtagMemory(uid=bytes([4, 0, 0, 0, 0, n // 256, n % 256])))

            threading.Thread(target=place, daemon=True).start()
            if station.poll(15.0) is None:
                raise SystemExit("bench: the card was not reported")
            samples.append(time.perf_counter() - placed[0])
        station.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    listing = listing_round_trips(args.rounds)
    cards = card_to_poll(max(10, args.rounds // 4))
    print(
        json.dumps(
            {
                "bench": "pn532",
                "listing_p50_ms": round(statistics.median(listing) * 1000, 3),
                "listing_p95_ms": pct(listing, 0.95),
                "card_to_poll_p50_ms": round(statistics.median(cards) * 1000, 3),
                "card_to_poll_p90_ms": pct(cards, 0.90),
                "card_to_poll_p99_ms": pct(cards, 0.99),
            }
        )
    )


if __name__ == "__main__":
    main()

"""Tariff benchmark: how long one quote takes for a year-long per-minute stay.

Run: ``.venv/bin/python tests/bench/tariff.py [--repeat 5]``. Prints ONE JSON line::

    {"bench": "tariff", "stay_days": …, "quote_ms_best": …, "quote_ms_median": …}

An abandoned car must not stall the lane when it finally leaves: the engine
cuts a stay only where a band, a cap window or the UTC offset changes. The
default suite checks that structurally (tests/tariff/test_engine.py counts the
slots it looks at); the wall time lives here. Target: well under 2 s on a Pi.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.tariff import quote  # noqa: E402
from tests.tariff.helpers import DAY_NIGHT, make_tariff  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tariff = make_tariff(
        bands=[dict(b, unit_minutes=1) for b in DAY_NIGHT],
        cap={"minor": 3000, "window": "calendar_day"},
    )
    entry = datetime(2026, 1, 1, tzinfo=UTC)
    exit_ = datetime(2026, 11, 26, 10, tzinfo=UTC)
    samples: list[float] = []
    for _ in range(max(1, args.repeat)):
        started = time.perf_counter()
        quote(tariff, entry, exit_)
        samples.append(time.perf_counter() - started)
    print(
        json.dumps(
            {
                "bench": "tariff",
                "stay_days": (exit_ - entry).days,
                "quote_ms_best": round(min(samples) * 1000, 1),
                "quote_ms_median": round(statistics.median(samples) * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

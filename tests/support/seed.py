"""Seeds for randomised tests: printed every time, settable to replay a failure.

``GATEPOST_TEST_SEED=<n>`` makes every randomised test in the run use ``n``;
without it each picks a fresh seed. Either way the seed is printed at once
(pytest shows it with a failure's captured output) and belongs in the
test's assertion messages.
"""

from __future__ import annotations

import os
import random

SEED_ENV = "GATEPOST_TEST_SEED"


def pick_seed(what: str) -> int:
    """The seed for ``what``: ``GATEPOST_TEST_SEED`` if set, else a fresh one; printed either way."""
    raw = os.environ.get(SEED_ENV, "").strip()
    try:
        seed = int(raw) if raw else random.randrange(1 << 30)
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be an integer, got {raw!r}") from None
    print(f"\n{what}: seed={seed} (replay with {SEED_ENV}={seed})", flush=True)
    return seed


def replay_hint(seed: int) -> str:
    """For assertion messages: how to run the failing case again."""
    return f"seed={seed}; replay with {SEED_ENV}={seed}"

"""Login throttling: pure logic, a clock passed in.

The rule it must keep: **a stranger's failures never refuse the real user.**
A hard lock on a username lets anyone lock the admin out by typing wrong
passwords for it, so nothing here locks an account. Instead every failure
buys *its source* a progressive delay, counted three ways:

* **account + source** — the same address guessing one account: after
  ``pair_free`` failures inside ``window`` seconds, each further failure makes
  that address wait ``base_delay`` × 2ⁿ (up to ``max_delay``) before it may
  try that account again.
* **source** — one address spraying many names: the same, after
  ``source_free`` failures of any account.
* **account** — many addresses guessing one account (a botnet): once the
  account has ``account_free`` failures from anywhere, every address *that has
  itself failed on that account* waits, the delay growing with the account's
  total. An address with no failure on the account is not held back by it,
  so the real admin signing in from their own desk gets in while the attack
  goes on; each attacking address gets at most a try per delay.

A success clears only its own account + source record: logging in with one's
own account does not wipe a source's failures against others. Records age out
after ``window``; memory stays bounded under a spray of names and addresses.
A refused attempt is not a failure (the password is not even checked), so
waiting it out is the only way on.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

_KEEP = 64
"""Failure times kept per key: the delay has reached ``max_delay`` long before."""


class LoginThrottle:
    """Per source, per account and per account+source failure counts with progressive delays."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        pair_free: int = 5,
        source_free: int = 20,
        account_free: int = 10,
        window: float = 900.0,
        base_delay: float = 15.0,
        max_delay: float = 900.0,
        max_keys: int = 100_000,
    ) -> None:
        self._clock = clock
        self.pair_free = pair_free
        self.source_free = source_free
        self.account_free = account_free
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ API

    def retry_after(self, account: str, source: str) -> int:
        """Whole seconds until ``source`` may try ``account`` again (0 = now)."""
        now = self._clock()
        account = account.lower()
        with self._lock:
            pair = self._recent(_pair(account, source), now)
            by_source = self._recent(_source(source), now)
            by_account = self._recent(_account(account), now)
            waits = [
                self._wait(pair, self.pair_free, pair, now),
                self._wait(by_source, self.source_free, by_source, now),
            ]
            if pair:  # the account's count holds back only sources that failed on it
                waits.append(self._wait(by_account, self.account_free, pair, now))
        wait = max(waits)
        return max(0, int(wait + 0.999))

    def failure(self, account: str, source: str) -> None:
        now = self._clock()
        account = account.lower()
        with self._lock:
            for key in (_pair(account, source), _source(source), _account(account)):
                self._failures.setdefault(key, deque(maxlen=_KEEP)).append(now)
            if len(self._failures) > self.max_keys:
                self._prune(now)

    def success(self, account: str, source: str) -> None:
        with self._lock:
            self._failures.pop(_pair(account.lower(), source), None)

    # ------------------------------------------------------------------ inside

    def _recent(self, key: str, now: float) -> list[float]:
        times = self._failures.get(key)
        if not times:
            return []
        while times and now - times[0] >= self.window:
            times.popleft()
        return list(times)

    def _wait(self, counted: list[float], free: int, since: Iterable[float], now: float) -> float:
        """Delay owed for ``counted`` failures past ``free``, from the last of ``since``."""
        over = len(counted) - free
        if over < 0:
            return 0.0
        delay = min(self.max_delay, self.base_delay * 2 ** min(over, 32))
        last = max(since, default=now)
        return last + delay - now

    def _prune(self, now: float) -> None:
        stale = [
            k for k, times in self._failures.items() if not times or now - times[-1] >= self.window
        ]
        for key in stale:
            del self._failures[key]
        if len(self._failures) > self.max_keys:  # still full inside one window: drop the oldest
            by_age = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in by_age[: len(self._failures) - self.max_keys]:
                del self._failures[key]


def _pair(account: str, source: str) -> str:
    return f"pair:{account}\x00{source}"


def _source(source: str) -> str:
    return f"ip:{source}"


def _account(account: str) -> str:
    return f"user:{account}"

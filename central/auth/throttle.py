"""Login throttling: pure logic, a clock passed in.

After ``limit`` failures inside ``window`` seconds for one username (or
``ip_limit`` for one client address, which many users may share), that key is locked for ``lockout`` seconds, doubling on
each further lockout up to ``max_lockout``. A success clears the key. Keys
for the username and for the address are checked separately, so an attacker
spraying many names from one address is slowed as well.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0
    lockouts: int = 0


class LoginThrottle:
    def __init__(
        self,
        clock: Callable[[], float],
        *,
        limit: int = 5,
        ip_limit: int = 30,
        window: float = 900.0,
        lockout: float = 60.0,
        max_lockout: float = 3600.0,
    ) -> None:
        self._clock = clock
        self.limit = limit
        self.ip_limit = ip_limit
        self.window = window
        self.lockout = lockout
        self.max_lockout = max_lockout
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int:
        """Seconds until every key may try again (0 = allowed now)."""
        now = self._clock()
        with self._lock:
            waits = [self._records[k].locked_until - now for k in keys if k in self._records]
        wait = max(waits, default=0.0)
        return max(0, int(wait + 0.999))

    def failure(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                rec = self._records.setdefault(key, _Record())
                rec.failures = [t for t in rec.failures if now - t < self.window]
                rec.failures.append(now)
                if len(rec.failures) >= (self.ip_limit if key.startswith("ip:") else self.limit):
                    rec.lockouts += 1
                    rec.locked_until = now + min(self.max_lockout, self.lockout * 2 ** (rec.lockouts - 1))
                    rec.failures.clear()
            if len(self._records) > 100_000:  # bounded memory under a spray
                self._prune(now)

    def success(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._records.pop(key, None)

    def _prune(self, now: float) -> None:
        stale = [k for k, r in self._records.items() if r.locked_until < now and not r.failures]
        for key in stale:
            del self._records[key]

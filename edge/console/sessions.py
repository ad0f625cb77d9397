"""The booth console's browser sessions: who is signed on at THIS browser.

Every browser that loads the console page gets its own session cookie and
CSRF token. A guard's sign-on (badge or ID + PIN) at that browser binds the
guard to that session only: another browser, even on the same booth
network, sees nobody signed on and must sign on by itself. Who acted is
always the session's guard, never a name in the request.

A signed-on session ends after ``idle_s`` without an action (reading the
screen does not count), at the end of the guard's shift, or when the agent
restarts (sessions live in memory only; the shift itself is kept).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from edge.console.guards import Guard

MAX_BROWSERS = 256
"""Anonymous sessions kept; the oldest anonymous one is dropped first (signed-on ones are kept)."""


@dataclass(slots=True)
class BrowserSession:
    """One browser: its cookie id, its CSRF token, and the guard signed on there (if any)."""

    id: str
    csrf: str
    guard: Guard | None = None
    last_action: float = 0.0


class Sessions:
    """The console's browser sessions, in memory; thread-safe."""

    def __init__(self, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self._clock = clock
        self._by_id: OrderedDict[str, BrowserSession] = OrderedDict()
        self._lock = threading.Lock()

    def new(self) -> BrowserSession:
        """A fresh anonymous session for a browser that has none (or an unknown one)."""
        session = BrowserSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            self._by_id[session.id] = session
            anonymous = [s for s in self._by_id.values() if s.guard is None]
            for old in anonymous[: max(0, len(anonymous) - MAX_BROWSERS)]:
                del self._by_id[old.id]
        return session

    def get(self, session_id: str | None) -> BrowserSession | None:
        """The session of this cookie; a guard idle past ``idle_s`` is signed off here first."""
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is not None and session.guard is not None and self.expired(session):
                session.guard = None
            return session

    def expired(self, session: BrowserSession) -> bool:
        return session.guard is not None and self._clock() - session.last_action > self.idle_s

    def csrf_ok(self, session: BrowserSession, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(str(sent), session.csrf)

    def touch(self, session: BrowserSession) -> None:
        session.last_action = self._clock()

    def sign_on(self, old: BrowserSession, guard: Guard) -> BrowserSession:
        """Bind ``guard`` to this browser under a NEW cookie and token (the old ones stop working)."""
        fresh = BrowserSession(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), guard, self._clock()
        )
        with self._lock:
            self._by_id.pop(old.id, None)
            self._by_id[fresh.id] = fresh
        return fresh

    def sign_off_staff(self, staff_id: str) -> int:
        """End every session of ``staff_id`` (their shift is over); returns how many."""
        with self._lock:
            ended = [
                s
                for s in self._by_id.values()
                if s.guard is not None and s.guard.staff_id == staff_id
            ]
            for session in ended:
                session.guard, session.last_action = None, 0.0
        return len(ended)

    def signed_on(self) -> list[Guard]:
        with self._lock:
            return [
                s.guard for s in self._by_id.values() if s.guard is not None and not self.expired(s)
            ]

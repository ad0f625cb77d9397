"""A watchdog that ends any relay output left on past its maximum.

In the field a gate was left open because the code that should have ended a
relay pulse died (an exception, a blocked thread, a hung call). The fix is a
second, independent party: this watchdog does not know who switched an output
on or why — it looks at the output itself every ``interval_s`` and switches it
off once it has been on for longer than its limit, then logs and reports it.

Precision is ``max_s + interval_s``: the on-time is counted from the first poll
that sees the output on. That bound is what the profile's ``max_pulse_s``
promises the installer.

A held output (the "hold" barrier model, energised = open) may only be
released when it is safe: releasing it lowers the arm. ``may_release`` lets the
owner veto the release while a vehicle is under the arm; the watchdog then
reports the overrun and tries again on every poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Output(Protocol):
    """What the watchdog needs from an output: gpiozero's OutputDevice fits."""

    @property
    def is_active(self) -> bool: ...

    def off(self) -> None: ...


@dataclass(slots=True)
class _Watched:
    device: Output
    name: str
    max_s: float
    on_forced: Callable[[str, float], None] | None
    may_release: Callable[[], bool] | None
    on_since: float | None = None
    vetoed: bool = field(default=False)


class RelayWatchdog:
    """Polls outputs on its own thread and forces off any that overrun ``max_s``.

    ``on_forced(name, on_for_s)`` is called after an output was forced off;
    ``on_vetoed`` is logged (once per overrun) when ``may_release`` said no.
    Call :meth:`poll` directly (with an injected ``clock``) for deterministic tests,
    or :meth:`start` for the real thread.
    """

    def __init__(
        self, *, interval_s: float = 0.05, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._watched: list[_Watched] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.forced_count = 0

    def watch(
        self,
        device: Output,
        max_s: float,
        *,
        name: str,
        on_forced: Callable[[str, float], None] | None = None,
        may_release: Callable[[], bool] | None = None,
    ) -> None:
        """Start watching ``device``; it may stay on for at most ``max_s`` seconds at a time."""
        if max_s <= 0:
            raise ValueError(f"{name}: max_s must be positive")
        with self._lock:
            self._watched.append(_Watched(device, name, max_s, on_forced, may_release))

    def unwatch(self, device: Output) -> None:
        with self._lock:
            self._watched = [w for w in self._watched if w.device is not device]

    def poll(self) -> list[str]:
        """Check every output once; returns the names forced off by this poll."""
        now = self._clock()
        forced: list[tuple[_Watched, float]] = []
        with self._lock:
            watched = list(self._watched)
        for w in watched:
            try:
                active = bool(w.device.is_active)
            except Exception:  # a closed device: stop watching it
                log.exception("relay watchdog: %s can no longer be read; no longer watched", w.name)
                self.unwatch(w.device)
                continue
            if not active:
                w.on_since, w.vetoed = None, False
                continue
            if w.on_since is None:
                w.on_since = now
                continue
            on_for = now - w.on_since
            if on_for <= w.max_s:
                continue
            if w.may_release is not None and not _safe_call(w.may_release, w.name):
                if not w.vetoed:
                    log.error(
                        "relay watchdog: %s on for %.1f s (max %.1f s) but release is unsafe now; holding",
                        w.name,
                        on_for,
                        w.max_s,
                    )
                    w.vetoed = True
                continue
            try:
                w.device.off()
            except Exception:
                log.exception("relay watchdog: could not switch %s off", w.name)
                continue
            w.on_since, w.vetoed = None, False
            self.forced_count += 1
            log.error(
                "relay watchdog: forced %s off after %.2f s on (max %.2f s)",
                w.name,
                on_for,
                w.max_s,
            )
            forced.append((w, on_for))
        for w, on_for in forced:
            if w.on_forced is not None:
                try:
                    w.on_forced(w.name, on_for)
                except Exception:
                    log.exception("relay watchdog: on_forced handler failed for %s", w.name)
        return [w.name for w, _ in forced]

    def start(self) -> RelayWatchdog:
        """Run :meth:`poll` every ``interval_s`` on a daemon thread until :meth:`stop`."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="relay-watchdog", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # the watchdog must outlive any bug in what it watches
                log.exception("relay watchdog poll failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _safe_call(fn: Callable[[], Any], name: str) -> bool:
    try:
        return bool(fn())
    except Exception:
        log.exception("relay watchdog: may_release check failed for %s; treating as unsafe", name)
        return False

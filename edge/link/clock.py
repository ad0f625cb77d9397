"""How far this Pi's clock is from central's, measured from central's time beacons.

A Pi has no real-time clock: after a power cut its time can read earlier
than before the shutdown until NTP catches up, and a lane with a wrong clock
charges wrong fees and stamps wrong times. Central publishes its UTC time on
:data:`edge.wire.TIME_TOPIC` every 10 s; each beacon gives one sample of
``local receive time - central send time``, which is the skew plus the
network delay (never negative). The smallest of the recent samples is thus
the best estimate of the skew (the classic one-way estimator).

:class:`ClockSkew` is the pure arithmetic (takes its times as arguments);
:class:`ClockWatch` feeds it from the broker.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import ValidationError

from edge.link.port import Link
from edge.wire import TIME_TOPIC, TimeBeacon, parse_ts, utc_now

log = logging.getLogger(__name__)


class ClockSkew:
    """Skew estimate from (central time, local time) samples. No I/O, no clock of its own.

    :param threshold_ms: largest |skew| still called synced.
    :param stale_after_s: a measurement older than this (monotonic seconds)
        no longer vouches for the clock.
    :param window: how many recent samples the estimate looks at; small, so
        that a clock step (NTP, a power cut) shows within a minute.
    """

    def __init__(
        self, *, threshold_ms: int = 2000, stale_after_s: float = 60.0, window: int = 6
    ) -> None:
        if threshold_ms <= 0 or stale_after_s <= 0 or window < 1:
            raise ValueError("threshold_ms, stale_after_s and window must be positive")
        self.threshold_ms = threshold_ms
        self.stale_after_s = stale_after_s
        self._samples: collections.deque[int] = collections.deque(maxlen=window)
        self._last_mono: float | None = None
        self._lock = threading.Lock()

    def observe(self, central: datetime, local: datetime, mono: float) -> int:
        """Record one beacon (sent at ``central``, received at ``local``); return the new estimate."""
        sample = round((local - central) / timedelta(milliseconds=1))
        with self._lock:
            self._samples.append(sample)
            self._last_mono = mono
            return min(self._samples)

    @property
    def skew_ms(self) -> int | None:
        """Local clock minus central's, in ms (positive: the Pi runs ahead); ``None`` before any beacon."""
        with self._lock:
            if not self._samples:
                return None
            return min(self._samples)

    def synced(self, mono: float) -> bool:
        """True if measured within ``stale_after_s`` and |skew| ≤ ``threshold_ms``."""
        skew = self.skew_ms
        with self._lock:
            last = self._last_mono
        if skew is None or last is None or mono - last > self.stale_after_s:
            return False
        return abs(skew) <= self.threshold_ms

    def central_now(self, local: datetime) -> datetime:
        """``local`` corrected to central's clock (unchanged before the first beacon)."""
        skew = self.skew_ms
        return local if skew is None else local - timedelta(milliseconds=skew)

    def central_clock(
        self,
        wall: Callable[[], datetime] = utc_now,
        before_first: Callable[[], datetime] | None = None,
    ) -> Callable[[], datetime]:
        """A clock reading central's time: ``wall`` (the clock the beacons were measured
        against) corrected by the skew; ``before_first`` (default ``wall``) until a beacon came.

        Commands carry central's expiry times, so a Pi whose clock runs behind would
        otherwise act on a stale raise, and one running ahead would refuse a fresh one.
        """
        fallback = before_first or wall

        def now() -> datetime:
            if self.skew_ms is None:
                return fallback()
            return self.central_now(wall())

        return now


class ClockWatch:
    """Subscribes to central's time beacons and feeds a :class:`ClockSkew`.

    Alarms (a log error, and ``on_unsynced(skew_ms)``) once when the clock goes
    out of the threshold; ``on_synced(skew_ms)`` is called on the first beacon
    within it and whenever it comes back, so the lane can trust its clock again.
    """

    def __init__(
        self,
        link: Link,
        skew: ClockSkew,
        *,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        on_unsynced: Callable[[int], None] | None = None,
        on_synced: Callable[[int], None] | None = None,
    ) -> None:
        self.link = link
        self.skew = skew
        self._clock = clock
        self._mono = monotonic
        self._on_unsynced = on_unsynced
        self._on_synced = on_synced
        self._alarmed = False
        self._synced_told = False

    def start(self) -> None:
        self.link.subscribe(TIME_TOPIC, self.handle, qos=0)

    def handle(self, topic: str, payload: bytes, retained: bool) -> None:
        local = self._clock()
        if retained:
            log.warning("retained time beacon ignored (stale by construction)")
            return
        try:
            beacon = TimeBeacon.model_validate_json(payload)
            central = parse_ts(beacon.ts)
        except (ValidationError, ValueError) as exc:
            log.warning("bad time beacon ignored: %s", exc)
            return
        estimate = self.skew.observe(central, local, self._mono())
        out = abs(estimate) > self.skew.threshold_ms
        if out and not self._alarmed:
            self._alarmed = True
            self._synced_told = False
            log.error(
                "clock skew %d ms exceeds %d ms: lane clock untrustworthy (时钟偏差过大)",
                estimate,
                self.skew.threshold_ms,
            )
            _tell(self._on_unsynced, estimate, "on_unsynced")
        elif not out and (self._alarmed or not self._synced_told):
            if self._alarmed:
                log.warning("clock skew back within threshold: %d ms", estimate)
            self._alarmed = False
            self._synced_told = True
            _tell(self._on_synced, estimate, "on_synced")


def _tell(listener: Callable[[int], None] | None, estimate: int, what: str) -> None:
    if listener is None:
        return
    try:
        listener(estimate)
    except Exception:
        log.exception("%s listener failed", what)

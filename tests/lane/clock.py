"""A hand-driven clock for the lane tests: time moves only when the test says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class StepClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now

"""The lot's local vehicle count against its capacity.

A lane decides "full or not" from this count alone, so it keeps working with
central gone (DESIGN.md §6: every lane decision is local). Counts drift in the
field (a loop misses a car, a car reverses out), so the count is clamped to
``0..capacity + overflow`` and can be corrected by hand or from central's
reconciled figure.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from edge.errors import ConfigError


@dataclass(slots=True, frozen=True)
class OccupancySnapshot:
    occupied: int
    capacity: int
    reserved: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.occupied)


class Occupancy:
    """A thread-safe counter of parked vehicles.

    ``reserved`` spaces are kept for residents: a visitor is refused when the free
    spaces are at or below ``reserved``; a resident or staff badge is never
    refused (their spaces are theirs), but is counted.

    One instance may be shared by the entry and the exit lane of a small site
    run from one Pi (and by the demo); on separate Pis each lane keeps its own
    and central's ``config/occupancy`` document corrects it.
    """

    def __init__(self, capacity: int, reserved: int = 0, occupied: int = 0) -> None:
        self._lock = threading.Lock()
        self._capacity = 0
        self._reserved = 0
        self.set_capacity(capacity, reserved)
        self._occupied = self._clamp(occupied)

    def _clamp(self, value: int) -> int:
        # Never negative; never silly-high (a stuck loop counting forever).
        return max(0, min(int(value), self._capacity * 2 + 10))

    def set_capacity(self, capacity: int, reserved: int = 0) -> None:
        if capacity < 0 or reserved < 0 or reserved > capacity:
            raise ConfigError(
                f"capacity {capacity} / reserved {reserved}: need 0 ≤ reserved ≤ capacity"
            )
        with self._lock:
            self._capacity = capacity
            self._reserved = reserved

    def is_full(self, holder: str = "visitor") -> bool:
        """True when a vehicle of ``holder`` class must be turned away."""
        if holder != "visitor":
            return False
        with self._lock:
            return self._capacity - self._occupied <= self._reserved

    def entered(self) -> int:
        with self._lock:
            self._occupied = self._clamp(self._occupied + 1)
            return self._occupied

    def exited(self) -> int:
        with self._lock:
            self._occupied = self._clamp(self._occupied - 1)
            return self._occupied

    def correct(self, occupied: int) -> int:
        """Set the count by hand (guard correction or central's reconciled count)."""
        if occupied < 0:
            raise ConfigError(f"occupied count cannot be negative: {occupied}")
        with self._lock:
            self._occupied = self._clamp(occupied)
            return self._occupied

    def snapshot(self) -> OccupancySnapshot:
        with self._lock:
            return OccupancySnapshot(self._occupied, self._capacity, self._reserved)

"""Shift arithmetic for the booth (岗务交接): what happened on a shift, and the cash it should hold.

Pure: it reads the events the post recorded during the shift (as ``(type,
data)`` pairs, in order) and a clock, and returns numbers. Nothing here knows
SQLite, MQTT or the lane. The booth console feeds it from its ledger and turns
the result into the ``shift_closed`` event (:class:`edge.wire.ShiftClosed`).

Why expected cash is computed from ``payment_confirmed`` and not from
``fee_quoted``: a quote is what was asked, a confirmation is what the guard
said was taken. A lost-card fee is quoted by ``lost_ticket`` and then paid
through ``payment_confirmed`` like any other fee, so it is counted once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge.errors import GatepostError
from edge.wire import EventType, ShiftClosed, format_ts

FREE_EXIT_REQUEST_PREFIX = "free-exit:"
"""A manual raise whose request id starts with this lets a free exit through; it counts as an exemption."""

MAX_CASH_MINOR = 10_000_000
"""100 000 yuan: more cash than any booth holds; a bigger declared amount is a typo."""

COUNT_KEYS = (
    "cards_issued",
    "entries",
    "exits",
    "payments",
    "free_within_grace",
    "exemptions",
    "badge_passes",
    "lost_cards",
    "manual_raises",
    "manual_closes",
    "incidents",
    "tickets_rejected",
)


class ShiftError(GatepostError, ValueError):
    """A shift operation with bad input (negative or absurd cash, closing a shift twice)."""

    def __init__(self, message: str, zh: str) -> None:
        self.zh = zh
        super().__init__(message)


@dataclass(slots=True)
class ShiftTotals:
    """Counts and money of one shift, in integer minor units."""

    counts: dict[str, int] = field(default_factory=lambda: {k: 0 for k in COUNT_KEYS})
    fees_by_method: dict[str, int] = field(default_factory=dict)

    @property
    def expected_cash_minor(self) -> int:
        return self.fees_by_method.get("cash", 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "fees_by_method": dict(self.fees_by_method),
            "expected_cash_minor": self.expected_cash_minor,
        }


def tally(events: Iterable[tuple[str, Mapping[str, Any]]]) -> ShiftTotals:
    """Add up a shift's events (unknown types are ignored: the shift report never crashes)."""
    counts: Counter[str] = Counter({k: 0 for k in COUNT_KEYS})
    fees: Counter[str] = Counter()
    for event_type, data in events:
        if event_type == EventType.TICKET_ISSUED:
            counts["cards_issued"] += 1
        elif event_type == EventType.VEHICLE_ENTERED:
            counts["entries"] += 1
        elif event_type == EventType.VEHICLE_EXITED:
            counts["exits"] += 1
        elif event_type == EventType.PAYMENT_CONFIRMED:
            method = str(data.get("method", "cash"))
            if method == "none":
                counts["free_within_grace"] += 1
            else:
                counts["payments"] += 1
                fees[method] += int(data.get("fee_minor", 0))
        elif event_type == EventType.FREE_EXIT:
            counts["exemptions"] += 1
        elif event_type == EventType.BADGE_ACCEPTED:
            counts["badge_passes"] += 1
        elif event_type == EventType.LOST_TICKET:
            counts["lost_cards"] += 1
        elif event_type == EventType.MANUAL_RAISE:
            if not str(data.get("request_id") or "").startswith(FREE_EXIT_REQUEST_PREFIX):
                counts["manual_raises"] += 1
        elif event_type == EventType.MANUAL_CLOSE:
            counts["manual_closes"] += 1
        elif event_type == EventType.INCIDENT_REPORTED:
            counts["incidents"] += 1
        elif event_type == EventType.TICKET_REJECTED:
            counts["tickets_rejected"] += 1
    return ShiftTotals(counts=dict(counts), fees_by_method=dict(sorted(fees.items())))


def check_cash(amount: object) -> int:
    """A counted-cash amount from a form: a whole number of minor units, 0 … MAX_CASH_MINOR."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ShiftError("counted cash must be a whole number of fen/cents", "现金金额须为整数(分)")
    if amount < 0:
        raise ShiftError("counted cash cannot be negative", "现金金额不能为负数")
    if amount > MAX_CASH_MINOR:
        raise ShiftError(
            f"counted cash above {MAX_CASH_MINOR // 100} is not plausible; recount",
            f"现金金额超过{MAX_CASH_MINOR // 100}元,不合理,请重新清点",
        )
    return amount


@dataclass(slots=True, frozen=True)
class ShiftClose:
    """A closed shift: what the outgoing guard handed over, and to whom."""

    shift_id: str
    guard: str
    post: str
    opened_at: datetime
    closed_at: datetime
    totals: ShiftTotals
    declared_cash_minor: int
    currency: str
    incoming_guard: str | None

    @property
    def variance_minor(self) -> int:
        """Declared minus expected: positive is cash over, negative is cash short."""
        return self.declared_cash_minor - self.totals.expected_cash_minor

    def event(self) -> ShiftClosed:
        return ShiftClosed(
            shift_id=self.shift_id,
            guard=self.guard,
            incoming_guard=self.incoming_guard,
            post=self.post,
            opened_at=format_ts(self.opened_at),
            closed_at=format_ts(self.closed_at),
            counts=dict(self.totals.counts),
            fees_by_method=dict(self.totals.fees_by_method),
            expected_cash_minor=self.totals.expected_cash_minor,
            declared_cash_minor=self.declared_cash_minor,
            currency=self.currency,
        )


def close_shift(
    *,
    shift_id: str,
    guard: str,
    post: str,
    opened_at: datetime,
    events: Iterable[tuple[str, Mapping[str, Any]]],
    declared_cash_minor: object,
    currency: str,
    clock: Callable[[], datetime],
    incoming_guard: str | None = None,
) -> ShiftClose:
    """Close a shift at ``clock()``: tally its events and set the declared cash against them."""
    declared = check_cash(declared_cash_minor)
    closed_at = clock()
    closed_at = max(closed_at, opened_at)  # a clock stepped back never makes a negative shift
    return ShiftClose(
        shift_id=shift_id,
        guard=guard,
        post=post,
        opened_at=opened_at,
        closed_at=closed_at,
        totals=tally(events),
        declared_cash_minor=declared,
        currency=currency,
        incoming_guard=incoming_guard,
    )

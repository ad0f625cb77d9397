"""The demo site's traffic: who drives up to which gate, when, and what goes wrong.

A pure model (no I/O, no clock of its own, a seeded :class:`random.Random`):
the demo driver asks it what is due at a simulated time and tells it what the
lanes actually did, because only the lanes decide whether a car gets in.

- **arrivals by time of day**: visitors arrive as a Poisson stream whose hourly
  rate follows :data:`VISITOR_HOURLY` (a late-morning and an evening peak);
- **residents and visitors**: residents pass on badges, leave in the morning and
  come back in the evening; visitors take a timed card and stay a while;
- **dwell times**: log-normal around :attr:`TrafficProfile.visitor_dwell_median_min`;
- **the lot filling to full**: the evening peak (residents home plus visitors)
  fills the spaces visitors may use; a refused visitor drives on, or now and
  then the guard lets them in with a reason;
- **trouble**: each day one visitor loses the card, the guard reports one
  incident and the exit lane's card reader drops out for a while;
- **the lobby**: a few people a day check in at the visitor kiosk (a guest,
  an official visitor, a home buyer, a contractor, and more guests) and check
  out again after their visit.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

VISITOR_HOURLY: tuple[float, ...] = (
    0.05,
    0.02,
    0.02,
    0.02,
    0.05,
    0.1,
    0.3,
    0.5,
    0.6,
    0.8,
    1.0,
    0.9,
    0.7,
    0.6,
    0.7,
    0.8,
    0.8,
    0.9,
    1.0,
    1.0,
    0.8,
    0.5,
    0.3,
    0.1,
)
"""Relative visitor arrival rate per local hour (1.0 = the profile's peak rate)."""

Kind = Literal["resident", "visitor"]
Category = Literal["guest", "official", "home_buyer", "contractor"]
LOBBY_CATEGORIES: tuple[Category, ...] = ("guest", "official", "home_buyer", "contractor")
LOBBY_STAY_MIN: dict[str, tuple[float, float]] = {
    "guest": (30, 150),
    "official": (20, 90),
    "home_buyer": (40, 120),
    "contractor": (60, 240),
}
"""How long each kind of lobby visitor stays, in minutes (uniform between the two)."""


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    """How busy the site is; the defaults fill a 60-space lot at the evening peak."""

    capacity: int = 60
    reserved: int = 8
    residents: int = 36
    resident_away_share: float = 0.75
    visitor_peak_per_hour: float = 14.0
    visitor_dwell_median_min: float = 110.0
    visitor_dwell_sigma: float = 0.6
    override_share: float = 0.2
    lost_cards_per_day: int = 1
    incidents_per_day: int = 1
    reader_faults_per_day: int = 1
    reader_fault_min: float = 20.0
    lobby_visitors_per_day: int = 6
    entry_lanes: int = 2
    tz: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if not 0 <= self.reserved <= self.capacity or self.capacity <= 0:
            raise ValueError("need 0 ≤ reserved ≤ capacity and capacity > 0")
        if self.entry_lanes < 1 or self.residents < 0 or self.visitor_peak_per_hour < 0:
            raise ValueError("entry_lanes ≥ 1, residents ≥ 0, visitor_peak_per_hour ≥ 0")
        if self.lobby_visitors_per_day < 0:
            raise ValueError("lobby_visitors_per_day ≥ 0")


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: str
    kind: Kind
    plate: str
    badge: str | None = None


@dataclass(frozen=True, slots=True)
class Arrive:
    """A vehicle pulls up at entry lane ``lane`` (0-based)."""

    at: datetime
    vehicle: Vehicle
    lane: int


@dataclass(frozen=True, slots=True)
class Depart:
    """A vehicle inside drives to the exit; ``lost_card``: the visitor cannot find the card."""

    at: datetime
    vehicle: Vehicle
    lost_card: bool = False


@dataclass(frozen=True, slots=True)
class Incident:
    at: datetime
    lane: int
    kind: Literal["forced_entry", "dispute", "damage", "other"]
    description: str


@dataclass(frozen=True, slots=True)
class ReaderFault:
    """The exit lane's card reader drops out at ``at`` and is back ``minutes`` later."""

    at: datetime
    minutes: float


@dataclass(frozen=True, slots=True)
class LobbyVisitor:
    """Someone who checks in at the lobby kiosk: what they type on the form."""

    id: str
    category: Category
    name: str
    host: str | None = None
    unit: str | None = None
    purpose: str | None = None
    party_size: int = 1
    agency: str | None = None
    pass_number: str | None = None
    company: str | None = None
    work_order: str | None = None


@dataclass(frozen=True, slots=True)
class CheckIn:
    """A visitor walks up to the lobby kiosk and checks in."""

    at: datetime
    visitor: LobbyVisitor


@dataclass(frozen=True, slots=True)
class CheckOut:
    """A visitor on site shows the pass to the kiosk camera on the way out."""

    at: datetime
    visitor: LobbyVisitor


Happening = Arrive | Depart | Incident | ReaderFault | CheckIn | CheckOut

INCIDENTS = (
    (
        "forced_entry",
        "车辆尾随强行进入,已记录车牌 / a car tailgated through the entry; plate noted",
    ),
    ("dispute", "司机对收费有异议,已解释收费标准 / driver disputed the fee; tariff explained"),
    ("damage", "道闸杆被轻微碰撞,已检查 / the barrier arm was nudged; checked, no damage"),
)


@dataclass
class TrafficModel:
    """Plans the site's traffic day by day and keeps track of who is inside."""

    profile: TrafficProfile
    rng: random.Random
    start: datetime
    _queue: list[tuple[datetime, int, Happening]] = field(default_factory=list, init=False)
    _order: itertools.count = field(default_factory=itertools.count, init=False)
    _planned_until: datetime = field(init=False)
    _next_visitor: itertools.count = field(default_factory=lambda: itertools.count(1), init=False)
    _inside: dict[str, Vehicle] = field(default_factory=dict, init=False)
    _lose_card_after: list[datetime] = field(default_factory=list, init=False)
    _in_lobby: dict[str, LobbyVisitor] = field(default_factory=dict, init=False)
    _next_caller: itertools.count = field(default_factory=lambda: itertools.count(1), init=False)
    residents: list[Vehicle] = field(init=False)
    stats: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be zone-aware")
        self.tz = ZoneInfo(self.profile.tz)
        # The lobby draws from its own generator, seeded from (not drawn from) the cars' one: adding
        # the lobby left every seed's car traffic exactly as it was.
        self._lobby_rng = random.Random(hash(self.rng.getstate()) ^ 0x10BB1)
        self.residents = [
            Vehicle(f"r{n:03d}", "resident", f"粤B{10000 + n:05d}", badge=f"{0x0A000000 + n:010X}")
            for n in range(self.profile.residents)
        ]
        local = self.start.astimezone(self.tz)
        self._planned_until = datetime.combine(local.date(), time(0), self.tz)
        self._plan_day(first=True)

    # ----------------------------------------------------------------- what is due

    def next_time(self) -> datetime:
        """When the next happening is due (planning further days as needed)."""
        # A day is planned before anything at or after its start is handed out: a visitor's departure
        # already queued for tomorrow evening must not come before tomorrow's own arrivals.
        while not self._queue or self._queue[0][0] >= self._planned_until:
            self._plan_day()
        return self._queue[0][0]

    def due(self, now: datetime) -> list[Happening]:
        """Every happening due at or before ``now``, in time order."""
        out: list[Happening] = []
        while self.next_time() <= now:
            out.append(heapq.heappop(self._queue)[2])
        return out

    @property
    def inside(self) -> dict[str, Vehicle]:
        return dict(self._inside)

    # ----------------------------------------------------------------- what the lanes did

    def entered(self, vehicle: Vehicle, at: datetime) -> None:
        """The vehicle is in; a visitor's departure is scheduled after a dwell time."""
        self._inside[vehicle.id] = vehicle
        self._count(f"entered_{vehicle.kind}")
        if vehicle.kind == "visitor":
            leave = at + self.dwell()
            lost = bool(self._lose_card_after) and leave >= self._lose_card_after[0]
            if lost:
                self._lose_card_after.pop(0)
            self._push(Depart(leave, vehicle, lost_card=lost))

    def refused(self, vehicle: Vehicle) -> bool:
        """The lot was full for this visitor: True if the guard lets them in anyway."""
        self._count("refused_full")
        override = self.rng.random() < self.profile.override_share
        if override:
            self._count("override")
        return override

    def exited(self, vehicle: Vehicle) -> None:
        self._inside.pop(vehicle.id, None)
        self._count(f"exited_{vehicle.kind}")

    def gave_up(self, vehicle: Vehicle) -> None:
        """Turned away (or the lane could not serve it): it never came in."""
        self._count(f"turned_away_{vehicle.kind}")

    @property
    def in_lobby(self) -> dict[str, LobbyVisitor]:
        """Visitors checked in at the kiosk and not yet out."""
        return dict(self._in_lobby)

    def checked_in(self, visitor: LobbyVisitor, at: datetime) -> None:
        """The kiosk took the check-in: the visitor leaves again after their visit."""
        self._in_lobby[visitor.id] = visitor
        self._count(f"checked_in_{visitor.category}")
        low, high = LOBBY_STAY_MIN[visitor.category]
        self._push(CheckOut(at + timedelta(minutes=self._lobby_rng.uniform(low, high)), visitor))

    def checked_out(self, visitor: LobbyVisitor) -> None:
        self._in_lobby.pop(visitor.id, None)
        self._count("checked_out")

    # ----------------------------------------------------------------- planning

    def dwell(self) -> timedelta:
        p = self.profile
        minutes = p.visitor_dwell_median_min * math.exp(self.rng.gauss(0.0, p.visitor_dwell_sigma))
        return timedelta(minutes=min(max(minutes, 8.0), 12 * 60.0))

    def _plan_day(self, first: bool = False) -> None:
        """Plan the local day that starts at ``_planned_until``; keep only what is after ``start``."""
        p, rng = self.profile, self.rng
        day = self._planned_until
        nxt = datetime.combine(day.date() + timedelta(days=1), time(0), self.tz)

        def at(minutes: float) -> datetime:
            return day + timedelta(minutes=minutes)

        for hour, weight in enumerate(VISITOR_HOURLY):
            for _ in range(_poisson(rng, p.visitor_peak_per_hour * weight)):
                when = at(hour * 60 + rng.uniform(0, 60))
                vehicle = Vehicle(f"v{next(self._next_visitor):06d}", "visitor", _plate(rng))
                self._push(Arrive(when, vehicle, rng.randrange(p.entry_lanes)))
        for resident in self.residents:
            out_at = at(rng.gauss(7.75 * 60, 40))
            back_at = at(rng.gauss(18.5 * 60, 60))
            if first:  # the site opens with residents out; they come home through the first evening
                self._push(
                    Arrive(
                        max(back_at, self.start + timedelta(minutes=rng.uniform(1, 90))),
                        resident,
                        rng.randrange(p.entry_lanes),
                    )
                )
            elif rng.random() < p.resident_away_share:
                self._push(Depart(out_at, resident))
                self._push(Arrive(back_at, resident, rng.randrange(p.entry_lanes)))
        for _ in range(p.lost_cards_per_day):
            self._lose_card_after.append(at(rng.uniform(9 * 60, 20 * 60)))
        for _ in range(p.incidents_per_day):
            kind, text = INCIDENTS[rng.randrange(len(INCIDENTS))]
            self._push(
                Incident(at(rng.uniform(8 * 60, 22 * 60)), rng.randrange(p.entry_lanes), kind, text)  # type: ignore[arg-type]
            )
        for _ in range(p.reader_faults_per_day):
            self._push(ReaderFault(at(rng.uniform(8 * 60, 20 * 60)), p.reader_fault_min))
        self._plan_lobby(at)
        self._planned_until = nxt
        self._queue = [item for item in self._queue if item[0] >= self.start]
        heapq.heapify(self._queue)
        self._lose_card_after = sorted(t for t in self._lose_card_after if t >= self.start)

    def _plan_lobby(self, at: Callable[[float], datetime]) -> None:
        """The day's kiosk visitors, in office hours: one of each category first, then guests."""
        rng, count = self._lobby_rng, self.profile.lobby_visitors_per_day
        for n in range(count):
            category = LOBBY_CATEGORIES[n] if n < len(LOBBY_CATEGORIES) else "guest"
            self._push(CheckIn(at(rng.uniform(9 * 60, 18 * 60)), self._caller(category)))

    def _caller(self, category: Category) -> LobbyVisitor:
        rng = self._lobby_rng
        vid = f"p{next(self._next_caller):06d}"
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        unit = f"{rng.randrange(1, 9)}-{rng.randrange(2, 33)}{rng.randrange(1, 5):02d}"
        if category == "guest":
            return LobbyVisitor(
                vid,
                category,
                name,
                host=rng.choice(_SURNAMES) + rng.choice(_GIVEN),
                unit=unit,
                purpose="探亲访友 / visiting family",
                party_size=rng.choice((1, 1, 2, 3)),
            )
        if category == "official":
            return LobbyVisitor(
                vid,
                category,
                name,
                agency=rng.choice(_AGENCIES),
                pass_number=f"GA-{rng.randrange(100000, 999999)}",
                purpose="消防检查 / fire inspection",
            )
        if category == "home_buyer":
            return LobbyVisitor(
                vid, category, name, purpose="看房 / viewing a flat", party_size=rng.choice((1, 2))
            )
        return LobbyVisitor(
            vid,
            category,
            name,
            company=rng.choice(_COMPANIES),
            unit=unit,
            work_order=f"WO-{rng.randrange(10000, 99999)}",
            purpose="送货安装 / delivery and fitting",
        )

    def _push(self, happening: Happening) -> None:
        heapq.heappush(self._queue, (happening.at, next(self._order), happening))

    def _count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1


_SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴")
_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "晓明", "建华")
_AGENCIES = (
    "市消防支队 / City fire brigade",
    "街道办事处 / Sub-district office",
    "供电局 / Power supply bureau",
)
_COMPANIES = (
    "顺达快递 / Shunda Express",
    "安家装修 / Anjia Renovation",
    "美的售后 / Midea Service",
)


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: fine for the small hourly rates here."""
    if lam <= 0:
        return 0
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"粤{rng.choice(letters)}{rng.randrange(10000, 99999)}"

"""The MQTT wire contract, defined once and imported by both edge and central.

Topics, the event envelope, every event payload, health, commands and site
config live here (DESIGN.md §3). Nothing in this module does I/O or imports
paho; it only names and validates what travels.

Layout::

    gatepost/v1/{site}/{device}/event/{type}   QoS 1, envelope + typed data
    gatepost/v1/{site}/{device}/status         retained "online" / "offline" (Last Will)
    gatepost/v1/{site}/{device}/health         retained Health JSON
    gatepost/v1/{site}/{device}/cmd/{name}     QoS 1, never retained, Command JSON
    gatepost/v1/{site}/{device}/cmd_result     QoS 1, CommandResult JSON
    gatepost/v1/{site}/{device}/ack            QoS 1, never retained, CentralAck JSON
    gatepost/v1/{site}/config/{kind}           retained SiteConfig JSON

Central's acknowledgement (``…/ack``) is what ends an event's life at the
edge: the broker's PUBACK only says the broker holds it, and a broker keeps
messages in memory between its autosaves. After each database commit central
publishes, per device it touched, the highest *contiguous* seq it has stored
(events, and quarantined messages whose seq it could read). A device deletes
outbox rows up to that seq and re-sends the rest when the ack is late.

The ack is **not retained**. A retained ack would outlive the database state
it describes: after central's database is restored from a backup (or
replaced), the broker would keep handing every reconnecting device the
pre-restore figure, and a device would delete rows the restored database does
not have. A non-retained ack is only ever the figure of a commit that just
happened. Nothing is lost by not retaining it: a device re-sends its
unacknowledged rows after every reconnect, and the replay brings a fresh ack
(central re-acknowledges duplicates). A device takes the highest ack it has
seen, so an older or lower one (several ingest workers, a restored database)
changes nothing, and it ignores an ack above the last seq it ever handed out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edge.errors import PayloadError

WIRE_VERSION: Final = 1
TOPIC_ROOT = "gatepost/v1"
MAX_PAYLOAD_BYTES = 64 * 1024
"""Anything larger on an event topic is quarantined unread."""

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
"""Site and device ids: lowercase, topic-safe (no ``/``, ``+``, ``#``)."""


# --------------------------------------------------------------------------- topics


class ConfigKind(StrEnum):
    TARIFF = "tariff"
    WHITELIST = "whitelist"
    CAPACITY = "capacity"
    OCCUPANCY = "occupancy"
    VISITOR_BLOCKLIST = "visitor_blocklist"


class CommandName(StrEnum):
    RAISE = "raise"
    SET_CAPACITY = "set_capacity"
    RELOAD_TARIFF = "reload_tariff"
    RELOAD_WHITELIST = "reload_whitelist"
    CORRECT_OCCUPANCY = "correct_occupancy"


def check_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise PayloadError(f"invalid {what} {value!r}: use 1-48 of a-z 0-9 _ -")
    return value


def device_prefix(site: str, device: str) -> str:
    return f"{TOPIC_ROOT}/{check_id(site, 'site')}/{check_id(device, 'device')}"


def event_topic(site: str, device: str, event_type: str) -> str:
    return f"{device_prefix(site, device)}/event/{event_type}"


def status_topic(site: str, device: str) -> str:
    return f"{device_prefix(site, device)}/status"


def health_topic(site: str, device: str) -> str:
    return f"{device_prefix(site, device)}/health"


def cmd_topic(site: str, device: str, name: str) -> str:
    return f"{device_prefix(site, device)}/cmd/{name}"


def cmd_result_topic(site: str, device: str) -> str:
    return f"{device_prefix(site, device)}/cmd_result"


def ack_topic(site: str, device: str) -> str:
    """Central → one device: :class:`CentralAck`, QoS 1, never retained."""
    return f"{device_prefix(site, device)}/ack"


def config_topic(site: str, kind: str) -> str:
    return f"{TOPIC_ROOT}/{check_id(site, 'site')}/config/{kind}"


def host_notify_topic(site: str) -> str:
    """Central → the site's host-notification consumers (intercom, app bridge): a visitor arrived."""
    return f"{TOPIC_ROOT}/{check_id(site, 'site')}/notify/visitor"


# Subscription filters used by central (and by the broker ACL in deploy/).
ALL_EVENTS = f"{TOPIC_ROOT}/+/+/event/+"
ALL_STATUS = f"{TOPIC_ROOT}/+/+/status"
ALL_HEALTH = f"{TOPIC_ROOT}/+/+/health"
ALL_CMD_RESULTS = f"{TOPIC_ROOT}/+/+/cmd_result"
ALL_ACKS = f"{TOPIC_ROOT}/+/+/ack"
"""Every device's ack topic: central writes here (broker ACL); a device reads only its own."""
ACK_QOS: Final = 1
ACK_RETAINED: Final = False


def device_cmd_filter(site: str, device: str) -> str:
    return f"{device_prefix(site, device)}/cmd/+"


def site_config_filter(site: str) -> str:
    return f"{TOPIC_ROOT}/{check_id(site, 'site')}/config/+"


@dataclass(slots=True, frozen=True)
class TopicParts:
    """A parsed Gatepost topic. ``kind`` is event/status/health/cmd/cmd_result/ack/config."""

    site: str
    device: str | None
    kind: str
    name: str | None = None


def parse_topic(topic: str) -> TopicParts:
    """Split a topic into its parts; raise :class:`PayloadError` if it is not ours."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise PayloadError(f"not a {TOPIC_ROOT} topic: {topic!r}")
    site = check_id(parts[2], "site")
    if parts[3] == "config" and len(parts) == 5:
        return TopicParts(site, None, "config", parts[4])
    device = check_id(parts[3], "device")
    rest = parts[4:]
    if rest in (["status"], ["health"], ["cmd_result"], ["ack"]):
        return TopicParts(site, device, rest[0])
    if len(rest) == 2 and rest[0] in ("event", "cmd"):
        return TopicParts(site, device, rest[0], rest[1])
    raise PayloadError(f"unknown topic shape: {topic!r}")


# --------------------------------------------------------------------------- time and ids


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_ts(moment: datetime) -> str:
    """UTC RFC 3339 with milliseconds and a ``Z``: the only time format on the wire."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime on the wire")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError("timestamp must be UTC RFC 3339 ending in Z")
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC)


def uuid7(now_ms: int | None = None) -> str:
    """A time-ordered UUID (RFC 9562 version 7); Python 3.11 has no ``uuid.uuid7``."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (rand >> 64 & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return str(UUID(int=value))


# --------------------------------------------------------------------------- events


class EventType(StrEnum):
    VEHICLE_ARRIVED = "vehicle_arrived"
    ENTRY_REFUSED_FULL = "entry_refused_full"
    TICKET_ISSUED = "ticket_issued"
    BADGE_ACCEPTED = "badge_accepted"
    BADGE_REJECTED = "badge_rejected"
    TICKET_REJECTED = "ticket_rejected"
    FEE_QUOTED = "fee_quoted"
    PAYMENT_CONFIRMED = "payment_confirmed"
    LOST_TICKET = "lost_ticket"
    FREE_EXIT = "free_exit"
    BARRIER_OPENED = "barrier_opened"
    BARRIER_CLOSED = "barrier_closed"
    BARRIER_FAULT = "barrier_fault"
    MANUAL_RAISE = "manual_raise"
    MANUAL_CLOSE = "manual_close"
    VEHICLE_ENTERED = "vehicle_entered"
    VEHICLE_EXITED = "vehicle_exited"
    OCCUPANCY_CORRECTED = "occupancy_corrected"
    INCIDENT_REPORTED = "incident_reported"
    READER_FAULT = "reader_fault"
    OUTBOX_BACKLOG = "outbox_backlog"
    GUARD_SIGNED_ON = "guard_signed_on"
    GUARD_SIGNED_OFF = "guard_signed_off"
    SHIFT_CLOSED = "shift_closed"
    VISITOR_CHECKED_IN = "visitor_checked_in"
    VISITOR_CHECKED_OUT = "visitor_checked_out"
    VISITOR_BLOCKED = "visitor_blocked"
    LOCAL_ACCESS_REFUSED = "local_access_refused"


class RejectReason(StrEnum):
    """Why a ticket was refused; shown to the guard and carried in the event."""

    MALFORMED = "malformed"
    HALF_WRITTEN = "half_written"
    FORGED = "forged"
    WRONG_SITE = "wrong_site"
    UNKNOWN_KEY = "unknown_key"
    ALREADY_USED = "already_used"
    FROM_FUTURE = "from_future"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


Money = int
"""Integer minor units (fen, cents). No float ever touches a fee."""

ShortText = Field(default="", max_length=500)
Reason = Field(min_length=1, max_length=500)


class EventData(BaseModel):
    """Base of every event payload: strict, so a typo or a stray field is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(max_length=200)
    minutes: int = Field(ge=0)
    amount_minor: Money


class VehicleArrived(EventData):
    lane_role: Literal["entry", "exit"]
    plate: str | None = Field(default=None, max_length=16)


class EntryRefusedFull(EventData):
    occupied: int = Field(ge=0)
    capacity: int = Field(ge=0)
    override: bool = False
    reason: str | None = Field(default=None, max_length=500)
    """Set when ``override`` is: why the guard let a visitor into a full lot."""
    by: str | None = Field(default=None, max_length=64)


class TicketIssued(EventData):
    serial: str = Field(max_length=32)
    entry_at: str
    vehicle_class: str = Field(max_length=32)
    medium: Literal["card", "paper"]
    key_id: int = Field(ge=0, le=255)
    snapshot: str | None = Field(default=None, max_length=200)


class BadgeAccepted(EventData):
    badge: str = Field(max_length=32)
    holder_class: str = Field(max_length=32)
    direction: Direction
    snapshot: str | None = Field(default=None, max_length=200)


class BadgeRejected(EventData):
    badge: str = Field(max_length=32)
    reason: str = Field(max_length=200)
    direction: Direction


class TicketRejected(EventData):
    reason: RejectReason
    serial: str | None = Field(default=None, max_length=32)
    detail: str = ShortText


class FeeQuoted(EventData):
    serial: str = Field(max_length=32)
    minutes: int = Field(ge=0)
    fee_minor: Money = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    vehicle_class: str = Field(max_length=32)
    lines: list[LineItem] = Field(default_factory=list, max_length=400)
    snapshot: str | None = Field(default=None, max_length=200)
    """Camera snapshot file of the vehicle at the exit when the fee was shown (lane.snapshot_dir)."""


class PaymentConfirmed(EventData):
    serial: str = Field(max_length=32)
    fee_minor: Money = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    method: Literal["cash", "epay", "none"]
    reference: str = Field(default="", max_length=64)
    minutes: int = Field(default=0, ge=0)
    vehicle_class: str = Field(default="car", max_length=32)
    guard: str | None = Field(default=None, max_length=64)


class LostTicket(EventData):
    serial: str = Field(max_length=32)
    plate: str = Field(max_length=16)
    fee_minor: Money = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)


class FreeExit(EventData):
    serial: str = Field(max_length=32)
    reason: str = Reason
    authorised_by: str = Field(max_length=64)


class BarrierMoved(EventData):
    cause: str = Field(max_length=32)
    serial: str | None = Field(default=None, max_length=32)


class BarrierFault(EventData):
    expected: Literal["open", "closed"]
    detail: str = ShortText


class ManualAction(EventData):
    reason: str = Reason
    by: str = Field(max_length=64)
    request_id: str | None = Field(default=None, max_length=64)


class VehiclePassed(EventData):
    serial: str | None = Field(default=None, max_length=32)
    badge: str | None = Field(default=None, max_length=32)
    vehicle_class: str = Field(default="car", max_length=32)
    minutes: int | None = Field(default=None, ge=0)
    fee_minor: Money | None = Field(default=None, ge=0)
    snapshot: str | None = Field(default=None, max_length=200)


class OccupancyCorrected(EventData):
    occupied: int = Field(ge=0)
    reason: str = Reason
    by: str = Field(max_length=64)


class IncidentReported(EventData):
    kind: Literal["forced_entry", "dispute", "damage", "other"]
    description: str = Field(min_length=1, max_length=2000)
    guard: str | None = Field(default=None, max_length=64)
    plate: str | None = Field(default=None, max_length=16)


class ReaderFault(EventData):
    reader: str = Field(max_length=32)
    detail: str = ShortText


class OutboxBacklog(EventData):
    depth: int = Field(ge=0)
    bound: int = Field(ge=0)


class GuardShift(EventData):
    guard: str = Field(max_length=64)
    post: str = Field(max_length=64)
    shift_id: str = Field(max_length=64)


class ShiftClosed(EventData):
    shift_id: str = Field(max_length=64)
    guard: str = Field(max_length=64)
    incoming_guard: str | None = Field(default=None, max_length=64)
    post: str = Field(max_length=64)
    opened_at: str
    closed_at: str
    counts: dict[str, int] = Field(default_factory=dict)
    fees_by_method: dict[str, Money] = Field(default_factory=dict)
    expected_cash_minor: Money
    declared_cash_minor: Money = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)


class VisitorCheckedIn(EventData):
    visit_id: str = Field(max_length=64)
    category: Literal["guest", "official", "home_buyer", "contractor"]
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    host: str | None = Field(default=None, max_length=100)
    unit: str | None = Field(default=None, max_length=32)
    purpose: str | None = Field(default=None, max_length=200)
    party_size: int = Field(default=1, ge=1, le=50)
    agency: str | None = Field(default=None, max_length=100)
    pass_number: str | None = Field(default=None, max_length=64)
    company: str | None = Field(default=None, max_length=100)
    work_order: str | None = Field(default=None, max_length=64)
    expires_at: str
    invite_id: str | None = Field(default=None, max_length=64)
    photo: str | None = Field(default=None, max_length=200_000)
    """Base64 JPEG, small; supervisors only on central."""


class VisitorCheckedOut(EventData):
    visit_id: str = Field(max_length=64)
    at_desk: bool = False


class VisitorBlocked(EventData):
    name: str = Field(max_length=100)
    phone: str | None = Field(default=None, max_length=32)


class LocalAccessRefused(EventData):
    """Refused requests at a device's local page (booth console, lane API, kiosk) that repeat:
    ``count`` within ``window_s``, by reason (host, origin, csrf, no_session, expired, pin, token,
    scope). One report per window at most; central raises an alarm for it."""

    page: Literal["console", "lane_api", "kiosk"]
    count: int = Field(ge=1)
    window_s: int = Field(ge=1)
    reasons: dict[str, int] = Field(default_factory=dict, max_length=16)
    last_path: str = Field(default="", max_length=120)
    last_peer: str = Field(default="", max_length=64)


EVENT_MODELS: dict[EventType, type[EventData]] = {
    EventType.VEHICLE_ARRIVED: VehicleArrived,
    EventType.ENTRY_REFUSED_FULL: EntryRefusedFull,
    EventType.TICKET_ISSUED: TicketIssued,
    EventType.BADGE_ACCEPTED: BadgeAccepted,
    EventType.BADGE_REJECTED: BadgeRejected,
    EventType.TICKET_REJECTED: TicketRejected,
    EventType.FEE_QUOTED: FeeQuoted,
    EventType.PAYMENT_CONFIRMED: PaymentConfirmed,
    EventType.LOST_TICKET: LostTicket,
    EventType.FREE_EXIT: FreeExit,
    EventType.BARRIER_OPENED: BarrierMoved,
    EventType.BARRIER_CLOSED: BarrierMoved,
    EventType.BARRIER_FAULT: BarrierFault,
    EventType.MANUAL_RAISE: ManualAction,
    EventType.MANUAL_CLOSE: ManualAction,
    EventType.VEHICLE_ENTERED: VehiclePassed,
    EventType.VEHICLE_EXITED: VehiclePassed,
    EventType.OCCUPANCY_CORRECTED: OccupancyCorrected,
    EventType.INCIDENT_REPORTED: IncidentReported,
    EventType.READER_FAULT: ReaderFault,
    EventType.OUTBOX_BACKLOG: OutboxBacklog,
    EventType.GUARD_SIGNED_ON: GuardShift,
    EventType.GUARD_SIGNED_OFF: GuardShift,
    EventType.SHIFT_CLOSED: ShiftClosed,
    EventType.VISITOR_CHECKED_IN: VisitorCheckedIn,
    EventType.VISITOR_CHECKED_OUT: VisitorCheckedOut,
    EventType.VISITOR_BLOCKED: VisitorBlocked,
    EventType.LOCAL_ACCESS_REFUSED: LocalAccessRefused,
}

CRITICAL_EVENTS = frozenset(
    {
        EventType.TICKET_ISSUED,
        EventType.BADGE_ACCEPTED,
        EventType.FEE_QUOTED,
        EventType.PAYMENT_CONFIRMED,
        EventType.LOST_TICKET,
        EventType.FREE_EXIT,
        EventType.MANUAL_RAISE,
        EventType.MANUAL_CLOSE,
        EventType.BARRIER_OPENED,
        EventType.VEHICLE_ENTERED,
        EventType.VEHICLE_EXITED,
        EventType.TICKET_REJECTED,
        EventType.SHIFT_CLOSED,
        EventType.VISITOR_CHECKED_IN,
        EventType.VISITOR_CHECKED_OUT,
        EventType.INCIDENT_REPORTED,
        EventType.OCCUPANCY_CORRECTED,
    }
)
"""Financial and access events: never dropped by the outbox, whatever its bound."""


class Envelope(BaseModel):
    """The JSON envelope of every event (DESIGN.md §3).

    Strict types: a device that sends ``"seq": "1"`` or ``"v": true`` has a bug
    that would break gap detection and idempotency, so it is quarantined with
    the reason instead of being coerced. Only ``type`` is read from its string.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    v: Literal[1]
    id: str = Field(min_length=8, max_length=64)
    seq: int = Field(ge=1, lt=2**63)
    ts: str
    site: str
    device: str
    type: EventType = Field(strict=False)
    data: dict[str, Any]

    @field_validator("v", mode="before")
    @classmethod
    def _v_not_bool(cls, value: Any) -> Any:
        # Literal[1] would take True (True == 1 in Python); JSON true is not a version.
        if isinstance(value, bool):
            raise ValueError("v must be the integer 1, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
        return value

    @field_validator("site", "device")
    @classmethod
    def _ids(cls, value: str) -> str:
        if not ID_RE.match(value):
            raise ValueError("invalid id")
        return value

    @field_validator("ts")
    @classmethod
    def _ts(cls, value: str) -> str:
        parse_ts(value)
        return value

    @property
    def timestamp(self) -> datetime:
        return parse_ts(self.ts)

    def payload(self) -> EventData:
        """The typed payload; raises :class:`PayloadError` if it does not fit its type."""
        try:
            return EVENT_MODELS[self.type].model_validate(self.data)
        except ValidationError as exc:
            raise PayloadError(f"{self.type} data invalid: {_first_error(exc)}") from exc

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def make_event(
    site: str,
    device: str,
    seq: int,
    data: EventData,
    event_type: EventType,
    *,
    at: datetime | None = None,
    event_id: str | None = None,
) -> Envelope:
    """Build a validated envelope for ``data``; ``event_type`` must match the model."""
    if not isinstance(data, EVENT_MODELS[event_type]):
        raise PayloadError(f"{type(data).__name__} is not the payload of {event_type}")
    return Envelope(
        v=WIRE_VERSION,
        id=event_id or uuid7(),
        seq=seq,
        ts=format_ts(at or utc_now()),
        site=site,
        device=device,
        type=event_type,
        data=data.model_dump(mode="json"),
    )


def parse_event(topic: str, payload: bytes) -> tuple[Envelope, EventData]:
    """Validate an event message as central receives it.

    Raises :class:`PayloadError` with a human reason for anything that breaks
    the contract: too large, not JSON, wrong types, unknown type, or a topic
    that disagrees with the envelope on site, device or type.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload too large: {len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    parts = parse_topic(topic)
    if parts.kind != "event":
        raise PayloadError(f"not an event topic: {topic!r}")
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise PayloadError("envelope is not a JSON object")
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise PayloadError(f"envelope invalid: {_first_error(exc)}") from exc
    if (envelope.site, envelope.device) != (parts.site, parts.device):
        raise PayloadError(
            f"topic says {parts.site}/{parts.device}, envelope says {envelope.site}/{envelope.device}"
        )
    if envelope.type != parts.name:
        raise PayloadError(f"topic type {parts.name!r} != envelope type {envelope.type!r}")
    return envelope, envelope.payload()


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(root)"
    return f"{loc}: {err['msg']}"


# --------------------------------------------------------------------------- status and health

ONLINE = b"online"
OFFLINE = b"offline"


class Health(BaseModel):
    """Retained ``…/health`` document, published every 30 s."""

    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    ts: str
    role: Literal["entry", "exit", "kiosk", "booth"]
    version: str
    uptime_s: int = Field(ge=0)
    outbox_depth: int = Field(ge=0)
    """Events central has not acknowledged yet (unsent, in flight, or sent and unacknowledged)."""
    outbox_unacked: int = Field(default=0, ge=0)
    """Of those, the ones the broker took (PUBACK) that central has not acknowledged yet."""
    outbox_acked_through: int | None = Field(default=None, ge=0)
    """Every seq up to this one was acknowledged by central once and is no longer held by the
    device. After central's database is restored from a backup, its gaps at or below this
    figure can never be filled (the events are gone from the lane): central's ack passes them,
    so the lane's newer events are still acknowledged, while the gaps stay open as alarms."""
    oldest_unsent_s: int = Field(ge=0)
    barrier: str | None = None
    readers: dict[str, str] = Field(default_factory=dict)
    clock_skew_ms: int | None = None
    clock_synced: bool = False
    occupied: int | None = None
    capacity: int | None = None
    out_of_service: bool = False
    guard_on_duty: str | None = None
    storage: str = Field(default="ok", max_length=500)
    """"ok", or why the device cannot write its records (disk full, read-only…): central alarms on it."""
    storage_since: str | None = None
    storage_held: int = Field(default=0, ge=0)
    """Events held in memory until storage recovers."""
    storage_lost: int = Field(default=0, ge=0)
    """Events that could not even be held (the hold was full); each is in the device's log."""


# --------------------------------------------------------------------------- central's ack


class CentralAck(BaseModel):
    """central → device on :func:`ack_topic`: "I have committed every seq up to ``seq``".

    ``seq`` is the highest seq such that every seq from 1 to it is in central's
    database (stored, or quarantined with its seq readable); 0 when central
    holds nothing of the device. It is not the highest seq seen: a gap below
    it would let the device delete an event central never got.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    v: Literal[1] = 1
    seq: int = Field(ge=0, lt=2**63)
    ts: str

    @field_validator("v", mode="before")
    @classmethod
    def _v_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("v must be the integer 1, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
        return value

    @field_validator("seq", mode="before")
    @classmethod
    def _seq_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("seq must be an integer, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
        return value

    @field_validator("ts")
    @classmethod
    def _ts(cls, value: str) -> str:
        parse_ts(value)
        return value

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def make_ack(seq: int, at: datetime | None = None) -> CentralAck:
    return CentralAck(seq=seq, ts=format_ts(at or utc_now()))


def parse_ack(topic: str, payload: bytes) -> tuple[TopicParts, CentralAck]:
    """Validate an ack as a device receives it; raise :class:`PayloadError` otherwise.

    The caller checks that the topic's site and device are its own.
    """
    parts = parse_topic(topic)
    if parts.kind != "ack":
        raise PayloadError(f"not an ack topic: {topic!r}")
    if len(payload) > 1024:
        raise PayloadError(f"ack too large: {len(payload)} bytes")
    try:
        ack = CentralAck.model_validate_json(payload)
    except ValidationError as exc:
        raise PayloadError(f"ack invalid: {_first_error(exc)}") from exc
    return parts, ack


# --------------------------------------------------------------------------- commands


class Command(BaseModel):
    """central → device. Never retained; acted on once, before ``expires_at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    id: str = Field(min_length=8, max_length=64)
    name: CommandName
    issued_at: str
    expires_at: str
    by: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)

    def expired(self, now: datetime) -> bool:
        return now >= parse_ts(self.expires_at)


class RaiseArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Reason


class CapacityArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: int = Field(ge=0, le=100_000)
    reserved: int = Field(default=0, ge=0, le=100_000)


class OccupancyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    occupied: int = Field(ge=0, le=100_000)
    reason: str = Reason


COMMAND_ARGS: dict[CommandName, type[BaseModel] | None] = {
    CommandName.RAISE: RaiseArgs,
    CommandName.SET_CAPACITY: CapacityArgs,
    CommandName.RELOAD_TARIFF: None,
    CommandName.RELOAD_WHITELIST: None,
    CommandName.CORRECT_OCCUPANCY: OccupancyArgs,
}


class CommandResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    id: str = Field(max_length=64)
    name: str = Field(max_length=32)
    ok: bool
    status: Literal["done", "refused", "expired", "duplicate", "invalid", "retained"]
    detail: str = Field(default="", max_length=500)
    ts: str


def parse_command(topic: str, payload: bytes, retained: bool) -> Command:
    """Validate a command; raise :class:`PayloadError` for anything not to act on."""
    parts = parse_topic(topic)
    if parts.kind != "cmd":
        raise PayloadError(f"not a command topic: {topic!r}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError("command too large")
    try:
        command = Command.model_validate_json(payload)
    except ValidationError as exc:
        raise PayloadError(f"command invalid: {_first_error(exc)}") from exc
    if command.name != parts.name:
        raise PayloadError(f"topic command {parts.name!r} != payload {command.name!r}")
    args_model = COMMAND_ARGS[command.name]
    if args_model is not None:
        try:
            args_model.model_validate(command.args)
        except ValidationError as exc:
            raise PayloadError(f"{command.name} args invalid: {_first_error(exc)}") from exc
    elif command.args:
        raise PayloadError(f"{command.name} takes no args")
    return command


# --------------------------------------------------------------------------- site config


def config_version(now: datetime, previous: int | None = None) -> int:
    """The ``version`` of a new site-config document: central's time in ms, above ``previous``.

    Versions come from central's clock, not from a database counter: a
    database restored from a backup, or replaced by a new one, would count
    again from an old or zero value, and every lane would ignore central's
    documents as older than the ones it holds. Central's time in
    milliseconds has moved on past anything published before the restore, so
    the next document outranks them and the lanes follow at once (central
    also re-stamps occupancy when it starts). ``previous`` (the version held
    for the same site and kind, if known) keeps two documents of one
    millisecond apart. This asks one thing of central: a clock that does not
    go backwards across a restart (NTP; central is the lanes' time source).
    A version from the old counter scheme (a small number) is below any of
    these, so an upgraded central's first document is taken too.
    """
    return max((previous or 0) + 1, int(now.timestamp() * 1000))


class SiteConfig(BaseModel):
    """Retained ``gatepost/v1/{site}/config/{kind}`` document.

    ``version`` only grows (:func:`config_version`: central's time in ms); a
    device ignores a document older than the one it has.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    kind: ConfigKind
    version: int = Field(ge=0)
    ts: str
    data: dict[str, Any]


class WhitelistEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    badge: str = Field(min_length=1, max_length=32)
    holder_class: str = Field(default="resident", max_length=32)
    name: str = Field(default="", max_length=100)
    plate: str | None = Field(default=None, max_length=16)


class Whitelist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    entries: list[WhitelistEntry] = Field(default_factory=list, max_length=100_000)


class Capacity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    capacity: int = Field(ge=0, le=100_000)
    reserved: int = Field(default=0, ge=0, le=100_000)
    """Spaces kept for residents: visitors are refused when free ≤ reserved."""


class Occupancy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    occupied: int = Field(ge=0)
    capacity: int = Field(ge=0)
    as_of: str


class VisitorBlockEntry(BaseModel):
    """One blocked person, matched exactly (case-insensitively) on name or phone at the kiosk."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, min_length=3, max_length=32)


class VisitorBlocklist(BaseModel):
    """Shipped retained to kiosks, so the block list holds while central is unreachable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    entries: list[VisitorBlockEntry] = Field(default_factory=list, max_length=10_000)


class HostNotice(BaseModel):
    """``host_notify_topic``: a visitor for ``host``/``unit`` has checked in (no phone, no photo)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1
    site: str
    visit_id: str = Field(max_length=64)
    category: str = Field(max_length=16)
    visitor: str = Field(max_length=100)
    host: str | None = Field(default=None, max_length=100)
    unit: str | None = Field(default=None, max_length=32)
    party_size: int = Field(default=1, ge=1)
    at: str


CONFIG_MODELS: dict[ConfigKind, type[BaseModel] | None] = {
    ConfigKind.TARIFF: None,  # validated by edge.tariff's own model
    ConfigKind.WHITELIST: Whitelist,
    ConfigKind.CAPACITY: Capacity,
    ConfigKind.OCCUPANCY: Occupancy,
    ConfigKind.VISITOR_BLOCKLIST: VisitorBlocklist,
}


def parse_site_config(topic: str, payload: bytes) -> SiteConfig:
    parts = parse_topic(topic)
    if parts.kind != "config":
        raise PayloadError(f"not a config topic: {topic!r}")
    try:
        doc = SiteConfig.model_validate_json(payload)
    except ValidationError as exc:
        raise PayloadError(f"site config invalid: {_first_error(exc)}") from exc
    if doc.kind != parts.name:
        raise PayloadError(f"topic kind {parts.name!r} != payload kind {doc.kind!r}")
    model = CONFIG_MODELS[doc.kind]
    if model is not None:
        try:
            model.model_validate(doc.data)
        except ValidationError as exc:
            raise PayloadError(f"{doc.kind} data invalid: {_first_error(exc)}") from exc
    return doc


# --------------------------------------------------------------------------- central time

TIME_TOPIC = f"{TOPIC_ROOT}/time"
"""Central publishes a :class:`TimeBeacon` here every 10 s, QoS 0, never retained.

Devices (no RTC) measure their clock skew from it; a retained beacon would be
stale by construction, so devices ignore retained ones.
"""


def time_topic() -> str:
    return TIME_TOPIC


class TimeBeacon(BaseModel):
    """Central's UTC time at the moment of publishing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    ts: str

    @field_validator("ts")
    @classmethod
    def _ts(cls, value: str) -> str:
        parse_ts(value)
        return value


# --------------------------------------------------------------------------- visitor invites

INVITE_PREFIX = "GPI1."


class InviteError(PayloadError):
    """An invite QR that must not check anyone in; ``reason`` is one of
    malformed / forged / unknown_key / wrong_site / wrong_day."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Invite(BaseModel):
    """A pre-registered visit: what the signed invite QR carries, so a kiosk checks it in offline."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    invite_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    site: str = Field(pattern=ID_RE.pattern)
    day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="the expected day, site-local")
    name: str = Field(min_length=1, max_length=50)
    host: str | None = Field(default=None, max_length=50)
    unit: str | None = Field(default=None, max_length=32)
    category: Literal["guest", "official", "home_buyer", "contractor"] = "guest"
    key_id: int = Field(default=1, ge=0, le=255)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_invite(invite: Invite, key: bytes) -> str:
    """The QR text of ``invite``: printable ASCII, HMAC-SHA256 (truncated to 128 bits) over the body."""
    body = _b64(
        json.dumps(
            invite.model_dump(exclude_none=True), ensure_ascii=False, separators=(",", ":")
        ).encode()
    )
    mac = hmac.new(key, (INVITE_PREFIX + body).encode(), hashlib.sha256).digest()[:16]
    return f"{INVITE_PREFIX}{body}.{_b64(mac)}"


def verify_invite(text: str, keys: dict[int, bytes], *, site: str, today: str) -> Invite:
    """The invite in ``text`` if it is genuine, for ``site`` and for ``today`` (site-local
    ``YYYY-MM-DD``); :class:`InviteError` with the reason otherwise."""
    if not isinstance(text, str) or not text.startswith(INVITE_PREFIX) or len(text) > 1000:
        raise InviteError("malformed", "not a Gatepost invite")
    body, _, mac_text = text[len(INVITE_PREFIX) :].rpartition(".")
    try:
        raw = json.loads(_unb64(body))
        mac = _unb64(mac_text)
        invite = Invite.model_validate(raw)
    except (ValueError, TypeError, ValidationError) as exc:
        raise InviteError("malformed", f"invite unreadable: {str(exc)[:120]}") from exc
    key = keys.get(invite.key_id)
    if key is None:
        raise InviteError("unknown_key", f"invite signed with unknown key {invite.key_id}")
    expected = hmac.new(key, (INVITE_PREFIX + body).encode(), hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise InviteError("forged", "invite signature does not match")
    if invite.site != site:
        raise InviteError("wrong_site", f"invite is for site {invite.site!r}, not {site!r}")
    if invite.day != today:
        raise InviteError("wrong_day", f"invite is valid on {invite.day}, not {today}")
    return invite

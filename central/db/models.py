"""The ingest tables: what central knows about devices, events, tickets and occupancy.

Revision ``0001_ingest`` creates exactly these tables; later revisions
(``0002_ops``, ``0003_visitors``) add their own and may import these models.

Idempotency is by event id (the primary key). ``(site, device, seq)`` is also
unique: a second event id claiming a seq already stored is a device bug and
is quarantined rather than stored beside the first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from central.db.base import Base
from central.db.types import JSONDoc, UTCDateTime

ID_LEN = 48
"""Site and device ids (edge.wire.ID_RE allows 1-48 characters)."""


class Site(Base):
    """A property's car park: its capacity and the spaces kept for residents."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reserved: Mapped[int] = mapped_column(Integer, default=0)


class Device(Base):
    """One Pi: its availability (status + Last Will), its last health report, its seq high-water."""

    __tablename__ = "devices"

    site: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    device: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    role: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    health: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    """Highest seq stored for this device; a jump past ``last_seq + 1`` opens a gap."""


class Event(Base):
    """Every valid event, once. ``ts`` is the device's clock, ``received_at`` central's."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("site", "device", "seq", name="uq_events_device_seq"),
        Index("ix_events_site_ts", "site", "ts"),
        Index("ix_events_type_ts", "type", "ts"),
        Index("ix_events_received_at", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(ID_LEN))
    device: Mapped[str] = mapped_column(String(ID_LEN))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class Quarantined(Base):
    """A message that broke the wire contract, kept with the reason instead of dropped."""

    __tablename__ = "quarantine"
    __table_args__ = (
        Index("ix_quarantine_received_at", "received_at"),
        Index("ix_quarantine_device_seq", "site", "device", "seq"),
    )

    PAYLOAD_KEEP = 4096
    """Bytes of the payload kept; ``size`` records the original length."""

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    site: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    device: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The device's seq when the message was on an event topic and its seq could be read:
    that seq counts as stored, so central's ack (and the gap tracker) can pass it."""

    @property
    def preview(self) -> str:
        """The kept payload as text a supervisor can read (undecodable bytes escaped)."""
        return self.payload.decode("utf-8", errors="backslashreplace")


class SeqGap(Base):
    """Seqs ``from_seq..to_seq`` of a device that central has not received (yet)."""

    __tablename__ = "seq_gaps"
    __table_args__ = (Index("ix_seq_gaps_device_open", "site", "device", "closed_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    site: Mapped[str] = mapped_column(String(ID_LEN))
    device: Mapped[str] = mapped_column(String(ID_LEN))
    from_seq: Mapped[int] = mapped_column(BigInteger)
    to_seq: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Ticket(Base):
    """One parking card or paper ticket from issue to exit, built from the lanes' events."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_site_status", "site", "status"),)

    serial: Mapped[str] = mapped_column(String(32), primary_key=True)
    site: Mapped[str] = mapped_column(String(ID_LEN))
    entry_device: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    entry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    exit_device: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    exit_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fee_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    payment_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    vehicle_class: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16))


class SiteOccupancy(Base):
    """The site's current count, as central derives it and publishes it retained."""

    __tablename__ = "site_occupancy"

    site: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    occupied: Mapped[int] = mapped_column(Integer, default=0)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Device time of the last manual correction: older entries and exits are already in it."""
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    """Grows with every change; the retained document carries it so lanes ignore stale copies."""


class OccupancySample(Base):
    """One point of the 24-hour occupancy chart."""

    __tablename__ = "occupancy_samples"
    __table_args__ = (Index("ix_occupancy_samples_site_at", "site", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    site: Mapped[str] = mapped_column(String(ID_LEN))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    occupied: Mapped[int] = mapped_column(Integer)

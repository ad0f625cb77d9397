"""Visitor tables. Revision ``0003_visitors`` creates exactly these.

Personal fields (name, phone, ID/pass number, purpose, host, photo) are
nullable: the retention purge empties them and keeps the row's shape, so the
daily counts in :class:`VisitorDay` and the visit's times remain.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from central.db.base import Base
from central.db.types import UTCDateTime

ID_LEN = 48


class Visit(Base):
    """One visitor from check-in to check-out."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_site_in", "site", "checked_in_at"),
        Index("ix_visits_site_out", "site", "checked_out_at"),
    )

    visit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(ID_LEN))
    device: Mapped[str] = mapped_column(String(ID_LEN))
    category: Mapped[str] = mapped_column(String(16))
    party_size: Mapped[int] = mapped_column(Integer, default=1)
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    checked_out_at_desk: Mapped[bool] = mapped_column(Boolean, default=False)
    desk_check: Mapped[bool] = mapped_column(Boolean, default=False)
    """Official visitors: the desk still has to see their access pass (请出示出入证件)."""
    invite_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    name_key: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    host: Mapped[str | None] = mapped_column(String(100), nullable=True)
    host_key: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    unit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)
    agency: Mapped[str | None] = mapped_column(String(100), nullable=True)
    pass_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    company: Mapped[str | None] = mapped_column(String(100), nullable=True)
    work_order: Mapped[str | None] = mapped_column(String(64), nullable=True)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class VisitorBlock(Base):
    """One block-list entry (name and/or phone), shipped to kiosks as a retained site config."""

    __tablename__ = "visitor_blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VisitorInvite(Base):
    """A pre-registered visitor: valid on ``day`` only, used by one scan."""

    __tablename__ = "visitor_invites"

    invite_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    day: Mapped[date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    host: Mapped[str | None] = mapped_column(String(100), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    visit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class VisitorDay(Base):
    """Aggregates that outlive the purge: check-ins, people and refusals per site, day, category."""

    __tablename__ = "visitor_days"

    site: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(16), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    people: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)

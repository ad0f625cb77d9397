"""The alarms table (migration 0002_ops)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from central.db.base import Base
from central.db.types import JSONDoc, UTCDateTime


class Alarm(Base):
    """One alarm from first raise to clear.

    ``active_key`` is ``site/device/kind`` while the alarm is active and NULL
    once cleared; its unique constraint is what guarantees one active alarm
    per device and kind, even with two writers racing.
    """

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_state_last", "state", "last_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    active_key: Mapped[str | None] = mapped_column(String(160), unique=True, nullable=True)
    site: Mapped[str] = mapped_column(String(48), nullable=False)
    device: Mapped[str] = mapped_column(String(48), nullable=False, default="")
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    state: Mapped[str] = mapped_column(String(24), nullable=False)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False, default=dict)
    acked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ack_note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cleared_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    clear_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

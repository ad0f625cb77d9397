"""Ingest tables: sites, devices, events, quarantine, seq gaps, tickets, occupancy.

Revision ID: 0001_ingest
Revises:
Create Date: 2026-11-27

Written by hand and frozen: later model changes get their own revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001_ingest"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(48)
TS = sa.DateTime(timezone=True)
JSONDOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SERIAL_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("capacity", sa.Integer, nullable=True),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "devices",
        sa.Column("site", ID, primary_key=True),
        sa.Column("device", ID, primary_key=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("last_seen", TS, nullable=True),
        sa.Column("online", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("health", JSONDOC, nullable=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("device", ID, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("data", JSONDOC, nullable=False),
        sa.UniqueConstraint("site", "device", "seq", name="uq_events_device_seq"),
    )
    op.create_index("ix_events_site_ts", "events", ["site", "ts"])
    op.create_index("ix_events_type_ts", "events", ["type", "ts"])
    op.create_index("ix_events_received_at", "events", ["received_at"])
    op.create_table(
        "quarantine",
        sa.Column("id", SERIAL_ID, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_quarantine_received_at", "quarantine", ["received_at"])
    op.create_table(
        "seq_gaps",
        sa.Column("id", SERIAL_ID, primary_key=True, autoincrement=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("device", ID, nullable=False),
        sa.Column("from_seq", sa.BigInteger, nullable=False),
        sa.Column("to_seq", sa.BigInteger, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
    )
    op.create_index("ix_seq_gaps_device_open", "seq_gaps", ["site", "device", "closed_at"])
    op.create_table(
        "tickets",
        sa.Column("serial", sa.String(32), primary_key=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("entry_device", ID, nullable=True),
        sa.Column("entry_at", TS, nullable=True),
        sa.Column("exit_device", ID, nullable=True),
        sa.Column("exit_at", TS, nullable=True),
        sa.Column("minutes", sa.Integer, nullable=True),
        sa.Column("fee_minor", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("payment_method", sa.String(16), nullable=True),
        sa.Column("vehicle_class", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_tickets_site_status", "tickets", ["site", "status"])
    op.create_table(
        "site_occupancy",
        sa.Column("site", ID, primary_key=True),
        sa.Column("occupied", sa.Integer, nullable=False, server_default="0"),
        sa.Column("capacity", sa.Integer, nullable=True),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("corrected_at", TS, nullable=True),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "occupancy_samples",
        sa.Column("id", SERIAL_ID, primary_key=True, autoincrement=True),
        sa.Column("site", ID, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("occupied", sa.Integer, nullable=False),
    )
    op.create_index("ix_occupancy_samples_site_at", "occupancy_samples", ["site", "at"])


def downgrade() -> None:
    for table in (
        "occupancy_samples",
        "site_occupancy",
        "tickets",
        "seq_gaps",
        "quarantine",
        "events",
        "devices",
        "sites",
    ):
        op.drop_table(table)

"""Quarantine rows remember the device and seq they claimed, so central's ack can pass them.

Revision ID: 0004_quarantine_seq
Revises: 0003_visitors
Create Date: 2026-12-02

Written by hand and frozen: later model changes get their own revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_quarantine_seq"
down_revision = "0003_visitors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("site", sa.String(48), nullable=True))
        batch.add_column(sa.Column("device", sa.String(48), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger, nullable=True))
    op.create_index("ix_quarantine_device_seq", "quarantine", ["site", "device", "seq"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_device_seq", table_name="quarantine")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("seq")
        batch.drop_column("device")
        batch.drop_column("site")

"""Visitor log: visits, block list, invites, daily aggregates.

Revision ID: 0003_visitors
Revises: 0002_ops
Create Date: 2026-11-27

Written by hand and frozen: later model changes get their own revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_visitors"
down_revision = "0002_ops"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column("visit_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(48), nullable=False),
        sa.Column("device", sa.String(48), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("party_size", sa.Integer, nullable=False),
        sa.Column("checked_in_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("checked_out_at", TS, nullable=True),
        sa.Column("checked_out_at_desk", sa.Boolean, nullable=False),
        sa.Column("desk_check", sa.Boolean, nullable=False),
        sa.Column("invite_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("name_key", sa.String(100), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("host", sa.String(100), nullable=True),
        sa.Column("host_key", sa.String(100), nullable=True),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("purpose", sa.String(200), nullable=True),
        sa.Column("agency", sa.String(100), nullable=True),
        sa.Column("pass_number", sa.String(64), nullable=True),
        sa.Column("company", sa.String(100), nullable=True),
        sa.Column("work_order", sa.String(64), nullable=True),
        sa.Column("photo", sa.LargeBinary, nullable=True),
        sa.Column("purged_at", TS, nullable=True),
    )
    op.create_index("ix_visits_site_in", "visits", ["site", "checked_in_at"])
    op.create_index("ix_visits_site_out", "visits", ["site", "checked_out_at"])
    op.create_index("ix_visits_name_key", "visits", ["name_key"])
    op.create_index("ix_visits_host_key", "visits", ["host_key"])
    op.create_table(
        "visitor_blocks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("site", sa.String(48), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_visitor_blocks_site", "visitor_blocks", ["site"])
    op.create_table(
        "visitor_invites",
        sa.Column("invite_id", sa.String(64), primary_key=True),
        sa.Column("site", sa.String(48), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("host", sa.String(100), nullable=True),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("visit_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_visitor_invites_site", "visitor_invites", ["site"])
    op.create_table(
        "visitor_days",
        sa.Column("site", sa.String(48), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("category", sa.String(16), primary_key=True),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("people", sa.Integer, nullable=False),
        sa.Column("blocked", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("visitor_days")
    op.drop_table("visitor_invites")
    op.drop_table("visitor_blocks")
    op.drop_table("visits")

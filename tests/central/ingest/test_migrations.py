"""Migrations build the schema on an empty SQLite and PostgreSQL database, matching the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from central.db import models
from central.db.base import Base
from central.db.session import current_revision, make_engine, upgrade

INGEST_TABLES = {
    t.name
    for t in Base.metadata.sorted_tables
    if t.name
    in {
        models.Site.__tablename__,
        models.Device.__tablename__,
        models.Event.__tablename__,
        models.Quarantined.__tablename__,
        models.SeqGap.__tablename__,
        models.Ticket.__tablename__,
        models.SiteOccupancy.__tablename__,
        models.OccupancySample.__tablename__,
    }
}


def test_upgrade_empty_database_matches_models(db_url):
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)  # the ingest tables as every revision left them (0004 adds quarantine seqs)
        head = current_revision(engine)
        assert head not in (None, "")
        assert set(inspect(engine).get_table_names()) >= INGEST_TABLES
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [
                d for d in compare_metadata(ctx, Base.metadata) if _table_of(d) in INGEST_TABLES
            ]
        assert diff == []
        upgrade(engine)  # running again is harmless
        assert current_revision(engine) == head
    finally:
        engine.dispose()


def test_upgrade_to_head_includes_later_revisions(db_url):
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        assert current_revision(engine) not in (None, "")
        assert set(inspect(engine).get_table_names()) >= INGEST_TABLES
    finally:
        engine.dispose()


def _table_of(diff) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None:
            return table.name
        if isinstance(part, str) and part in INGEST_TABLES:
            return part
        if name in INGEST_TABLES:
            return name
    return None

"""Alembic environment for central.

The engine comes from :func:`central.db.session.upgrade` (``config.attributes``)
or, when Alembic is run by hand, from ``GATEPOST_DB_URL``. Logging is left to
Gatepost's own setup (no ``fileConfig``), so migration lines are JSON too.
"""

from __future__ import annotations

import importlib

from alembic import context

from central.db.base import Base

MODEL_MODULES = (
    "central.db.models",
    "central.auth.models",
    "central.audit",
    "central.alarms.models",
    "central.commands",
    "central.visitors.models",
)
"""Modules whose tables Alembic compares against (autogenerate); later parts add theirs here."""

for _name in MODEL_MODULES:
    importlib.import_module(_name)

config = context.config
target_metadata = Base.metadata


def _engine():
    engine = config.attributes.get("engine")
    if engine is None:
        from central.db.session import make_engine
        from central.settings import Settings

        engine = make_engine(Settings().db_url)
    return engine


def run_offline() -> None:
    context.configure(url=str(_engine().url), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()

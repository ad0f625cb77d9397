"""Engines and sessions for central: SQLite (WAL) by default, PostgreSQL at scale.

SQLite is tuned for one writer process with several readers: WAL, a busy
timeout, and ``BEGIN IMMEDIATE`` so a transaction takes the write lock up
front instead of failing half-way when two ingest workers collide.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from edge.errors import ConfigError

log = logging.getLogger(__name__)

SQLITE_BUSY_MS = 10_000


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder if it is missing.

    Raises :class:`ConfigError` for a URL SQLAlchemy cannot use, so a typo in
    ``GATEPOST_DB_URL`` is reported as such rather than as a traceback.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"database URL {url!r} is not valid: {exc}", "GATEPOST_DB_URL") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, **kwargs)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    raise ConfigError(
        f"unsupported database {backend!r}: use sqlite:/// or postgresql://", "GATEPOST_DB_URL"
    )


def _sqlite_engine(url: str, database: str | None, **kwargs: Any) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL, not WAL's usual NORMAL: ingest acknowledges a message to the broker once its
        # commit returns, and after that nobody will resend it. NORMAL survives a killed process
        # but can roll back the last commits on power loss; FULL makes the acked batch durable.
        # Ingest commits a batch at a time, so this is one fsync per batch, not per event.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory; objects stay readable after commit (they are handed to listeners)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine | None = None, url: str | None = None) -> Any:
    """The Alembic config packaged beside the migrations, bound to ``engine`` or ``url``."""
    from alembic.config import Config

    cfg = Config(str(Path(__file__).with_name("alembic.ini")))
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    if engine is not None:
        cfg.attributes["engine"] = engine
    elif url is not None:
        cfg.attributes["engine"] = make_engine(url)
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (idempotent: a current database is left alone)."""
    from alembic import command

    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    log.info(
        "migrating database",
        extra={"db": engine.url.render_as_string(hide_password=True), "to": revision},
    )
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()

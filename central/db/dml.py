"""Portable ``INSERT … ON CONFLICT`` for SQLite and PostgreSQL, at Core speed.

Idempotent ingest rests on it: a replayed event hits the primary key and is
skipped by the database, in the same statement, without a race between two
workers. Statements run on the session's connection (Core, executemany), not
through the ORM unit of work, which costs several times more per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, Table, TextClause, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _table(model: Any) -> Table:
    return model if isinstance(model, Table) else model.__table__


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(_table(model))
    if dialect == "sqlite":
        return sqlite.insert(_table(model))
    raise ValueError(f"no INSERT … ON CONFLICT for dialect {dialect!r}")


def insert_ignore(session: Session, model: Any) -> Insert:
    """An INSERT for ``model`` that skips rows clashing with any unique constraint."""
    return _insert(session, model).on_conflict_do_nothing()


def insert_ignore_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` that are not there yet (executemany)."""
    if rows:
        session.connection().execute(insert_ignore(session, model), list(rows))


def upsert_rows(
    session: Session, model: Any, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> None:
    """Insert ``rows``, or overwrite every other column where ``key`` already exists."""
    if not rows:
        return
    columns = [c for c in rows[0] if c not in key]
    if session.get_bind().dialect.name == "postgresql":
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
        conflict = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        session.connection().execute(*unnest_insert(_table(model), rows, conflict))
        return
    stmt = _insert(session, model)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_={c: stmt.excluded[c] for c in columns}
    )
    session.connection().execute(stmt, list(rows))


def unnest_insert(
    table: Table, rows: Sequence[dict[str, Any]], tail: str
) -> tuple[TextClause, dict[str, list[Any]]]:
    """A PostgreSQL ``INSERT … SELECT FROM unnest(arrays) <tail>`` and its parameters.

    One array per column: the whole batch is one statement and one round trip,
    and the driver parses a short statement instead of a VALUES list with
    thousands of parameters (which costs psycopg more than the insert itself).
    """
    names = list(rows[0])
    dialect = postgresql.dialect()
    types = {n: table.c[n].type.compile(dialect=dialect) for n in names}
    arrays = ", ".join(f"CAST(:{n} AS {types[n]}[])" for n in names)
    columns = ", ".join(names)
    sql = (
        f"INSERT INTO {table.name} ({columns}) "
        f"SELECT {columns} FROM unnest({arrays}) AS t({columns}) {tail}"
    )
    params: dict[str, list[Any]] = {n: [row[n] for row in rows] for n in names}
    return text(sql), params

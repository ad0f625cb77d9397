"""The booth console's own durable state (SQLite): the shift ledger, who is on duty, done actions.

Why a ledger of its own and not the outbox: the outbox deletes an event once
the broker has it, but a shift report must add up every event of the shift,
connected or not, after a restart too. The ledger keeps a copy of what the
post recorded (the console sees each event as it enters the outbox) and is
pruned after ``keep_days``.

``actions`` remembers each console request id with its answer, so a double
tap or a retried request is answered again instead of being done twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edge.errors import GatepostError
from edge.wire import format_ts, parse_ts

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY, at TEXT NOT NULL, lane TEXT NOT NULL,
                                   type TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_at ON ledger(at);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actions (id TEXT PRIMARY KEY, at TEXT NOT NULL, answer TEXT NOT NULL);
"""


class ConsoleStoreError(GatepostError, OSError):
    """The console's state file cannot be read or written."""


class ConsoleStore:
    """Thread-safe SQLite file holding the ledger, the duty state and answered actions."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise ConsoleStoreError(f"console state {self.path}: {exc}") from exc

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise ConsoleStoreError(f"console state {self.path}: {exc}") from exc

    # ----------------------------------------------------------------- ledger

    def record(self, lane: str, event_type: str, data: Mapping[str, Any], at: datetime) -> None:
        self._run(
            "INSERT INTO ledger(at, lane, type, data) VALUES (?, ?, ?, ?)",
            (format_ts(at), lane, str(event_type), json.dumps(dict(data), ensure_ascii=False)),
        )

    def events_since(
        self, since: datetime, until: datetime | None = None
    ) -> list[tuple[str, str, dict[str, Any], datetime]]:
        """``(lane, type, data, at)`` in the order recorded, from ``since`` (inclusive)."""
        rows = self._run(
            "SELECT lane, type, data, at FROM ledger WHERE at >= ? ORDER BY id", (format_ts(since),)
        )
        out = [(lane, etype, json.loads(data), parse_ts(at)) for lane, etype, data, at in rows]
        return [row for row in out if until is None or row[3] <= until]

    def last_event(self, lane: str, event_type: str, **match: Any) -> dict[str, Any] | None:
        rows = self._run(
            "SELECT data FROM ledger WHERE lane = ? AND type = ? ORDER BY id DESC LIMIT 200",
            (lane, str(event_type)),
        )
        for (text,) in rows:
            data = json.loads(text)
            if all(data.get(k) == v for k, v in match.items()):
                return data
        return None

    def prune(self, now: datetime, keep_days: int = 62) -> int:
        cutoff = format_ts(now - timedelta(days=keep_days))
        with self._lock:
            cur = self._db.execute("DELETE FROM ledger WHERE at < ?", (cutoff,))
            self._db.execute("DELETE FROM actions WHERE at < ?", (cutoff,))
            return cur.rowcount

    # ----------------------------------------------------------------- duty state

    def get(self, key: str) -> dict[str, Any] | None:
        rows = self._run("SELECT value FROM state WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def put(self, key: str, value: Mapping[str, Any] | None) -> None:
        if value is None:
            self._run("DELETE FROM state WHERE key = ?", (key,))
        else:
            self._run(
                "INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)",
                (key, json.dumps(dict(value), ensure_ascii=False)),
            )

    # ----------------------------------------------------------------- answered actions

    def answer_of(self, action_id: str) -> dict[str, Any] | None:
        rows = self._run("SELECT answer FROM actions WHERE id = ?", (action_id,))
        return json.loads(rows[0][0]) if rows else None

    def remember(self, action_id: str, answer: Mapping[str, Any], at: datetime) -> None:
        self._run(
            "INSERT OR IGNORE INTO actions(id, at, answer) VALUES (?, ?, ?)",
            (action_id, format_ts(at), json.dumps(dict(answer), ensure_ascii=False)),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""The lane's own durable state: used ticket serials and the barrier/lane state.

An exit lane must refuse a ticket it has already let out, even with central
gone and after a reboot, so used serials live in a local SQLite file next to
the outbox. The same file keeps the little the lane needs to come back up
safely: the last commanded barrier position, the occupancy count and the
latest wall-clock time seen (a Pi without an RTC can boot with a clock that is
earlier than before the power cut; comparing against this value detects it).

Writes are synchronous (``synchronous=FULL``): when :meth:`UsedTickets.mark`
returns the serial is on disk.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

from edge.errors import GatepostError

log = logging.getLogger("gatepost.lane.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS used_ticket (
    serial   TEXT PRIMARY KEY,
    used_at  TEXT NOT NULL,
    fee_minor INTEGER NOT NULL,
    method   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lane_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class StoreError(GatepostError, OSError):
    """The lane's local state file cannot be opened or written."""


class UsedTickets:
    """Used serials plus small key/value lane state, in one SQLite file.

    Thread-safe (one connection, one lock): the card reader thread, the camera
    thread and the booth API may all ask at once.
    """

    def __init__(self, path: str | Path, retention_days: int = 400) -> None:
        self.path = Path(path)
        self.retention = timedelta(days=retention_days)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open lane state {self.path}: {exc}") from exc

    # ----------------------------------------------------------------- used serials

    def is_used(self, serial: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM used_ticket WHERE serial = ?", (serial,)).fetchone()
        return row is not None

    def mark(self, serial: str, at: datetime, fee_minor: int, method: str) -> bool:
        """Record ``serial`` as used; False if it already was (the first use stands)."""
        try:
            with self._lock:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO used_ticket (serial, used_at, fee_minor, method) VALUES (?,?,?,?)",
                    (serial, at.isoformat(), int(fee_minor), method),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record used ticket {serial}: {exc}") from exc
        if cur.rowcount == 0:
            log.warning("ticket already marked used", extra={"serial": serial})
            return False
        return True

    def purge(self, now: datetime) -> int:
        """Forget serials older than the retention (a ticket that old is refused by date anyway)."""
        cutoff = (now - self.retention).isoformat()
        with self._lock:
            cur = self._db.execute("DELETE FROM used_ticket WHERE used_at < ?", (cutoff,))
        return cur.rowcount

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM used_ticket").fetchone()[0])

    # ----------------------------------------------------------------- lane state

    def put(self, key: str, value: str) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO lane_state (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save lane state {key}: {exc}") from exc

    def get(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM lane_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def close(self) -> None:
        with self._lock:
            self._db.close()

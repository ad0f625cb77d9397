"""The lane's own durable state: used ticket serials and the barrier/lane state.

An exit lane must refuse a ticket it has already let out, even with central
gone and after a reboot. The used mark has to be exactly as durable as the
event that let the ticket out: a lane killed after ``payment_confirmed`` was
stored but before the mark was would quote and charge the same card again.
Two SQLite files in WAL mode cannot share a transaction, so on a real lane
(``UsedTickets(..., outbox=outbox)``) the used serials live *in the outbox's
file* and are written by the outbox's own append transaction
(:meth:`~edge.link.outbox.Outbox.add_companion`): a :data:`SPENDING_EVENTS`
event and its mark commit together or not at all. A lane upgraded from the
old layout (used serials in the lane-state file) has them moved over when it
opens.

The lane-state file keeps the little the lane needs to come back up safely:
the last commanded barrier position, the occupancy count and the latest
wall-clock time seen (a Pi without an RTC can boot with a clock that is
earlier than before the power cut; comparing against this value detects it).
None of that decides money or access, so it stays out of the outbox's file and
off its write lock.

Without an outbox (simulators, tools) both tables share the one file and
:meth:`UsedTickets.mark` is the only writer, as before.

Writes are synchronous (``synchronous=FULL``): when a write returns it is on disk.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from edge.errors import GatepostError
from edge.wire import EventType, format_ts

log = logging.getLogger("gatepost.lane.store")

USED_SCHEMA = """
CREATE TABLE IF NOT EXISTS used_ticket (
    serial   TEXT PRIMARY KEY,
    used_at  TEXT NOT NULL,
    fee_minor INTEGER NOT NULL,
    method   TEXT NOT NULL
);
"""
STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS lane_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
SCHEMA = USED_SCHEMA + STATE_SCHEMA

SPENDING_EVENTS: dict[EventType, str | None] = {
    EventType.PAYMENT_CONFIRMED: None,  # the method is the payment's own (cash, epay, none)
    EventType.FREE_EXIT: "free",
}
"""Events that let a ticket out, and the method recorded for those that carry none.

A lost-ticket payment marks its new serial too: no card carries that serial,
so the mark only says it was settled.
"""

_INSERT = (
    "INSERT OR IGNORE INTO used_ticket (serial, used_at, fee_minor, method) VALUES (?, ?, ?, ?)"
)


class StoreError(GatepostError, OSError):
    """The lane's local state file cannot be opened or written."""


class SharedOutbox(Protocol):
    """What :class:`UsedTickets` needs of the outbox it keeps its marks in."""

    path: Path

    def add_companion(self, writer: Callable[[sqlite3.Connection, list[Any]], None]) -> None: ...


class UsedTickets:
    """Used serials plus small key/value lane state.

    Thread-safe (one lock per connection): the card reader thread, the camera
    thread and the booth API may all ask at once.

    :param path: the lane-state file.
    :param outbox: keep the used serials in this outbox's file, written with
        the events that spend them (see the module docstring).
    """

    def __init__(
        self, path: str | Path, retention_days: int = 400, *, outbox: SharedOutbox | None = None
    ) -> None:
        self.path = Path(path)
        self.retention = timedelta(days=retention_days)
        self.used_path = Path(outbox.path) if outbox is not None else self.path
        self._lock = threading.Lock()
        self._used_lock = threading.Lock() if outbox is not None else self._lock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect(self.path)
            if outbox is None:
                self._db.executescript(SCHEMA)
                self._used_db = self._db
            else:
                self._db.executescript(STATE_SCHEMA)
                self._used_db = self._connect(self.used_path)
                # The outbox checkpoints from its forwarder; this connection must not on its own.
                self._used_db.execute("PRAGMA wal_autocheckpoint=0")
                self._used_db.executescript(USED_SCHEMA)
                self._adopt_legacy_marks()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open lane state {self.path}: {exc}") from exc
        if outbox is not None:
            outbox.add_companion(self._record_spent)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    @property
    def shares_outbox(self) -> bool:
        """True when the marks are written in the outbox's transactions (the real lane)."""
        return self._used_db is not self._db

    # ----------------------------------------------------------------- used serials

    def is_used(self, serial: str) -> bool:
        with self._used_lock:
            row = self._used_db.execute(
                "SELECT 1 FROM used_ticket WHERE serial = ?", (serial,)
            ).fetchone()
        return row is not None

    def mark(self, serial: str, at: datetime, fee_minor: int, method: str) -> bool:
        """Record ``serial`` as used; False if it already was (the first use stands)."""
        try:
            with self._used_lock:
                cur = self._used_db.execute(
                    _INSERT, (serial, format_ts(at), int(fee_minor), method)
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record used ticket {serial}: {exc}") from exc
        if cur.rowcount == 0:
            log.info("ticket already marked used; the first use stands", extra={"serial": serial})
            return False
        return True

    def ensure_used(self, serial: str, at: datetime, fee_minor: int, method: str) -> None:
        """After the lane let ``serial`` out: the mark is there, or is written now.

        Sharing the outbox, the mark was stored with the payment, so finding it
        missing means an event that lets tickets out is not in :data:`SPENDING_EVENTS`.
        """
        if self.is_used(serial):
            return
        if self.shares_outbox:
            log.error(
                "ticket %s let out without a used mark stored with its event; marking it now",
                serial,
            )
        self.mark(serial, at, fee_minor, method)

    def _record_spent(self, db: sqlite3.Connection, envelopes: Sequence[Any]) -> None:
        """Outbox companion: mark the tickets these events let out, in the outbox's own transaction."""
        rows = []
        for env in envelopes:
            if env.type not in SPENDING_EVENTS:
                continue
            data = env.data
            method = SPENDING_EVENTS[env.type] or str(data.get("method", "none"))
            rows.append((str(data["serial"]), env.ts, int(data.get("fee_minor", 0)), method))
        if rows:
            db.executemany(_INSERT, rows)

    def _adopt_legacy_marks(self) -> None:
        """Move used serials from the lane-state file (the layout before they joined the outbox's)."""
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'used_ticket'"
        ).fetchone()
        if found is None:
            return
        rows = [
            (serial, _normal_ts(used_at), fee, method)
            for serial, used_at, fee, method in self._db.execute(
                "SELECT serial, used_at, fee_minor, method FROM used_ticket"
            ).fetchall()
        ]
        # Copied and committed first, dropped after: a crash in between only copies them again.
        self._used_db.execute("BEGIN IMMEDIATE")
        try:
            self._used_db.executemany(_INSERT, rows)
            self._used_db.execute("COMMIT")
        except sqlite3.Error:
            self._used_db.execute("ROLLBACK")
            raise
        self._db.execute("DROP TABLE used_ticket")
        log.warning(
            "moved %d used ticket(s) from %s into %s (written with their payments from now on)",
            len(rows),
            self.path,
            self.used_path,
        )

    def purge(self, now: datetime) -> int:
        """Forget serials older than the retention (a ticket that old is refused by date anyway)."""
        cutoff = format_ts(now - self.retention)
        with self._used_lock:
            cur = self._used_db.execute("DELETE FROM used_ticket WHERE used_at < ?", (cutoff,))
        return cur.rowcount

    def count(self) -> int:
        with self._used_lock:
            return int(self._used_db.execute("SELECT count(*) FROM used_ticket").fetchone()[0])

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
        with self._used_lock:
            if self.shares_outbox:
                self._used_db.close()
        with self._lock:
            self._db.close()


def _normal_ts(text: str) -> str:
    """A stored time in the wire format (old files wrote ``isoformat()``), so purge compares like with like."""
    try:
        return format_ts(datetime.fromisoformat(text))  # 3.11 reads a trailing Z too
    except (TypeError, ValueError):
        return str(text)

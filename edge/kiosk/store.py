"""What the kiosk remembers locally: who checked in (for check-out and double taps) and used invites.

One small SQLite file. A second tap on "submit" carries the same submission
id and gets the first answer back, so nothing is sent or printed twice; an
invite is used once. Rows older than ``kiosk.retention_days`` are deleted
(personal data is minimised on the kiosk too).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from edge.errors import GatepostError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    visit_id       TEXT PRIMARY KEY,
    submission_id  TEXT UNIQUE,
    invite_id      TEXT UNIQUE,
    checked_in_at  TEXT NOT NULL,
    checked_out_at TEXT,
    answer         TEXT NOT NULL
);
"""


class KioskStoreError(GatepostError, OSError):
    """The kiosk's local database cannot be opened or written."""


class KioskStore:
    """Visits by id, by submission id and by invite id."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=10
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise KioskStoreError(f"kiosk store {path} cannot be opened: {exc}") from exc

    def answer_for(self, submission_id: str) -> dict[str, Any] | None:
        """The answer already given to this submission (a double tap), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT answer FROM visits WHERE submission_id = ?", (submission_id,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def invite_used(self, invite_id: str) -> bool:
        with self._lock:
            return (
                self._db.execute(
                    "SELECT 1 FROM visits WHERE invite_id = ?", (invite_id,)
                ).fetchone()
                is not None
            )

    def add(
        self,
        visit_id: str,
        *,
        submission_id: str | None,
        invite_id: str | None,
        at: datetime,
        answer: dict[str, Any],
    ) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO visits (visit_id, submission_id, invite_id, checked_in_at, answer) VALUES (?, ?, ?, ?, ?)",
                    (
                        visit_id,
                        submission_id,
                        invite_id,
                        at.isoformat(),
                        json.dumps(answer, ensure_ascii=False),
                    ),
                )
            except sqlite3.Error as exc:
                raise KioskStoreError(f"cannot record visit {visit_id}: {exc}") from exc

    def set_answer(self, visit_id: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE visits SET answer = ? WHERE visit_id = ?",
                (json.dumps(answer, ensure_ascii=False), visit_id),
            )

    def check_out(self, visit_id: str, at: datetime) -> str:
        """``"done"``, ``"already"`` (checked out before) or ``"unknown"`` (not checked in here)."""
        with self._lock:
            row = self._db.execute(
                "SELECT checked_out_at FROM visits WHERE visit_id = ?", (visit_id,)
            ).fetchone()
            if row is None:
                return "unknown"
            if row[0] is not None:
                return "already"
            self._db.execute(
                "UPDATE visits SET checked_out_at = ? WHERE visit_id = ?",
                (at.isoformat(), visit_id),
            )
            return "done"

    def purge(self, now: datetime, retention_days: int) -> int:
        cutoff = (now - timedelta(days=retention_days)).isoformat()
        with self._lock:
            return self._db.execute(
                "DELETE FROM visits WHERE checked_in_at < ?", (cutoff,)
            ).rowcount

    def probe(self, at: datetime) -> None:
        """Write and commit one small row: raises while the disk refuses writes (storage-fault recovery)."""
        with self._lock:
            try:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS storage_probe"
                    " (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)"
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO storage_probe (id, at) VALUES (1, ?)", (at.isoformat(),)
                )
            except sqlite3.Error as exc:
                raise KioskStoreError(f"kiosk store not writable: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

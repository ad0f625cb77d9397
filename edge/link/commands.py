"""Commands from central (``…/cmd/{name}``): checked, acted on at most once, answered.

A remote raise opens a barrier, so the rules come from gates opened by
replayed messages (DESIGN.md §6): a command that arrives retained, after its
expiry, twice, or malformed is never acted on. Every command, acted on or
not, gets a :class:`~edge.wire.CommandResult` on ``…/cmd_result`` saying why.

Seen request ids are written to SQLite *before* the handler runs: if the
device dies mid-command, the replay after reboot is refused as a duplicate
(central sees no ``done`` and can ask again with a new id) rather than
raising the barrier twice.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from edge.errors import GatepostError, PayloadError
from edge.link.port import Link
from edge.wire import (
    Command,
    CommandName,
    CommandResult,
    cmd_result_topic,
    device_cmd_filter,
    format_ts,
    parse_command,
    parse_ts,
    utc_now,
)

log = logging.getLogger(__name__)

CommandFn = Callable[[Command], tuple[bool, str]]
"""``fn(command) -> (ok, detail)``; ``detail`` is shown to the supervisor."""

SEEN_RETENTION = timedelta(days=7)
"""Seen ids are kept this long past their expiry; an expired command is refused anyway."""


class CommandStoreError(GatepostError, OSError):
    """The seen-commands table cannot be read or written."""


class CommandHandler:
    """Subscribes to this device's commands and dispatches the good ones.

    Handlers run on the link's network thread and must return quickly (a
    relay pulse, a config reload), not wait for a vehicle.
    """

    def __init__(
        self,
        link: Link,
        site: str,
        device: str,
        db_path: str | Path,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.link = link
        self.site = site
        self.device = device
        self._clock = clock
        self._handlers: dict[CommandName, CommandFn] = {}
        self._lock = threading.Lock()
        self._result_topic = cmd_result_topic(site, device)
        self._filter = device_cmd_filter(site, device)
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                db_path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS seen_commands ("
                " id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,"
                " expires_at TEXT NOT NULL, seen_at TEXT NOT NULL)"
            )
            self._prune()
        except sqlite3.Error as exc:
            log.error("command store %s cannot be opened: %s", db_path, exc)
            raise CommandStoreError(f"command store {db_path} cannot be opened: {exc}") from exc

    def on(self, name: CommandName | str, fn: CommandFn) -> None:
        """Register the action for a command name; unregistered names are refused."""
        self._handlers[CommandName(name)] = fn

    def start(self) -> None:
        """Subscribe; commands queued by the broker while offline arrive on connect."""
        self.link.subscribe(self._filter, self.handle, qos=1)

    # ------------------------------------------------------------------ one message

    def handle(self, topic: str, payload: bytes, retained: bool) -> CommandResult:
        """Check one message, act on it if it deserves it, publish and return the result."""
        now = self._clock()
        with self._lock:
            try:
                return self._decide(topic, payload, retained, now)
            except CommandStoreError as exc:
                log.error("command on %s not acted on: %s", topic, exc)
                return self._answer(
                    _raw_id(payload),
                    topic.rsplit("/", 1)[-1],
                    False,
                    "refused",
                    "device cannot record commands",
                    now,
                )

    def _decide(self, topic: str, payload: bytes, retained: bool, now: datetime) -> CommandResult:
        try:
            command = parse_command(topic, payload, retained)
        except PayloadError as exc:
            log.warning("invalid command on %s: %s", topic, exc)
            return self._answer(
                _raw_id(payload), topic.rsplit("/", 1)[-1], False, "invalid", str(exc), now
            )
        if retained:
            # A retained command is a replay by construction: never act on it.
            log.warning("retained command %s (%s) ignored", command.id, command.name)
            return self._answer(
                command.id,
                command.name,
                False,
                "retained",
                "retained commands are never acted on",
                now,
            )
        if self._seen(command.id):
            log.warning("duplicate command %s (%s) ignored", command.id, command.name)
            return self._answer(
                command.id,
                command.name,
                False,
                "duplicate",
                "this request id was already handled",
                now,
            )
        if command.expired(now):
            self._remember(command, "expired", now)
            log.warning(
                "expired command %s (%s, expired %s) ignored",
                command.id,
                command.name,
                command.expires_at,
            )
            return self._answer(
                command.id, command.name, False, "expired", f"expired at {command.expires_at}", now
            )
        fn = self._handlers.get(command.name)
        if fn is None:
            self._remember(command, "refused", now)
            return self._answer(
                command.id,
                command.name,
                False,
                "refused",
                f"{command.name} is not supported by this device",
                now,
            )
        self._remember(command, "acting", now)
        try:
            ok, detail = fn(command)
        except GatepostError as exc:
            log.error("command %s (%s) failed: %s", command.id, command.name, exc)
            ok, detail = False, str(exc)
        except Exception as exc:
            log.exception("command %s (%s) crashed", command.id, command.name)
            ok, detail = False, f"internal error: {type(exc).__name__}"
        status = "done" if ok else "refused"
        self._set_status(command.id, status)
        log.info(
            "command %s (%s) by %s: %s %s", command.id, command.name, command.by, status, detail
        )
        return self._answer(command.id, command.name, ok, status, detail, self._clock())

    def _answer(
        self, request_id: str, name: str, ok: bool, status: str, detail: str, now: datetime
    ) -> CommandResult:
        result = CommandResult(
            id=request_id[:64],
            name=str(name)[:32],
            ok=ok,
            status=status,  # type: ignore[arg-type]
            detail=detail[:500],
            ts=format_ts(now),
        )
        try:
            self.link.publish(self._result_topic, result.model_dump_json().encode(), 1, False)
        except GatepostError as exc:
            log.error("could not publish result of %s: %s", request_id, exc)
        return result

    # ------------------------------------------------------------------ seen ids

    def _seen(self, request_id: str) -> bool:
        try:
            return (
                self._db.execute(
                    "SELECT 1 FROM seen_commands WHERE id = ?", (request_id,)
                ).fetchone()
                is not None
            )
        except sqlite3.Error as exc:
            raise CommandStoreError(f"seen-commands lookup failed: {exc}") from exc

    def _remember(self, command: Command, status: str, now: datetime) -> None:
        try:
            self._db.execute(
                "INSERT OR IGNORE INTO seen_commands VALUES (?, ?, ?, ?, ?)",
                (command.id, command.name.value, status, command.expires_at, format_ts(now)),
            )
        except sqlite3.Error as exc:
            log.error("cannot record command %s: %s; not acting on it", command.id, exc)
            raise CommandStoreError(f"cannot record command {command.id}: {exc}") from exc

    def _set_status(self, request_id: str, status: str) -> None:
        try:
            self._db.execute(
                "UPDATE seen_commands SET status = ? WHERE id = ?", (status, request_id)
            )
        except sqlite3.Error as exc:
            log.error("cannot record result of %s: %s", request_id, exc)

    def _prune(self) -> None:
        cutoff = self._clock() - SEEN_RETENTION
        removed = 0
        for request_id, expires_at in self._db.execute(
            "SELECT id, expires_at FROM seen_commands"
        ).fetchall():
            try:
                stale = parse_ts(expires_at) < cutoff
            except ValueError:
                stale = True
            if stale:
                self._db.execute("DELETE FROM seen_commands WHERE id = ?", (request_id,))
                removed += 1
        if removed:
            log.info("forgot %d seen command ids past retention", removed)

    def status_of(self, request_id: str) -> str | None:
        """What this device did with a request id (``None`` if never seen)."""
        row = self._db.execute(
            "SELECT status FROM seen_commands WHERE id = ?", (request_id,)
        ).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._db.close()


def _raw_id(payload: bytes) -> str:
    """Best-effort request id from a payload that failed validation, for the result."""
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "unknown"
    value = raw.get("id") if isinstance(raw, dict) else None
    return value[:64] if isinstance(value, str) and value else "unknown"

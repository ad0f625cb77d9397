"""The durable outbox: every event a device emits, on disk before anything moves.

A lane writes its financial and access events here *before* the barrier
moves (DESIGN.md §4); the :class:`~edge.link.forwarder.Forwarder` drains the
rows to the broker. A row lives until central says it has committed it
(:meth:`Outbox.confirm`, from central's ack on ``…/ack``): the broker's PUBACK
only marks it sent (:meth:`Outbox.mark_sent`), because a broker holds
messages in memory between its autosaves and a crash there loses what it had
acknowledged. Sent-but-unconfirmed rows stay rows: they count toward the
bound, the near-full alarm, the depth and the oldest-unsent age, and the
forwarder sends them again when central's ack is late or the link comes back.
The outbox never drops a critical event (:data:`edge.wire.CRITICAL_EVENTS`), whatever
its bound: when it nears the bound it raises :attr:`Outbox.near_full` (the
lane shows an alarm) and coalesces or refuses droppable telemetry instead.

Storage is one SQLite file in WAL mode. ``emit`` is one small transaction
committed with ``synchronous=FULL`` (an fsync of the WAL) on a connection
that never checkpoints, so a card-to-relay path pays one append and one
fsync; checkpoints run from the forwarder's thread on a connection of their
own. Deletes after central's ack commit with ``synchronous=NORMAL``: a delete
lost in a power cut only means a harmless replay (ingest is idempotent).
"Sent" is kept in memory only: after a restart every remaining row is sent
again anyway.

Another module may keep rows in this file that must commit or roll back
with the events (:meth:`Outbox.add_companion`): a lane's used-ticket marks
are written in the same transaction as the ``payment_confirmed`` that lets
the ticket out, so no crash can leave one without the other (two SQLite files
in WAL mode cannot share a transaction).

The per-device ``seq`` is the row's primary key; the highest one handed out
is saved in the same transaction that deletes rows, so it is strictly
increasing across restarts even when the outbox has been emptied. Every seq
handed out is a row until central confirms it: a seq is taken only by an
append that committed, coalescing rewrites a row in place under its own seq,
and refused telemetry takes none, so central's contiguous ack never waits
on a seq that will not come. The file
is never recreated: a corrupt or unreadable outbox is an error, not a reset.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Self

from edge.errors import GatepostError, OutboxFull, PayloadError, StorageFault
from edge.wire import (
    CRITICAL_EVENTS,
    Envelope,
    EventData,
    EventType,
    event_topic,
    make_event,
    utc_now,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,
    type       TEXT    NOT NULL,
    critical   INTEGER NOT NULL,
    ckey       TEXT,
    created_at REAL    NOT NULL,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_ckey ON outbox (ckey, seq) WHERE ckey IS NOT NULL;
"""


_SAVE_LAST_SEQ = (
    "INSERT INTO outbox_meta (key, value) VALUES ('last_seq', ?)"
    " ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)"
)


Companion = Callable[[sqlite3.Connection, list[Envelope]], None]
"""Writes its own rows from the events being appended, inside the outbox's transaction."""


class OutboxError(GatepostError, OSError):
    """The outbox file cannot be opened or written (disk full, corrupt, read-only).

    A lane that gets this for a critical event must not move the barrier.
    """


class OutboxWriteFailed(OutboxError, StorageFault):
    """SQLite refused an append: a storage fault (the lane holds the events in memory)."""


@dataclass(slots=True, frozen=True)
class OutboxRow:
    """One event central has not confirmed yet, as stored: ready to publish as-is on ``topic``."""

    seq: int
    event_type: str
    topic: str
    payload: bytes
    critical: bool
    created_at: float
    """Device wall-clock seconds since the epoch when the row was written."""


class Outbox:
    """Store-and-forward queue of one device's events, in seq order.

    Thread-safe: the lane, the console and the forwarder may call it at once.

    :param bound: rows the outbox aims to stay under. Critical events are kept
        beyond it; telemetry is coalesced once :attr:`near_full` and refused
        (:class:`~edge.errors.OutboxFull`) at the bound when it cannot coalesce.
    :param near_full_ratio: fraction of ``bound`` at which :attr:`near_full`
        turns on; it turns off again 10 points lower, so it does not flicker.
    :param on_near_full: called with ``True``/``False`` when :attr:`near_full`
        changes (outside the outbox lock), so the lane can alarm and display it.
    """

    def __init__(
        self,
        path: str | Path,
        site: str,
        device: str,
        *,
        bound: int = 100_000,
        clock: Callable[[], datetime] = utc_now,
        near_full_ratio: float = 0.8,
        on_near_full: Callable[[bool], None] | None = None,
    ) -> None:
        if bound < 10:
            raise OutboxError(f"outbox bound must be at least 10, got {bound}")
        if not 0.2 <= near_full_ratio <= 1.0:
            raise OutboxError(f"near_full_ratio must be within 0.2..1.0, got {near_full_ratio}")
        event_topic(site, device, "x")  # validates the ids before touching the disk
        self.path = Path(path)
        self.site = site
        self.device = device
        self.bound = bound
        self._clock = clock
        self._high = max(1, int(bound * near_full_ratio))
        self._low = max(0, int(bound * (near_full_ratio - 0.1)))
        self._near_full_listeners: list[Callable[[bool], None]] = []
        if on_near_full is not None:
            self._near_full_listeners.append(on_near_full)
        self._emit_listeners: list[Callable[[], None]] = []
        self._companions: list[Companion] = []
        self._lock = threading.Lock()
        self._ckpt_lock = threading.Lock()
        self._closed = False
        self._handed_out = 0
        """Highest seq returned by :meth:`pending` (or held at open): rows at or below it may
        have reached central already, so coalescing never rewrites them."""
        self._sent: set[int] = set()
        """Rows the broker acknowledged (PUBACK) that central has not confirmed yet."""
        self._confirmed = 0
        """Highest seq central has confirmed in this process (0 until its first ack)."""
        self.coalesced = 0
        self.dropped = 0

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._emit_db = self._connect("FULL")
            self._ack_db = self._connect("NORMAL")
            self._ckpt_db = self._connect("NORMAL")
            self._emit_db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            self._check_schema()
            (self._depth,) = self._emit_db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            (max_row,) = self._emit_db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM outbox"
            ).fetchone()
            row = self._emit_db.execute(
                "SELECT value FROM outbox_meta WHERE key = 'last_seq'"
            ).fetchone()
        except sqlite3.Error as exc:
            log.error("outbox %s cannot be opened: %s", self.path, exc)
            raise OutboxError(f"outbox {self.path} cannot be opened: {exc}") from exc
        self._last_seq = max(max_row, row[0] if row else 0)
        # Rows left by an earlier run may have been sent: never rewrite them (a new id under
        # a seq central already stored would be quarantined as a seq clash).
        self._handed_out = self._last_seq
        self._near_full = self._depth >= self._high
        if self._near_full:
            log.error("outbox opened near full: %d rows, bound %d", self._depth, self.bound)
        log.info("outbox %s open: depth %d, last seq %d", self.path, self._depth, self._last_seq)

    # ------------------------------------------------------------------ setup

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise sqlite3.OperationalError(f"journal_mode is {mode}, WAL required")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run from checkpoint() only
        return db

    def _check_schema(self) -> None:
        row = self._emit_db.execute("SELECT value FROM outbox_meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._emit_db.execute("INSERT INTO outbox_meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"outbox schema {row[0]}, this software knows {SCHEMA_VERSION}"
            )

    # ------------------------------------------------------------------ writing

    def emit(self, event_type: EventType, data: EventData) -> Envelope:
        """Append an event and fsync it; return its envelope once it is durable.

        Any event type is accepted and never dropped. Raises
        :class:`~edge.errors.PayloadError` if ``data`` is not the payload of
        ``event_type``, and :class:`OutboxError` if the disk refuses the write
        (then nothing was stored and the barrier must not move).
        """
        return self._append(event_type, data, ckey=None)

    def emit_telemetry(
        self, event_type: EventType, data: EventData, *, key: str | None = None
    ) -> Envelope:
        """Append a droppable event; near the bound, replace an unsent one of the same ``key``.

        Coalescing rewrites the newest unsent row with the same ``key``
        (default: the event type) in place, keeping its seq, so central sees
        the latest value and no seq gap. At the bound with nothing to coalesce
        into, raises :class:`~edge.errors.OutboxFull` and stores nothing.
        """
        event_type = EventType(event_type)
        if event_type in CRITICAL_EVENTS:
            log.error("emit_telemetry called with critical event %s", event_type)
            raise PayloadError(f"{event_type} is a critical event: use Outbox.emit()")
        ckey = key or event_type.value
        if not self._near_full:
            return self._append(event_type, data, ckey=ckey)
        envelope = self._coalesce(event_type, data, ckey)
        if envelope is not None:
            return envelope
        if self._depth < self.bound:
            return self._append(event_type, data, ckey=ckey)
        self.dropped += 1
        log.warning(
            "outbox full (%d/%d): telemetry %s refused",
            self._depth,
            self.bound,
            event_type,
            extra={"event_type": str(event_type), "dropped_total": self.dropped},
        )
        raise OutboxFull(
            f"outbox at its bound ({self._depth}/{self.bound}): {event_type} not stored"
        )

    def emit_many(
        self, events: Sequence[tuple[EventType, EventData]], *, at: datetime | None = None
    ) -> list[Envelope]:
        """Append several events in one transaction and one fsync; all or none are stored.

        The lane uses it when a decision and its ``barrier_opened`` go out
        together, so the relay waits for one flush instead of two.
        """
        return self._append_all([(t, d, None) for t, d in events], at)

    def _append(self, event_type: EventType, data: EventData, ckey: str | None) -> Envelope:
        return self._append_all([(event_type, data, ckey)])[0]

    def _append_all(
        self, items: list[tuple[EventType, EventData, str | None]], at: datetime | None = None
    ) -> list[Envelope]:
        if not items:
            return []
        now = (
            at or self._clock()
        )  # ``at``: events held in memory through a storage fault keep their time
        with self._lock:
            self._check_open()
            first = self._last_seq + 1
            envelopes = [self._build(t, d, first + i, now) for i, (t, d, _) in enumerate(items)]
            rows = [
                (
                    env.seq,
                    env.type.value,
                    int(env.type in CRITICAL_EVENTS),
                    ckey,
                    now.timestamp(),
                    event_topic(self.site, self.device, env.type.value),
                    env.to_json(),
                )
                for env, (_, _, ckey) in zip(envelopes, items, strict=True)
            ]
            db = self._emit_db
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT INTO outbox (seq, type, critical, ckey, created_at, topic, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                for companion in self._companions:
                    companion(db, envelopes)
                db.execute("COMMIT")
            except Exception as exc:  # a companion's failure too: never leave the transaction open
                self._rollback(db)
                kinds = ", ".join(str(t) for t, _, _ in items)
                log.error("outbox write failed for %s (seq %d): %s", kinds, first, exc)
                fault = (
                    OutboxWriteFailed if isinstance(exc, (sqlite3.Error, OSError)) else OutboxError
                )
                raise fault(f"outbox write failed for {kinds}: {exc}") from exc
            self._last_seq = envelopes[-1].seq
            self._depth += len(envelopes)
            changed = self._update_near_full()
        self._notify(changed)
        return envelopes

    def _coalesce(self, event_type: EventType, data: EventData, ckey: str) -> Envelope | None:
        now = self._clock()
        with self._lock:
            self._check_open()
            db = self._emit_db
            try:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute(
                    "SELECT seq FROM outbox WHERE ckey = ? AND seq > ? ORDER BY seq DESC LIMIT 1",
                    (ckey, self._handed_out),
                ).fetchone()
                if row is None:
                    db.execute("COMMIT")
                    return None
                envelope = self._build(event_type, data, row[0], now)
                db.execute(
                    "UPDATE outbox SET type = ?, topic = ?, payload = ? WHERE seq = ?",
                    (
                        envelope.type.value,
                        event_topic(self.site, self.device, envelope.type.value),
                        envelope.to_json(),
                        row[0],
                    ),
                )
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(db)
                log.error("outbox coalesce failed for %s: %s", event_type, exc)
                raise OutboxError(f"outbox write failed for {event_type}: {exc}") from exc
            self.coalesced += 1
        return envelope

    def _build(self, event_type: EventType, data: EventData, seq: int, now: datetime) -> Envelope:
        try:
            return make_event(self.site, self.device, seq, data, EventType(event_type), at=now)
        except (PayloadError, ValueError) as exc:
            log.error("refusing malformed event %s: %s", event_type, exc)
            if isinstance(exc, PayloadError):
                raise
            raise PayloadError(f"cannot build {event_type} event: {exc}") from exc

    # ------------------------------------------------------------------ draining

    def pending(self, limit: int = 100, after: int = 0) -> list[OutboxRow]:
        """The oldest rows central has not confirmed with ``seq > after``, in seq order."""
        with self._lock:
            self._check_open()
            try:
                rows = self._ack_db.execute(
                    "SELECT seq, type, topic, payload, critical, created_at FROM outbox"
                    " WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                log.error("outbox read failed: %s", exc)
                raise OutboxError(f"outbox read failed: {exc}") from exc
            if rows:
                self._handed_out = max(self._handed_out, rows[-1][0])
        return [OutboxRow(r[0], r[1], r[2], bytes(r[3]), bool(r[4]), r[5]) for r in rows]

    def mark_sent(self, seqs: Sequence[int]) -> int:
        """Note the broker's PUBACK for ``seqs``; the rows stay until :meth:`confirm`.

        Returns how many rows became sent (a repeated PUBACK, or one for a row
        central has confirmed meanwhile, counts nothing). Memory only, no I/O.
        """
        with self._lock:
            fresh = {s for s in seqs if s > self._confirmed and s <= self._last_seq} - self._sent
            self._sent |= fresh
        return len(fresh)

    def confirm(self, upto: int) -> int:
        """Delete every row up to ``upto``: central's ack says it has committed them.

        One transaction, ``synchronous=NORMAL``. A lower or repeated ack deletes
        nothing. An ack above the last seq this outbox ever handed out cannot be
        about these rows (another outbox file under the same device id, or a
        central database that is not this device's): it is refused with
        :class:`~edge.errors.PayloadError` and nothing is deleted. Returns how
        many rows went.
        """
        with self._lock:
            self._check_open()
            if upto > self._last_seq:
                log.error(
                    "central acknowledged seq %d but this outbox only reached %d; ignored",
                    upto,
                    self._last_seq,
                )
                raise PayloadError(f"ack {upto} beyond the last seq handed out ({self._last_seq})")
            if upto <= self._confirmed:
                return 0
            db = self._ack_db
            try:
                db.execute("BEGIN IMMEDIATE")
                # Remember the last seq before its row can go: emit() stays one INSERT,
                # and an emptied outbox still continues the sequence after a restart.
                db.execute(_SAVE_LAST_SEQ, (self._last_seq,))
                before = db.total_changes
                db.execute("DELETE FROM outbox WHERE seq <= ?", (upto,))
                deleted = db.total_changes - before
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(db)
                log.error("outbox delete failed: %s", exc)
                raise OutboxError(f"outbox delete failed: {exc}") from exc
            # Drop the newly confirmed from the sent set at the cost of the smaller side.
            if upto - self._confirmed < len(self._sent):
                for seq in range(self._confirmed + 1, upto + 1):
                    self._sent.discard(seq)
            else:
                self._sent = {seq for seq in self._sent if seq > upto}
            self._confirmed = upto
            self._depth -= deleted
            changed = self._update_near_full()
        self._notify(changed, emitted=False)
        return deleted

    def checkpoint(self, truncate: bool = False) -> None:
        """Fold the WAL back into the database file; called by the forwarder, off the emit path."""
        with self._ckpt_lock:
            if self._closed:
                return
            mode = "TRUNCATE" if truncate else "PASSIVE"
            try:
                self._ckpt_db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            except sqlite3.Error as exc:
                log.warning("outbox checkpoint failed: %s", exc)

    # ------------------------------------------------------------------ state

    @property
    def depth(self) -> int:
        """Rows central has not confirmed: unsent, in flight, and sent but unacknowledged."""
        return self._depth

    @property
    def unacked(self) -> int:
        """Rows the broker has (PUBACK) that central has not confirmed yet."""
        return len(self._sent)

    def acked_through(self) -> int:
        """Every seq up to this one was confirmed by central and deleted: the oldest row's seq − 1,
        or the last seq when the outbox is empty (health reports it; see :class:`edge.wire.Health`)."""
        with self._lock:
            self._check_open()
            try:
                (oldest,) = self._ack_db.execute("SELECT MIN(seq) FROM outbox").fetchone()
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox read failed: {exc}") from exc
            return self._last_seq if oldest is None else oldest - 1

    @property
    def confirmed(self) -> int:
        """Highest seq central has confirmed since this process opened the outbox."""
        return self._confirmed

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def near_full(self) -> bool:
        """True from ``near_full_ratio × bound`` rows until the backlog falls 10 points lower."""
        return self._near_full

    def oldest_unsent_age_s(self, now: datetime | None = None) -> float:
        """Seconds the oldest row central has not confirmed has waited (0 when empty; never negative)."""
        now = now or self._clock()
        with self._lock:
            self._check_open()
            row = self._ack_db.execute(
                "SELECT created_at FROM outbox ORDER BY seq LIMIT 1"
            ).fetchone()
        if row is None:
            return 0.0
        return max(0.0, now.timestamp() - row[0])

    def add_emit_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every durable append (the forwarder wakes on it)."""
        self._emit_listeners.append(listener)

    def add_companion(self, writer: Companion) -> None:
        """Run ``writer(db, envelopes)`` inside every append transaction, before its commit.

        For rows another module keeps in this file that must be exactly as durable
        as the events they follow from (a lane's used tickets). The writer uses only
        ``db`` and raises :class:`sqlite3.Error` to refuse: then nothing of the append
        is stored and :class:`OutboxError` reaches the caller, so the barrier stays put.
        """
        self._companions.append(writer)

    def add_near_full_listener(self, listener: Callable[[bool], None]) -> None:
        self._near_full_listeners.append(listener)

    def close(self) -> None:
        """Checkpoint and close; later calls raise :class:`OutboxError`."""
        self.checkpoint(truncate=True)
        with self._lock, self._ckpt_lock:
            if self._closed:
                return
            self._closed = True
            for db in (self._emit_db, self._ack_db, self._ckpt_db):
                db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxError(f"outbox {self.path} is closed")

    @staticmethod
    def _rollback(db: sqlite3.Connection) -> None:
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _update_near_full(self) -> bool:
        """Recompute :attr:`near_full` (lock held); return True if it changed."""
        if not self._near_full and self._depth >= self._high:
            self._near_full = True
            log.error(
                "outbox near full: %d rows of %d; telemetry is being coalesced "
                "(发件箱将满, 请检查网络与中心服务)",
                self._depth,
                self.bound,
            )
            return True
        if self._near_full and self._depth < self._low:
            self._near_full = False
            log.warning("outbox back under %d rows (%d of %d)", self._low, self._depth, self.bound)
            return True
        return False

    def _notify(self, near_full_changed: bool, emitted: bool = True) -> None:
        if near_full_changed:
            for listener in list(self._near_full_listeners):
                try:
                    listener(self._near_full)
                except Exception:
                    log.exception("near_full listener failed")
        if emitted:
            for wake in list(self._emit_listeners):
                try:
                    wake()
                except Exception:
                    log.exception("emit listener failed")

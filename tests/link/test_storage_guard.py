"""The storage guard in front of a real outbox: hold in order, write in order, never drop silently."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from edge.link.outbox import Outbox
from edge.link.storage import HoldFull, StorageGuard
from edge.wire import EventType, ReaderFault


def _deny(db: sqlite3.Connection) -> None:
    db.set_authorizer(
        lambda action, *_: (
            sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_INSERT else sqlite3.SQLITE_OK
        )
    )


def fault(i: int) -> tuple[EventType, ReaderFault]:
    return EventType.READER_FAULT, ReaderFault(reader="badge", detail=f"n{i}")


def test_hold_is_written_in_order_and_a_full_hold_is_said_loudly(tmp_path, caplog):
    outbox = Outbox(tmp_path / "outbox.db", "s", "d")
    guard = StorageGuard(outbox, hold_bound=3)
    heard: list[object] = []
    guard.add_listener(heard.append)
    try:
        assert guard.store([fault(0)]) is True
        _deny(outbox._emit_db)
        assert guard.store([fault(1), fault(2)]) is False
        assert guard.status()["storage"].startswith("outbox: OutboxWriteFailed") and guard.held == 2
        outbox._emit_db.set_authorizer(None)
        assert guard.store([fault(3)]) is False, "a later event must not jump the held ones"
        with caplog.at_level(logging.CRITICAL, logger="gatepost.storage"), pytest.raises(HoldFull):
            guard.store([fault(4)])
        assert guard.overflowed == 1 and guard.status()["storage_lost"] == 1
        assert any('"detail":"n4"' in r.getMessage() for r in caplog.records), (
            "the lost event is not in the log"
        )
        assert guard.probe() is True
        assert [heard[0] is not None, heard[-1]] == [True, None]
        rows = outbox.pending(limit=10)
        details = [r.payload.decode() for r in rows]
        assert [d.split('"detail":"')[1][:2] for d in details] == ["n0", "n1", "n2", "n3"]
        assert [r.seq for r in rows] == [1, 2, 3, 4]
        assert guard.status() == {
            "storage": "ok",
            "storage_since": None,
            "storage_held": 0,
            "storage_lost": 1,
        }
    finally:
        outbox.close()

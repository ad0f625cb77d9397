"""The kiosk's storage faults fail safe (DESIGN.md §4): no check-in it cannot record, nothing lost.

Write sites of the kiosk, each made to fail with a SQLite authorizer on its
own connection (a real SQLite error, lifted for the recovery):

* the outbox append (``visitor_checked_in`` / ``_blocked`` / ``_checked_out``);
* the kiosk store (the visit row that answers a double tap, the printed
  answer, the check-out mark).

A check-in decided as the fault strikes is finished (its event held in
memory); after that the kiosk refuses check-ins with a message in both
languages, ``/healthz`` carries ``storage``, and once storage recovers every
held event is in the outbox in order and check-ins work again.
"""

from __future__ import annotations

import json

import pytest

from tests.kiosk.helpers import form, start_kiosk
from tests.lane.sim import wait_for
from tests.lane.test_storage_faults import allow_writes, deny_writes
from tests.support.browser import Browser


def checked_in(agent) -> list[str]:
    return [
        json.loads(row.payload)["data"]["visit_id"]
        for row in agent.outbox.pending(limit=1000)
        if row.event_type == "visitor_checked_in"
    ]


@pytest.mark.parametrize("site", ["outbox", "kiosk_store"])
def test_kiosk_refuses_check_ins_it_cannot_record_and_sends_the_held_ones_after_recovery(
    tmp_path, monkeypatch, site
):
    agent = start_kiosk(tmp_path, 1, monkeypatch, connect=False)
    try:
        agent.kiosk.storage.probe_interval_s = 0.1
        http = Browser.at(agent.url).open()  # the kiosk page's CSRF token on every POST
        first = http.post("/api/check-in", json=form(name="Before Bo")).json()
        assert first["ok"]
        db = agent.outbox._emit_db if site == "outbox" else agent.store._db
        deny_writes(db)
        struck = http.post("/api/check-in", json=form(name="Struck Su")).json()
        assert struck["ok"], "a check-in decided as the fault struck is finished"
        wait_for(lambda: agent.kiosk.storage.fault is not None, what="the storage fault known")
        refused = http.post("/api/check-in", json=form(name="Refused Ra"))
        assert refused.status_code == 503
        body = refused.json()
        assert (
            body["error"] == "storage"
            and "前台" in body["message"]["zh"]
            and "desk" in body["message"]["en"]
        )
        health = http.get("/healthz").json()
        assert site in health["storage"]
        if site == "outbox":
            assert checked_in(agent) == [first["visit_id"]] and agent.kiosk.storage.held == 1

        allow_writes(db)
        wait_for(
            lambda: agent.kiosk.storage.fault is None and agent.kiosk.storage.held == 0,
            what="storage recovered",
        )
        assert http.get("/healthz").json()["storage"] == "ok"
        assert checked_in(agent) == [first["visit_id"], struck["visit_id"]], (
            "held check-in lost or out of order"
        )
        after = http.post("/api/check-in", json=form(name="After Al")).json()
        assert after["ok"] and checked_in(agent)[-1] == after["visit_id"]
        seqs = [row.seq for row in agent.outbox.pending(limit=1000)]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        agent.stop()

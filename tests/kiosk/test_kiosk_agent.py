"""The kiosk agent end to end with a real Mosquitto and a real central: an offline check-in is
replayed later, the block list arrives as retained site config, double taps and forged passes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from central.visitors.models import Visit
from edge import wire
from tests.central.api.harness import start_central
from tests.kiosk.helpers import SITE, form, start_kiosk
from tests.support.browser import Browser
from tests.support.services import MOSQUITTO, Broker, require
from tests.support.wait import wait_until as wait_for

pytestmark = pytest.mark.mqtt


def visits(central) -> list[Visit]:
    with central.sessions() as db:
        return list(db.scalars(select(Visit).where(Visit.site == SITE)))


def test_offline_check_in_is_kept_and_replayed_when_broker_and_central_return(
    tmp_path, monkeypatch
):
    require(MOSQUITTO is not None, "mosquitto")
    broker = Broker(tmp_path / "broker")  # not started: the lobby's network is down
    agent = start_kiosk(tmp_path, broker.port, monkeypatch)
    central = None
    try:
        http = Browser.at(agent.url).open()  # the page gives this browser its cookie and CSRF token
        body = form(name="Offline Olga", phone="13812345678")
        first = http.post("/api/check-in", json=body)
        assert first.status_code == 200 and first.json()["ok"] and first.json()["printed"]
        again = http.post("/api/check-in", json=body)  # a double tap while offline
        assert again.json()["visit_id"] == first.json()["visit_id"] and again.json()["repeat"]
        assert agent.outbox.depth == 1
        broker.start()
        central = start_central(tmp_path / "central", broker.port)
        stored = wait_for(lambda: visits(central), what="replayed check-in at central")
        assert [(v.visit_id, v.name, v.phone) for v in stored] == [
            (first.json()["visit_id"], "Offline Olga", "13812345678")
        ]
        wait_for(lambda: agent.outbox.depth == 0, what="outbox drained on central's ack")
        # Check-out by showing the printed pass to the camera, now online.
        agent.camera_source.show_qr(first.json()["pass_qr"])
        out = http.post("/api/check-out/scan")
        assert out.status_code == 200 and out.json()["ok"]
        wait_for(lambda: visits(central)[0].checked_out_at, what="check-out at central")
    finally:
        agent.stop()
        if central is not None:
            central.stop()
        broker.stop()


def test_block_list_reaches_the_kiosk_and_a_blocked_visitor_sees_a_neutral_message(
    tmp_path, monkeypatch
):
    require(MOSQUITTO is not None, "mosquitto")
    broker = Broker(tmp_path / "broker").start()
    central = start_central(tmp_path / "central", broker.port)
    agent = None
    try:
        sup = central.client("sup")
        r = sup.post(
            "/api/visitors/blocks",
            json={"site": SITE, "phone": "139 0000 1111", "reason": "trespass"},
        )
        assert r.status_code == 201 and r.json()["published"]
        agent = start_kiosk(tmp_path, broker.port, monkeypatch)
        wait_for(lambda: agent._blocklist.phones, what="block list at the kiosk")
        http = Browser.at(agent.url).open()  # the page gives this browser its cookie and CSRF token
        refused = http.post("/api/check-in", json=form(name="Anyone", phone="+86 13900001111"))
        assert refused.status_code == 403
        answer = refused.json()
        assert answer["error"] == "see_desk" and "front desk" in answer["message"]["en"]
        assert "block" not in str(answer).lower()
        assert len(agent.printer.captured) == 0
        from central.alarms.models import Alarm

        def alarm():
            with central.sessions() as db:
                return db.scalars(select(Alarm).where(Alarm.site == SITE)).first()

        assert wait_for(alarm, what="desk alarm").detail["kind"] == "visitor_blocked"
        assert visits(central) == []
        # A forged pass and a pass of another site are refused; nothing is sent. Judged by the last
        # seq handed out, not the depth: the forwarder may still be draining the blocked attempt's event.
        last = agent.outbox.last_seq
        for text in ("GPP1.1.01900000-0000-7000-8000-000000000001.AAAAAAAAAAAAAAAAAAAA", "hello"):
            agent.camera_source.show_qr(text)
            bad = http.post("/api/check-out/scan")
            assert bad.status_code == 422 and bad.json()["error"] == "not_a_pass"
        assert agent.outbox.last_seq == last
    finally:
        if agent is not None:
            agent.stop()
        central.stop()
        broker.stop()


def test_invite_from_central_checks_in_with_one_scan_only_once(tmp_path, monkeypatch):
    require(MOSQUITTO is not None, "mosquitto")
    from tests.kiosk.helpers import KEY_HEX

    monkeypatch.setenv("GATEPOST_VISITOR_INVITE_KEYS", f"1={KEY_HEX}")
    broker = Broker(tmp_path / "broker").start()
    central = start_central(tmp_path / "central", broker.port)
    agent = start_kiosk(tmp_path, broker.port, monkeypatch)
    try:
        today = wire.utc_now().astimezone(agent.kiosk.zone).date()
        r = central.client("guard1").post(
            "/api/visitors/invites",
            json={"site": SITE, "day": today.isoformat(), "name": "Grace", "host": "Heidi"},
        )
        assert r.status_code == 201
        http = Browser.at(agent.url).open()  # the page gives this browser its cookie and CSRF token
        agent.camera_source.show_qr(r.json()["qr"])
        ok = http.post("/api/invite/scan")
        assert ok.status_code == 200 and ok.json()["name"] == "Grace" and ok.json()["printed"]
        again = http.post("/api/invite/scan")
        assert again.status_code == 409 and again.json()["error"] == "invite_used"
        wait_for(
            lambda: [v for v in visits(central) if v.invite_id == r.json()["invite_id"]],
            what="invited visit",
        )
        other = central.client("guard1").post(
            "/api/visitors/invites",
            json={"site": "elsewhere", "day": today.isoformat(), "name": "Ivan"},
        )
        agent.camera_source.show_qr(other.json()["qr"])
        wrong = http.post("/api/invite/scan")
        assert wrong.json()["error"] == "invite_wrong_site"
    finally:
        agent.stop()
        central.stop()
        broker.stop()

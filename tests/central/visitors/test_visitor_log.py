"""Central's visitor log against a real broker, ingest and database: fold, masking, roles,
block list, invites, host notification, the purge, and hostile input."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
import uuid
from datetime import timedelta

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from central.alarms.models import Alarm
from central.audit import AuditEntry
from central.db.models import Event, Quarantined
from central.visitors import service
from central.visitors.models import Visit, VisitorDay
from edge import wire
from edge.wire import EventType, VisitorBlocked, VisitorCheckedIn, VisitorCheckedOut
from tests.central.visitors.conftest import INVITE_KEY
from tests.support.wait import wait_until

pytestmark = pytest.mark.mqtt

JPEG = base64.b64encode(b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9").decode()


def checked_in(name: str = "王小明", **fields) -> VisitorCheckedIn:
    now = wire.utc_now()
    base = {
        "visit_id": wire.uuid7(),
        "category": "guest",
        "name": name,
        "phone": "13812345678",
        "host": "李四",
        "unit": "3-1201",
        "expires_at": wire.format_ts(now + timedelta(hours=8)),
    }
    return VisitorCheckedIn(**(base | fields))


def visit(central, visit_id: str) -> Visit | None:
    with central.sessions() as db:
        return db.get(Visit, visit_id)


class Listener:
    """A paho client that records what arrives on one topic filter."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.got = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, 1)
        self.client.on_message = self._on
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on(self, _c, _u, msg) -> None:
        self.messages.append((msg.topic, msg.payload, msg.retain))
        self.got.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_check_in_is_folded_once_masked_in_the_event_log_and_on_screens(central, kiosk):
    k = kiosk("north-lobby")
    data = checked_in(
        photo=JPEG, category="official", agency="市消防支队", pass_number="XF2024001234"
    )
    env = k.event(data, EventType.VISITOR_CHECKED_IN)
    row = central.wait_for(lambda: visit(central, data.visit_id), what="visit stored")
    assert (row.name, row.phone, row.desk_check, row.photo) == (
        "王小明",
        "13812345678",
        True,
        base64.b64decode(JPEG),
    )
    # The event log keeps no personal data: the live feed and events API read it.
    with central.sessions() as db:
        stored = db.get(Event, env.id).data
    assert stored["name"] == "王**" and stored["phone"] == "138****5678"
    assert stored["pass_number"].endswith("1234") and "XF2024" not in stored["pass_number"]
    assert stored["photo"] is None
    # A replay of the same event stores nothing twice.
    k.client.publish(
        wire.event_topic("north", "north-lobby", "visitor_checked_in"), env.to_json(), qos=1
    ).wait_for_publish(5)
    guard = central.client("guard1")
    items = central.wait_for(
        lambda: guard.get("/api/visitors", params={"site": "north", "name": "王小"}).json()["items"]
    )
    assert len(items) == 1
    assert items[0]["phone"] == "138****5678" and items[0]["pass_number"] == "********1234"
    assert "13812345678" not in json.dumps(items) and "photo" not in items[0]
    assert guard.get(f"/api/visitors/{data.visit_id}/photo").status_code == 403
    sup = central.client("sup")
    r = sup.get(f"/api/visitors/{data.visit_id}/photo")
    assert r.status_code == 200 and r.content == base64.b64decode(JPEG)
    with central.sessions() as db:
        actions = [
            a.action
            for a in db.scalars(select(AuditEntry).where(AuditEntry.target == data.visit_id))
        ]
    assert "visitors.photo" in actions
    assert guard.get("/api/visitors/on-site-count", params={"site": "north"}).json()["count"] >= 1


def test_on_site_list_search_check_out_and_export(central, kiosk):
    k = kiosk("north-lobby-2")
    a, b = (
        checked_in("Alice Smith", host="Bob"),
        checked_in("Carol", host="Dave", unit="7-702", party_size=3),
    )
    k.event(a, EventType.VISITOR_CHECKED_IN)
    k.event(b, EventType.VISITOR_CHECKED_IN)
    central.wait_for(lambda: visit(central, b.visit_id), what="visits stored")
    guard = central.client("guard1")
    on_site = guard.get("/api/visitors/on-site", params={"site": "north"}).json()
    ids = {v["visit_id"] for v in on_site["items"]}
    assert {a.visit_id, b.visit_id} <= ids and on_site["count"] >= 4
    assert all(v["minutes_on_site"] >= 0 for v in on_site["items"])
    assert [
        v["visit_id"] for v in guard.get("/api/visitors", params={"host": "7-702"}).json()["items"]
    ] == [b.visit_id]
    assert [
        v["visit_id"] for v in guard.get("/api/visitors", params={"name": "alice"}).json()["items"]
    ] == [a.visit_id]
    today = wire.utc_now().astimezone(service.ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert a.visit_id in {
        v["visit_id"] for v in guard.get("/api/visitors", params={"day": today}).json()["items"]
    }
    # Kiosk check-out for a, desk check-out for b.
    k.event(VisitorCheckedOut(visit_id=a.visit_id), EventType.VISITOR_CHECKED_OUT)
    central.wait_for(lambda: visit(central, a.visit_id).checked_out_at, what="kiosk check-out")
    r = guard.post(f"/api/visitors/{b.visit_id}/check-out")
    assert r.status_code == 200 and r.json()["checked_out_at_desk"] is True
    ids = {
        v["visit_id"]
        for v in guard.get("/api/visitors/on-site", params={"site": "north"}).json()["items"]
    }
    assert not ids & {a.visit_id, b.visit_id}
    assert guard.get("/api/visitors/export.csv").status_code == 403
    rows = list(
        csv.DictReader(
            io.StringIO(
                central.client("sup").get("/api/visitors/export.csv", params={"site": "north"}).text
            )
        )
    )
    assert rows and all("5678" in r["phone"] and "*" in r["phone"] for r in rows if r["phone"])


def test_check_out_from_another_sites_kiosk_is_refused(central, kiosk):
    home, stranger = kiosk("north-lobby-3"), kiosk("south-lobby", site="south")
    data = checked_in("Eve")
    home.event(data, EventType.VISITOR_CHECKED_IN)
    central.wait_for(lambda: visit(central, data.visit_id), what="visit stored")
    env = stranger.event(VisitorCheckedOut(visit_id=data.visit_id), EventType.VISITOR_CHECKED_OUT)
    central.wait_for(lambda: _event(central, env.id), what="foreign check-out ingested")
    assert visit(central, data.visit_id).checked_out_at is None


def _event(central, event_id):
    with central.sessions() as db:
        return db.get(Event, event_id)


def test_block_list_is_shipped_retained_and_a_blocked_visitor_alarms_the_desk(
    central, kiosk, mod_broker
):
    sup = central.client("sup")
    assert (
        central.client("guard1")
        .post("/api/visitors/blocks", json={"site": "north", "name": "X", "reason": "r"})
        .status_code
        == 403
    )
    r = sup.post(
        "/api/visitors/blocks",
        json={
            "site": "north",
            "name": "Mallory",
            "phone": "13900001111",
            "reason": "banned by management",
        },
    )
    assert (
        r.status_code == 201
        and r.json()["published"] is True
        and r.json()["phone"] == "139****1111"
    )
    listener = Listener(
        mod_broker.port, wire.config_topic("north", wire.ConfigKind.VISITOR_BLOCKLIST)
    )
    try:
        assert listener.got.wait(5), "retained block list not delivered"
        topic, payload, retained = listener.messages[-1]
        doc = wire.parse_site_config(topic, payload)
        assert retained and {"name": "Mallory", "phone": "13900001111"} in doc.data["entries"]
    finally:
        listener.close()
    k = kiosk("north-lobby-4")
    env = k.event(VisitorBlocked(name="Mallory", phone="13900001111"), EventType.VISITOR_BLOCKED)
    central.wait_for(lambda: _event(central, env.id), what="blocked event stored")
    assert _event(central, env.id).data["name"] == "M******"
    with central.sessions() as db:
        alarm = db.scalars(
            select(Alarm).where(Alarm.site == "north", Alarm.device == "north-lobby-4")
        ).one()
        assert alarm.detail["kind"] == "visitor_blocked" and "Mallory" not in json.dumps(
            alarm.detail
        )


def test_invites_are_signed_for_their_day_and_marked_used(central, kiosk):
    guard = central.client("guard1")
    today = wire.utc_now().astimezone(service.ZoneInfo("Asia/Shanghai")).date()
    r = guard.post(
        "/api/visitors/invites",
        json={"site": "north", "day": today.isoformat(), "name": "Grace", "host": "Heidi"},
    )
    assert r.status_code == 201
    body = r.json()
    invite = wire.verify_invite(body["qr"], {1: INVITE_KEY}, site="north", today=today.isoformat())
    assert (invite.name, invite.host) == ("Grace", "Heidi")
    with pytest.raises(wire.InviteError) as wrong_day:
        wire.verify_invite(
            body["qr"], {1: INVITE_KEY}, site="north", today=(today + timedelta(days=1)).isoformat()
        )
    assert wrong_day.value.reason == "wrong_day"
    forged = body["qr"][:-3] + ("AAA" if not body["qr"].endswith("AAA") else "BBB")
    with pytest.raises(wire.InviteError):
        wire.verify_invite(forged, {1: INVITE_KEY}, site="north", today=today.isoformat())
    past = guard.post(
        "/api/visitors/invites",
        json={"site": "north", "day": (today - timedelta(days=1)).isoformat(), "name": "G"},
    )
    assert past.status_code == 422
    data = checked_in("Grace", host="Heidi", invite_id=invite.invite_id)
    kiosk("north-lobby-5").event(data, EventType.VISITOR_CHECKED_IN)
    central.wait_for(lambda: visit(central, data.visit_id), what="invited visit")
    from central.visitors.models import VisitorInvite

    with central.sessions() as db:
        assert db.get(VisitorInvite, invite.invite_id).visit_id == data.visit_id


def test_host_is_notified_on_the_mqtt_topic(central, kiosk, mod_broker):
    listener = Listener(mod_broker.port, wire.host_notify_topic("north"))
    try:
        data = checked_in("Ivan", host="Judy", unit="1-101")
        kiosk("north-lobby-6").event(data, EventType.VISITOR_CHECKED_IN)

        # Earlier tests' visits may still be notified on the same topic: wait for this visit's notice.
        def this_notice() -> bytes | None:
            for _topic, payload, _retained in list(listener.messages):
                if wire.HostNotice.model_validate_json(payload).visit_id == data.visit_id:
                    return payload
            return None

        payload = wait_until(this_notice, what="the host notice of this visit")
        notice = wire.HostNotice.model_validate_json(payload)
        assert (notice.visit_id, notice.host, notice.unit, notice.visitor) == (
            data.visit_id,
            "Judy",
            "1-101",
            "Ivan",
        )
        assert "13812345678" not in payload.decode()
    finally:
        listener.close()


def test_purge_empties_personal_fields_keeps_counts_and_is_audited(central, kiosk):
    k = kiosk("north-lobby-7")
    old = checked_in("Oscar Old", photo=JPEG)
    env = k.event(old, EventType.VISITOR_CHECKED_IN)
    central.wait_for(lambda: visit(central, old.visit_id), what="visit stored")
    # A check-in that broke the contract: quarantined as sent, name and phone included.
    broken = json.loads(env.model_dump_json()) | {"seq": "not a number", "id": str(uuid.uuid4())}
    k.client.publish(
        env_topic := wire.event_topic("north", "north-lobby-7", "visitor_checked_in"),
        json.dumps(broken).encode(),
        qos=1,
    ).wait_for_publish(5)
    held = central.wait_for(
        lambda: _quarantined(central, env_topic, b"Oscar Old"), what="quarantined check-in"
    )
    with central.sessions() as db:
        before = sum(
            d.visits for d in db.scalars(select(VisitorDay).where(VisitorDay.site == "north"))
        )
        # Not old enough yet: nothing of it is purged.
        service.purge(db, now=wire.utc_now(), retention_days=30)
        db.commit()
        assert db.get(Visit, old.visit_id).name == "Oscar Old"
        counts = service.purge(db, now=wire.utc_now() + timedelta(days=31), retention_days=30)
        db.commit()
    assert counts["visits"] >= 1 and counts["events"] >= 1
    row = visit(central, old.visit_id)
    assert (row.name, row.phone, row.host, row.photo, row.name_key) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert row.category == "guest" and row.checked_in_at is not None and row.purged_at is not None
    assert counts["quarantine"] >= 1
    with central.sessions() as db:
        assert db.get(Event, env.id).data["name"] == "*"
        assert "phone" not in db.get(Event, env.id).data
        emptied = db.get(Quarantined, held.id)
        assert (
            emptied.payload == b"" and emptied.size == held.size and emptied.reason == held.reason
        )
        after = sum(
            d.visits for d in db.scalars(select(VisitorDay).where(VisitorDay.site == "north"))
        )
        assert after == before
        assert (
            db.scalars(select(AuditEntry).where(AuditEntry.action == "visitors.purge")).first()
            is not None
        )
    assert central.client("sup").get(f"/api/visitors/{old.visit_id}/photo").status_code == 404


def _quarantined(central, topic: str, needle: bytes) -> Quarantined | None:
    with central.sessions() as db:
        rows = db.scalars(select(Quarantined).where(Quarantined.topic == topic)).all()
        return next((r for r in rows if needle in r.payload), None)


def test_hostile_text_is_escaped_on_the_page_and_bad_queries_get_clear_errors(central, kiosk):
    k = kiosk("north-lobby-8")
    # A rogue device may send what a kiosk never would: the page must still show it as text.
    hostile = checked_in(
        "<script>alert(1)</script>",
        host="<img src=x onerror=alert(2)>",
        purpose="\u202egnp.exe 😀" + "x" * 150,
    )
    k.event(hostile, EventType.VISITOR_CHECKED_IN)
    central.wait_for(lambda: visit(central, hostile.visit_id), what="hostile visit stored")
    guard = central.client("guard1")
    html = guard.get("/visitors", params={"site": "north"}).text
    assert (
        "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    )
    assert "<img src=x" not in html
    assert guard.get("/api/visitors", params={"site": "../etc"}).status_code == 422
    assert guard.get("/api/visitors", params={"day": "not-a-date"}).status_code == 422
    assert guard.post("/api/visitors/nope/check-out").status_code == 404
    evac = guard.get("/visitors/evacuation", params={"site": "north"}).text
    assert "&lt;script&gt;" in evac and "<script>alert" not in evac

"""The console's JSON API on a simulated exit lane: double taps, stale pages, bad input, throttling, handover."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from edge.console.badges import BoothBadges
from edge.console.voice import Voice, VoiceSettings
from edge.hw.rdm6300 import BadgeReader
from edge.sim.rdm6300_emulator import RDM6300Emulator
from edge.ticket import new_serial
from edge.wire import BadgeAccepted, Direction, EventType
from tests.lane.sim import events_of, wait_for
from tests.support.browser import Browser
from tests.support.services import require


def rid() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def api(make_post):
    post = make_post(serve=False)
    client = Browser.of_app(post.app)
    client.sign_on("g001", "1234")
    return post, client


def serial_of(client) -> str:
    return client.get("/api/console").json()["lanes"][0]["serial"]


def test_a_double_tap_pays_once_and_a_stale_page_is_refused(api):
    post, client = api
    sim = post.lanes["exit-1"]
    car = post.car_with_ticket("exit-1", 40)
    serial = serial_of(client)
    body = {"request_id": rid(), "serial": serial, "method": "cash"}
    first = client.post("/api/console/lanes/exit-1/confirm-payment", json=body)
    again = client.post("/api/console/lanes/exit-1/confirm-payment", json=body)
    assert first.status_code == again.status_code == 200 and again.json()["repeat"] is True
    other = client.post(
        "/api/console/lanes/exit-1/confirm-payment", json=body | {"request_id": rid()}
    )
    assert other.status_code == 409 and other.json()["code"] == "stale"
    assert "已离开或已处理" in other.json()["error_zh"]
    car.drive_through()
    wait_for(lambda: sim.barrier.state == "closed", what="closed")
    assert len(events_of(sim.outbox, "payment_confirmed")) == 1
    assert post.printer.captured.count("停车收费凭证".encode("gb18030")) == 1


def test_bad_input_gets_clear_messages_and_records_nothing(api):
    post, client = api
    sim = post.lanes["exit-1"]
    lanes = "/api/console/lanes/exit-1"
    cases = [
        (
            client.post(f"{lanes}/manual-raise", json={"request_id": rid(), "reason": "   "}),
            422,
            "请填写原因",
        ),
        (
            client.post(
                f"{lanes}/manual-raise", json={"request_id": rid(), "reason": "x" * 10_000}
            ),
            422,
            "原因过长",
        ),
        (
            client.post(f"{lanes}/manual-raise", json={"request_id": "short", "reason": "ok"}),
            422,
            "请求编号无效",
        ),
        (
            client.post(
                f"{lanes}/incident", json={"request_id": rid(), "kind": "arson", "description": "x"}
            ),
            422,
            "事件类型",
        ),
        (
            client.post(f"{lanes}/lost-card", json={"request_id": rid(), "plate": "粤B1"}),
            409,
            "没有等候的车辆",
        ),
        (
            client.post(
                "/api/console/lanes/nope/manual-raise", json={"request_id": rid(), "reason": "x"}
            ),
            404,
            "没有此车道",
        ),
        (
            client.post(
                f"{lanes}/manual-raise",
                content=b"\xff{",
                headers={"content-type": "application/json"},
            ),
            400,
            "无效",
        ),
        (
            client.post(
                f"{lanes}/manual-raise",
                content=b"{" + b" " * 70_000 + b"}",
                headers={"content-type": "application/json"},
            ),
            413,
            "过大",
        ),
        (
            client.post(
                "/api/console/close-shift",
                json={"request_id": rid(), "declared_cash": "-20", "unattended": True},
            ),
            409,
            "负数",
        ),
        (
            client.post(
                "/api/console/close-shift",
                json={"request_id": rid(), "declared_cash": "123456789", "unattended": True},
            ),
            409,
            "不合理",
        ),
        (
            client.post(
                "/api/console/close-shift", json={"request_id": rid(), "declared_cash": "10"}
            ),
            422,
            "员工号和密码",
        ),
    ]
    for answer, status, zh in cases:
        assert answer.status_code == status, answer.text
        assert zh in answer.json()["error_zh"] and answer.json()["error"]
    assert sim.barrier.state == "closed"
    recorded = {row.event_type for row in sim.outbox.pending(limit=1000)}
    assert not recorded & {"manual_raise", "incident_reported", "shift_closed", "lost_ticket"}


def test_free_exit_needs_a_supervisor_pin_and_brute_force_is_throttled(api):
    post, client = api
    sim = post.lanes["exit-1"]
    post.car_with_ticket("exit-1", 120)
    serial = serial_of(client)
    body = {
        "serial": serial,
        "reason": "业主亲属 resident's relative",
        "supervisor_id": "g002",
        "supervisor_pin": "5678",
    }
    refused = client.post("/api/console/lanes/exit-1/free-exit", json=body | {"request_id": rid()})
    assert refused.status_code == 403 and refused.json()["error_zh"] == "需要主管授权"
    codes = [
        client.post(
            "/api/console/lanes/exit-1/free-exit",
            json=body
            | {"request_id": rid(), "supervisor_id": "s001", "supervisor_pin": f"{n:04d}"},
        ).status_code
        for n in range(6)
    ]
    assert codes[:5] == [403] * 5 and codes[5] == 429
    locked = client.post(
        "/api/console/lanes/exit-1/free-exit",
        json=body | {"request_id": rid(), "supervisor_id": "s001", "supervisor_pin": "9999"},
    )
    assert locked.status_code == 429 and "秒后再试" in locked.json()["error_zh"]
    assert sim.barrier.state == "closed" and not events_of(sim.outbox, "free_exit")
    post.booth.roster.throttle.succeeded("s001")  # the lock runs out (a minute later)
    ok = client.post(
        "/api/console/lanes/exit-1/free-exit",
        json=body | {"request_id": rid(), "supervisor_id": "s001", "supervisor_pin": "9999"},
    )
    assert ok.status_code == 200 and ok.json()["authorised_by"] == "s001 张主管"
    wait_for(lambda: sim.barrier.state == "open", what="open")
    free = events_of(sim.outbox, "free_exit")
    assert [(f["serial"], f["authorised_by"]) for f in free] == [(serial, "s001 张主管")]
    shift = client.get("/api/console/shift").json()
    assert shift["counts"]["exemptions"] == 1 and shift["counts"]["manual_raises"] == 0
    assert sim.store.is_used(serial)


def test_incident_event_and_unattended_handover(api):
    post, client = api
    sim = post.lanes["exit-1"]
    answer = client.post(
        "/api/console/lanes/exit-1/incident",
        json={
            "request_id": rid(),
            "kind": "damage",
            "description": "道闸杆被撞弯 arm bent",
            "plate": "粤b7",
        },
    )
    assert answer.status_code == 200
    incident = events_of(sim.outbox, "incident_reported")
    assert incident == [
        {
            "kind": "damage",
            "description": "道闸杆被撞弯 arm bent",
            "guard": "g001 王强",
            "plate": "粤B7",
        }
    ]
    closed = client.post(
        "/api/console/close-shift",
        json={"request_id": rid(), "declared_cash": "0", "unattended": True},
    )
    assert closed.status_code == 200 and closed.json()["duty"] is None
    report = closed.json()["report"]
    assert report["totals"]["counts"]["incidents"] == 1 and report["incoming_guard"] is None
    types = [row.event_type for row in sim.outbox.pending(limit=1000)]
    assert types[-2:] == ["shift_closed", "guard_signed_off"]
    # The shift is over at this browser too: the next action needs a sign-on first.
    refused = client.post(
        "/api/console/lanes/exit-1/manual-raise", json={"request_id": rid(), "reason": "x"}
    )
    assert refused.status_code == 401 and refused.json()["error_zh"] == "请先在本屏幕上岗签到"
    assert sim.barrier.state == "closed" and not events_of(sim.outbox, "manual_raise")


def test_badges_at_the_booth_reader_sign_on_and_confirm_a_handover(make_post):
    post = make_post(serve=False)
    client = Browser.of_app(post.app).open()
    with RDM6300Emulator() as emulator:
        reader = BadgeReader(emulator.device_path)
        watcher = BoothBadges(reader, post.booth, poll_s=0.1).start()
        try:
            emulator.present("0C0C0C0C0C")
            wait_for(
                lambda: (post.booth.duty() or {}).get("staff_id") == "g001", what="badge sign-on"
            )
            wait_for(
                lambda: post.booth._booth_badge is not None, what="badge ready for the console"
            )
            emulator.remove()
            # The guard who badged signs on at the console with "I showed my badge"; a typed badge number
            # proves nothing and is not accepted.
            typed = client.post(
                "/api/console/sign-on", json={"request_id": rid(), "badge": "0C0C0C0C0C"}
            )
            assert typed.status_code == 422
            signed = client.post(
                "/api/console/sign-on", json={"request_id": rid(), "use_reader": True}
            )
            assert signed.status_code == 200 and signed.json()["signed_on"] == "g001"
            emulator.present("0D0D0D0D0D")  # the incoming guard badges in
            wait_for(lambda: post.booth._booth_badge is not None, what="incoming badge seen")
            emulator.remove()
            answer = client.post(
                "/api/console/close-shift",
                json={"request_id": rid(), "declared_cash": "0", "use_reader": True},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["duty"]["staff_id"] == "g002"
        finally:
            watcher.stop()
            reader.close()
    signed = events_of(post.lanes["exit-1"].outbox, "guard_signed_on")
    assert [s["guard"] for s in signed] == ["g001 王强", "g002 李娜"]


def test_the_fee_sentence_is_spoken_at_the_lane(tmp_path, make_post, tariff):
    played = tmp_path / "played"
    played.mkdir()
    voice = Voice(
        VoiceSettings(
            player=("cp", "--backup=numbered", "-t", str(played)), quiet_start=None, quiet_end=None
        ),
        lambda: __import__("datetime").datetime.now(),
    )
    require(voice._binary is not None, "espeak-ng")
    post = make_post(serve=False, voice=voice)
    Browser.of_app(post.app).sign_on("g001", "1234")
    post.car_with_ticket("exit-1", 30)
    assert voice.wait(20)
    assert len(list(played.iterdir())) == 2  # 您的车计费停车…, then the English sentence


def test_the_latest_snapshot_is_shown_and_served_only_from_the_lane_folder(tmp_path, make_post):
    shots = tmp_path / "shots"
    shots.mkdir()
    name = "20260302T010000000Z-badge_accepted.jpg"
    (shots / name).write_bytes(b"\xff\xd8\xff\xe0 test jpeg \xff\xd9")
    (tmp_path / "secret.jpg").write_bytes(b"not yours")
    post = make_post(serve=False, snapshot_dirs={"exit-1": shots})
    client = Browser.of_app(post.app)
    assert (
        client.open().get(f"/api/console/lanes/exit-1/snapshot/{name}").status_code == 401
    )  # not signed on
    client.sign_on("g001", "1234")
    # the lane's own sink (outbox behind the console ledger), as the lane writes a badge pass with its snapshot
    post.lanes["exit-1"].lane.sink.emit(
        EventType.BADGE_ACCEPTED,
        BadgeAccepted(
            badge="0A1B2C3D4E", holder_class="resident", direction=Direction.OUT, snapshot=name
        ),
    )
    assert client.get("/api/console").json()["lanes"][0]["snapshot"] == name
    image = client.get(f"/api/console/lanes/exit-1/snapshot/{name}")
    assert image.status_code == 200 and image.content.startswith(b"\xff\xd8")
    for bad in ("..%2Fsecret.jpg", ".hidden.jpg", "nope.jpg"):
        assert client.get(f"/api/console/lanes/exit-1/snapshot/{bad}").status_code == 404


def test_the_lane_is_unattended_until_a_guard_signs_on_and_after_sign_off(make_post):
    post = make_post(
        serve=False
    )  # there is no switch that starts a lane attended without a sign-on
    sim = post.lanes["exit-1"]
    status = sim.lane.status()
    assert (status.attended, status.guard_on_duty) == (False, None)
    car = sim.vehicle()
    car.arrive()
    entry_at = datetime.now(UTC) - timedelta(minutes=30)
    sim.place_card(
        sim.codec.encode_card(sim.codec.make(new_serial("entry-1", entry_at), entry_at, "car"))
    )
    wait_for(lambda: sim.lane.status().phase == "awaiting_payment", what="fee quoted")
    assert (
        sim.payments.due is None and sim.lane.status().message == "fee_due_unattended"
    )  # nobody to pay
    client = Browser.of_app(post.app)
    client.sign_on("g001", "1234")
    assert sim.lane.status().guard_on_duty == "g001 王强"
    wait_for(lambda: sim.payments.due is not None, what="the fee asked for once a guard is on duty")
    closed = client.post(
        "/api/console/close-shift",
        json={"request_id": rid(), "declared_cash": "0", "unattended": True},
    )
    assert closed.status_code == 200
    status = sim.lane.status()
    assert (status.attended, status.guard_on_duty) == (False, None) and sim.payments.due is None


def test_console_on_a_port_already_taken_is_a_clear_config_error():
    """'Ready' means the page answers: a console that cannot listen stops the start with a named field."""
    import socket

    from fastapi import FastAPI

    from edge.console.app import serve_console
    from edge.errors import ConfigError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"could not listen on 127.0.0.1:{port}") as refused:
            serve_console(FastAPI(), "127.0.0.1", port)
    assert refused.value.source == "[console] bind/port/tls"


def test_an_idle_guard_is_signed_off_at_that_browser_and_signs_on_again(make_post):
    post = make_post(serve=False, idle_s=0.5)
    sim = post.lanes["exit-1"]
    booth = Browser.of_app(post.app)
    booth.sign_on("g001", "1234")
    colleague = Browser.of_app(post.app)
    colleague.sign_on("g002", "5678")  # a second browser signs on by itself; the shift stays g001's
    assert post.booth.duty()["staff_id"] == "g001"
    # Reading the screen is not an action: the session runs out while the page polls.
    wait_for(lambda: booth.get("/api/console").json()["me"] is None, what="idle sign-off")
    refused = booth.post(
        "/api/console/lanes/exit-1/manual-raise", json={"request_id": rid(), "reason": "x"}
    )
    assert refused.status_code == 401 and refused.json()["code"] == "expired"
    assert "长时间未操作" in refused.json()["error_zh"]
    assert sim.barrier.state == "closed" and not events_of(sim.outbox, "manual_raise")
    booth.sign_on("g001", "1234")
    done = booth.post(
        "/api/console/lanes/exit-1/manual-raise",
        json={"request_id": rid(), "reason": "救护车 ambulance"},
    )
    assert done.status_code == 200, done.text
    wait_for(lambda: sim.barrier.state == "open", what="raised after signing on again")
    assert [e["by"] for e in events_of(sim.outbox, "manual_raise")] == ["g001 王强"]
    assert (
        len(events_of(sim.outbox, "guard_signed_on")) == 1
    )  # signing on again started no second shift


def test_only_the_guard_on_duty_closes_the_shift_and_the_incoming_guard_takes_that_browser(
    make_post,
):
    post = make_post(serve=False)
    sim = post.lanes["exit-1"]
    outgoing = Browser.of_app(post.app)
    outgoing.sign_on("g001", "1234")
    colleague = Browser.of_app(post.app)
    colleague.sign_on("g002", "5678")
    body = {"declared_cash": "0", "incoming_staff_id": "g002", "incoming_pin": "5678"}
    refused = colleague.post(
        "/api/console/close-shift",
        json=body | {"request_id": rid(), "incoming_staff_id": "g001", "incoming_pin": "1234"},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_on_duty"
    assert not events_of(sim.outbox, "shift_closed")
    handed = outgoing.post("/api/console/close-shift", json=body | {"request_id": rid()})
    assert handed.status_code == 200, handed.text
    assert (
        outgoing.get("/api/console").json()["me"]["staff_id"] == "g002"
    )  # the incoming guard typed the PIN here
    raised = outgoing.post(
        "/api/console/lanes/exit-1/manual-raise", json={"request_id": rid(), "reason": "救护车"}
    )
    assert raised.status_code == 200, raised.text
    assert [e["by"] for e in events_of(sim.outbox, "manual_raise")] == ["g002 李娜"]

"""Sign-in, sessions, CSRF, throttling and role guards against a running central."""

from __future__ import annotations

from central import audit
from tests.central.api.harness import PASSWORD


def test_login_sets_session_and_me_reports_role(central):
    c = central.client("sup")
    me = c.get("/api/auth/me").json()
    assert me["name"] == "sup" and me["role"] == "supervisor" and me["csrf_token"]
    cookie = c.cookies.jar
    assert any(ck.name == "gp_session" and ck.has_nonstandard_attr("HttpOnly") for ck in cookie)


def test_wrong_password_is_refused_and_audited(central):
    c = central.client()
    r = c.post("/api/auth/login", json={"username": "sup", "password": "wrong-password-1"})
    assert r.status_code == 401
    assert "wrong username or password" in r.json()["detail"]
    with central.sessions() as db:
        rows = audit.entries(db, action="auth.login")
    assert any(e.actor == "sup" and e.outcome == "failed" for e in rows)


def test_unknown_user_gets_the_same_message(central):
    r = central.client().post(
        "/api/auth/login", json={"username": "nobody", "password": "whatever-123"}
    )
    assert r.status_code == 401 and "wrong username or password" in r.json()["detail"]


def test_login_is_throttled_after_repeated_failures(central):
    central.client("admin").post(
        "/api/users", json={"username": "victim", "password": PASSWORD, "role": "guard"}
    ).raise_for_status()
    c = central.client()
    codes = [
        c.post(
            "/api/auth/login", json={"username": "victim", "password": f"bad-{i}-xxxxxx"}
        ).status_code
        for i in range(6)
    ]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    # even the right password waits out the lockout
    r = c.post("/api/auth/login", json={"username": "victim", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_api_needs_a_session(central):
    r = central.client().get("/api/events")
    assert r.status_code == 401


def test_state_change_without_csrf_token_is_refused(central):
    c = central.client("sup")
    del c.headers["X-CSRF-Token"]
    r = c.post("/api/alarms/1/ack", json={"note": "x"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]


def test_guard_cannot_do_supervisor_actions_and_refusal_is_audited(central, lanes):
    lanes("exit-1")
    g = central.client("guard1")
    central.wait_for(
        lambda: g.get("/api/devices/north/exit-1").status_code == 200, what="device row"
    )
    assert g.get("/api/events").status_code == 200  # a guard may look
    r = g.post("/api/devices/north/exit-1/commands/raise", json={"reason": "let me out"})
    assert r.status_code == 403 and "supervisor" in r.json()["detail"]
    assert (
        g.put("/api/sites/north/capacity", json={"capacity": 10, "reason": "x"}).status_code == 403
    )
    assert g.get("/api/reports/daily.csv", params={"site": "north"}).status_code == 403
    assert g.get("/api/audit").status_code == 403
    assert (
        g.post(
            "/api/users", json={"username": "eve", "password": "x" * 12, "role": "admin"}
        ).status_code
        == 403
    )
    with central.sessions() as db:
        denied = [e for e in audit.entries(db, actor="guard1") if e.outcome == "denied"]
    assert {e.action for e in denied} >= {
        "command",
        "config.capacity",
        "report.export",
        "audit.read",
        "user.create",
    }


def test_logout_ends_the_session(central):
    c = central.client("sup")
    assert c.post("/api/auth/logout").status_code == 204
    assert c.get("/api/auth/me").status_code == 401


def test_admin_manages_users_and_cannot_remove_last_admin(central):
    a = central.client("admin")
    r = a.post(
        "/api/users",
        json={
            "username": "li.wei",
            "password": "a-good-password",
            "role": "guard",
            "display_name": "李伟",
        },
    )
    assert r.status_code == 201 and r.json()["role"] == "guard"
    assert (
        a.post(
            "/api/users",
            json={"username": "li.wei", "password": "a-good-password", "role": "guard"},
        ).status_code
        == 409
    )
    assert (
        a.post(
            "/api/users", json={"username": "weak", "password": "aaaaaaaaaaaa", "role": "guard"}
        ).status_code
        == 422
    )
    assert a.patch("/api/users/admin", json={"role": "guard"}).status_code == 409
    assert a.patch("/api/users/li.wei", json={"active": False}).json()["active"] is False
    assert (
        central.client()
        .post("/api/auth/login", json={"username": "li.wei", "password": "a-good-password"})
        .status_code
        == 401
    )
    with central.sessions() as db:
        actions = {(e.action, e.target) for e in audit.entries(db, actor="admin")}
    assert ("user.create", "li.wei") in actions and ("user.update", "li.wei") in actions


def test_supervisor_sees_audit_log(central):
    s = central.client("sup")
    items = s.get("/api/audit").json()["items"]
    assert any(i["action"] == "auth.login" and i["actor"] == "sup" for i in items)


def test_kiosk_token_authenticates_a_machine_but_grants_no_user_role(central):
    a = central.client("admin")
    r = a.post("/api/tokens", json={"kind": "kiosk", "site": "north", "device": "lobby-1"})
    assert r.status_code == 201
    token = r.json()["token"]
    k = central.client()
    k.headers["Authorization"] = f"Bearer {token}"
    me = k.get("/api/auth/me").json()
    assert me == {
        "name": "kiosk:lobby-1",
        "role": "kiosk",
        "kind": "kiosk",
        "csrf_token": None,
        "language": "zh-CN",
    }
    assert k.get("/api/events").status_code == 403  # a machine is not a guard
    assert a.delete("/api/tokens/north/lobby-1").json() == {"revoked": 1}
    assert k.get("/api/auth/me").status_code == 401
    assert (
        central.client("sup")
        .post("/api/tokens", json={"kind": "device", "site": "north", "device": "x"})
        .status_code
        == 403
    )


def test_a_device_token_reads_what_central_knows_of_its_own_device_and_nothing_else(central, lanes):
    a = central.client("admin")
    token = a.post(
        "/api/tokens", json={"kind": "device", "site": "north", "device": "gate-7"}
    ).json()["token"]
    pi = central.client()
    pi.headers["Authorization"] = f"Bearer {token}"
    before = pi.get(
        "/api/devices/self"
    ).json()  # the installer's check before the lane has connected
    assert (before["site"], before["device"], before["token_kind"], before["known"]) == (
        "north",
        "gate-7",
        "device",
        False,
    )
    assert before["central_time"].endswith("Z")

    lane = lanes("gate-7", role="entry")
    lane.health(outbox_depth=3, barrier="closed")
    seen = central.wait_for(
        lambda: (d := pi.get("/api/devices/self").json())["known"] and d["outbox_depth"] == 3 and d,
        what="the lane's health at central",
    )
    assert seen["online"] is True and seen["role"] == "entry" and seen["barrier"] == "closed"

    # A token names one device: it reads nothing else, and a person's session cannot use the machine route.
    assert pi.get("/api/devices/north/gate-7").status_code == 403
    assert pi.get("/api/devices").status_code == 403
    assert central.client("sup").get("/api/devices/self").status_code == 403
    with central.sessions() as db:
        denied = audit.entries(db, action="machine")
    assert any(e.actor == "sup" and e.outcome == "denied" for e in denied)
    forged = central.client()
    forged.headers["Authorization"] = "Bearer gpt_" + "A" * 43
    assert forged.get("/api/devices/self").status_code == 401
    assert a.delete("/api/tokens/north/gate-7").json() == {"revoked": 1}
    assert pi.get("/api/devices/self").status_code == 401

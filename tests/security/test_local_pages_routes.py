"""Every POST route of the booth console, the lane API and the kiosk page, tried without the right.

The routes come from each app's OpenAPI document plus ``app.routes`` (for routes kept out
of the schema), so a route added later is attacked too, or fails here for want of a
prepared body. Each is POSTed (1) without a session, (2) with another browser's session,
(3) without the CSRF token, (4) under a foreign ``Host``; the barrier's relay pin never
moves and nothing is recorded. The kiosk's visitor flow needs no sign-on, but the same
rules hold there, it has no route that reaches a barrier, and no route reads back another
visitor's record.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import Mount, Route

from tests.kiosk.helpers import form, start_kiosk
from tests.lane.sim import wait_for
from tests.security.local_pages_support import ACTIONS, LANE, PINS, ExitLane, rid, start_exit_lane
from tests.support.browser import SCRIPT_TOKEN, Browser

FOREIGN = {"Host": "attacker.example"}


def post_routes(app: FastAPI, openapi: dict[str, Any], prefix: str = "") -> set[str]:
    """POST paths from the OpenAPI document and from the app's routes (mounted apps included)."""
    paths = {path for path, ops in openapi["paths"].items() if "post" in ops}
    for route in app.routes:
        if isinstance(route, Route) and "POST" in (route.methods or set()):
            paths.add(prefix + route.path)
        elif isinstance(route, Mount) and isinstance(route.app, FastAPI):
            paths |= post_routes(route.app, route.app.openapi(), prefix + route.path)
    return paths


def console_bodies(serial: str) -> dict[str, dict[str, Any]]:
    """A request each route would carry out for a signed-on guard: only the right is missing."""
    lane = f"/api/console/lanes/{LANE}"
    return {
        "/api/console/sign-on": {"staff_id": "g002", "pin": PINS["g002"]},
        "/api/console/sign-off": {},
        "/api/console/close-shift": {"declared_cash": "0", "unattended": True},
        f"{lane}/confirm-payment": {"serial": serial, "method": "cash"},
        f"{lane}/lost-card": {"plate": "ATK001"},
        f"{lane}/free-exit": {
            "serial": serial,
            "reason": "x",
            "supervisor_id": "s001",
            "supervisor_pin": PINS["s001"],
        },
        f"{lane}/manual-raise": {"reason": "x"},
        f"{lane}/manual-close": {"reason": "x"},
        f"{lane}/override-full": {"reason": "x"},
        f"{lane}/incident": {"kind": "other", "description": "x"},
        f"{lane}/reprint": {},
        "/api/lane/confirm-payment": {"method": "cash"},
        "/api/lane/lost-ticket": {"plate": "ATK001"},
        "/api/lane/manual-raise": {"reason": "x"},
        "/api/lane/manual-close": {"reason": "x"},
        "/api/lane/override-full": {"reason": "x"},
    }


def attack_body(path: str, bodies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    body = dict(bodies[path])
    return body | {"request_id": rid()} if path.startswith("/api/console") else body


@pytest.fixture
def exit_lane(tmp_path):
    lane = start_exit_lane(
        tmp_path, extra={"refusal_alarm_threshold = 10": "refusal_alarm_threshold = 10000"}
    )
    yield lane
    lane.agent.stop()


def test_every_console_and_lane_route_refuses_without_a_session_csrf_or_the_right_host(
    exit_lane: ExitLane,
):
    lane = exit_lane
    booth = lane.guard(
        "g001"
    )  # the guard at the booth: the session every attacker would like to use
    car, serial = lane.car_with_fee()
    bodies = console_bodies(serial)
    app = lane.agent.page_app
    assert app is not None
    paths = post_routes(app, lane.client().get("/api/console/openapi.json").json())
    paths = {p.replace("{lane}", LANE) for p in paths}
    assert paths <= set(bodies), f"POST routes without a prepared attack: {paths - set(bodies)}"
    assert {"/api/lane/manual-raise", f"/api/console/lanes/{LANE}/free-exit"} <= paths

    relay, recorded = lane.relay_states(), lane.rows(*ACTIONS, "guard_signed_on")
    cookie = booth.client.cookies.get("gatepost_console")
    other = (
        lane.browser()
    )  # another browser on the booth network: its own session, nobody signed on
    refusals = app.state.refusals
    before = refusals.total
    for path in sorted(paths):
        # (A sign-on from a throwaway browser: `other` must stay signed off for the routes after it.)
        elsewhere = lane.browser() if path == "/api/console/sign-on" else other
        tries = {
            "no session": lane.client().post(path, json=attack_body(path, bodies)),
            "another browser's session": elsewhere.post(path, json=attack_body(path, bodies)),
            "no CSRF token": lane.client(cookies={"gatepost_console": cookie}).post(
                path, json=attack_body(path, bodies)
            ),
            "another browser's CSRF token": lane.client(cookies={"gatepost_console": cookie}).post(
                path, json=attack_body(path, bodies), headers={"X-CSRF-Token": other.csrf}
            ),
            "foreign Host": booth.post(path, json=attack_body(path, bodies), headers=FOREIGN),
        }
        for how, answer in tries.items():
            if path == "/api/console/sign-on" and how == "another browser's session":
                # Signing on at one's own browser is what sign-on is for: it starts no second shift.
                assert answer.status_code == 200, answer.text
                continue
            assert answer.status_code in (401, 403, 421), (
                path,
                how,
                answer.status_code,
                answer.text,
            )
    assert refusals.total - before == len(paths) * 5 - 1
    # A signed-on guard cannot lend themselves a supervisor's authority: the PIN is asked every time.
    for pin in ("", "0000", PINS["g001"]):
        refused = booth.post(
            f"/api/console/lanes/{LANE}/free-exit",
            json=attack_body(f"/api/console/lanes/{LANE}/free-exit", bodies)
            | {"supervisor_pin": pin},
        )
        assert refused.status_code == 403
    assert lane.relay_states() == relay and lane.lane.barrier.state == "closed"
    assert (
        lane.rows(*ACTIONS, "guard_signed_on") == recorded
    )  # the other browser's sign-on started no shift
    assert (
        lane.lane.status().phase == "awaiting_payment" and lane.agent.store.is_used(serial) is False
    )

    # The setup was real: the same request from the guard's own browser is carried out.
    done = booth.post(
        f"/api/console/lanes/{LANE}/confirm-payment",
        json={"request_id": rid(), "serial": serial, "method": "cash"},
    )
    assert done.status_code == 200, done.text
    wait_for(lambda: lane.lane.barrier.state == "open", what="paid at the booth")
    assert lane.relay_states() > relay
    assert [d["guard"] for _k, d in lane.rows("payment_confirmed")] == ["g001 王强"]
    car.drive_through()


def test_the_lane_api_alone_takes_only_its_scoped_machine_token(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEPOST_LANE_TOKEN", SCRIPT_TOKEN)
    lane = start_exit_lane(
        tmp_path,
        extra={
            "[console]\n": "[console]\nserve_console = false\nmachine_token_env = "
            '"GATEPOST_LANE_TOKEN"\nmachine_token_scopes = ["manual-raise"]\n'
        },
    )
    try:
        app = lane.agent.page_app
        assert app is not None
        paths = post_routes(app, lane.client().get("/api/openapi.json").json())
        assert paths == {
            "/api/lane/confirm-payment",
            "/api/lane/lost-ticket",
            "/api/lane/manual-raise",
            "/api/lane/manual-close",
            "/api/lane/override-full",
        }
        car, serial = lane.car_with_fee()
        bodies = console_bodies(serial)
        relay = lane.relay_states()
        bearer = {"Authorization": f"Bearer {SCRIPT_TOKEN}"}
        for path in sorted(paths):
            tries = {
                "no token": lane.client().post(path, json=bodies[path]),
                "wrong token": lane.client().post(
                    path, json=bodies[path], headers={"Authorization": "Bearer nope"}
                ),
                "foreign Host": lane.client().post(
                    path, json=bodies[path], headers=bearer | FOREIGN
                ),
                "a guard's name in the body": lane.client().post(
                    path, json=bodies[path] | {"guard": "g001"}
                ),
            }
            if path != "/api/lane/manual-raise":
                tries["token outside its scope"] = lane.client().post(
                    path, json=bodies[path], headers=bearer
                )
            for how, answer in tries.items():
                assert answer.status_code in (401, 403, 421, 422), (path, how, answer.status_code)
        assert lane.relay_states() == relay and lane.rows(*ACTIONS) == []
        # In scope (a guard on duty, as the lane wants for a manual raise): carried out, audited, and
        # booked to the token, never to a name from the request.
        lane.agent.lane.set_guard_on_duty("g001 王强")
        raised = lane.client().post(
            "/api/lane/manual-raise", json={"reason": "script test"}, headers=bearer
        )
        assert raised.status_code == 200, raised.text
        wait_for(lambda: lane.lane.barrier.state == "open", what="raised by the token")
        assert lane.relay_states() > relay
        assert [d["by"] for _k, d in lane.rows("manual_raise")] == ["token:script"]
        car.drive_through()
    finally:
        lane.agent.stop()


# --------------------------------------------------------------------------- the kiosk's page


@pytest.fixture
def kiosk(tmp_path, monkeypatch):
    agent = start_kiosk(tmp_path, 1, monkeypatch, connect=False)
    yield agent
    agent.stop()


def test_every_kiosk_route_needs_its_page_token_and_host_and_reaches_no_barrier(kiosk):
    assert kiosk.page_app is not None
    visitor = Browser.at(kiosk.url).open()
    schema = visitor.get("/api/openapi.json").json()
    routes = {r.path for r in kiosk.page_app.routes if isinstance(r, Route)} | set(schema["paths"])
    assert not any(p.startswith(("/api/lane", "/api/console", "/api/cmd")) for p in routes)
    posts = {path for path, ops in schema["paths"].items() if "post" in ops}
    assert posts == {"/api/photo", "/api/check-in", "/api/invite/scan", "/api/check-out/scan"}
    other = Browser.at(kiosk.url).open()
    printed = _printed(kiosk)
    for path in sorted(posts):
        body = form() if path == "/api/check-in" else {}
        tries = {
            "no cookie, no token": Browser.at(kiosk.url).client.post(path, json=body),
            "no CSRF token": visitor.client.post(path, json=body),
            "another browser's token": visitor.client.post(
                path, json=body, headers={"X-CSRF-Token": other.csrf}
            ),
            "foreign Host": visitor.post(path, json=body, headers=FOREIGN),
            "another origin": visitor.post(
                path, json=body, headers={"Origin": "http://attacker.example"}
            ),
        }
        for how, answer in tries.items():
            assert answer.status_code in (403, 421), (path, how, answer.status_code)
    types = [row.event_type for row in kiosk.outbox.pending(limit=1000)]
    assert not [t for t in types if t.startswith("visitor_")] and _printed(kiosk) == printed
    # 20 refusals at a threshold of 10: two reports for central's alarm, nothing else.
    assert types == ["local_access_refused"] * 2 and kiosk.page_app.state.refusals.total == 20


def test_no_kiosk_route_reads_back_another_visitors_record(kiosk):
    first = Browser.at(kiosk.url).open()
    mine = first.post(
        "/api/check-in", json=form(name="Private Paula", phone="13811112222", host="Host Harry")
    )
    assert mine.status_code == 200 and mine.json()["ok"]
    stranger = Browser.at(kiosk.url).open()
    schema = stranger.get("/api/openapi.json").json()
    seen = [
        stranger.get(path).text
        for path, ops in schema["paths"].items()
        if "get" in ops and "{" not in path
    ]
    seen.append(
        stranger.post("/api/check-in", json=form(name="Other Olga", phone="13933334444")).text
    )
    seen.append(stranger.post("/api/check-out/scan").text)
    seen.append(stranger.post("/api/invite/scan").text)
    for text in seen:
        assert "Paula" not in text and "13811112222" not in text and "Harry" not in text
        assert mine.json().get("pass_qr", "§") not in text
    assert json.loads(seen[-3])[
        "ok"
    ]  # the stranger's own check-in worked, and showed only their own pass


def _printed(kiosk: Any) -> int:
    return len(kiosk.printer.captured) if kiosk.printer is not None else 0

"""Central's sign-in, attacked from other addresses against a real uvicorn server (issue 11, finding 7).

Different source addresses are real: Linux routes all of 127.0.0.0/8 to the
loopback interface, so an HTTP client bound to 127.0.0.2 really connects from
there, and the server sees that peer. What happened is judged by the
outcome: did the real admin get a working session, which address did the
audit log record, did the attacker's made-up addresses earn it more tries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from central import audit
from central.api.runtime import OpsSettings
from central.auth.models import AuthSession
from central.auth.service import create_user
from edge.wire import utc_now
from tests.central.api.harness import PASSWORD, Central, start_central
from tests.support.services import MOSQUITTO, Broker, require

PROXY = "127.0.0.9"


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[Broker]:
    require(MOSQUITTO is not None, "mosquitto")
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def central(tmp_path_factory, broker) -> Iterator[Central]:
    """Central as shipped: no trusted proxies, the cookie Secure."""
    c = start_central(tmp_path_factory.mktemp("central"), broker.port, cookie_secure=True)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, broker) -> Iterator[Central]:
    """Central behind a reverse proxy at 127.0.0.9 (GATEPOST_TRUSTED_PROXIES)."""
    c = start_central(tmp_path_factory.mktemp("proxied"), broker.port, trusted_proxies=PROXY)
    yield c
    c.stop()


def client_from(central: Central, source: str) -> httpx.Client:
    """An HTTP client whose connections leave from ``source`` (a 127.x address)."""
    return httpx.Client(
        base_url=central.url, timeout=10, transport=httpx.HTTPTransport(local_address=source)
    )


def login(client: httpx.Client, username: str, password: str, **headers: str) -> httpx.Response:
    return client.post(
        "/api/auth/login", json={"username": username, "password": password}, headers=headers
    )


def signed_in_as(client: httpx.Client, response: httpx.Response) -> str | None:
    """Who the session from ``response`` belongs to, asked of central with that session.

    The cookie is sent back by hand, as a browser does over HTTPS: httpx, like a
    browser, keeps a Secure cookie off plain http.
    """
    if response.status_code != 200:
        return None
    token = response.headers["set-cookie"].split(";", 1)[0].partition("=")[2]
    me = client.get("/api/auth/me", headers={"Cookie": f"gp_session={token}"})
    return me.json()["name"] if me.status_code == 200 else None


def login_audit(central: Central, actor: str) -> list[audit.AuditEntry]:
    with central.sessions() as db:
        return audit.entries(db, actor=actor, action="auth.login", limit=1000)


def test_twenty_wrong_passwords_from_a_stranger_do_not_lock_the_admin_out(central: Central) -> None:
    with client_from(central, "127.0.0.2") as stranger:
        codes = Counter(
            login(stranger, "admin", f"guess-{i}-xxxxxxxx").status_code for i in range(20)
        )
        # the stranger's failures cost the stranger: even the right password waits now
        refused = login(stranger, "admin", PASSWORD)
        assert signed_in_as(stranger, refused) is None and refused.status_code == 429
    assert codes == {401: 5, 429: 15}
    with client_from(central, "127.0.0.1") as admin:
        assert signed_in_as(admin, login(admin, "admin", PASSWORD)) == "admin"
    rows = login_audit(central, "admin")
    assert {r.client for r in rows if r.outcome in ("failed", "throttled")} == {"127.0.0.2"}
    assert {r.client for r in rows if r.outcome == "ok"} == {"127.0.0.1"}


def test_many_addresses_guessing_one_account_each_wait_and_the_owner_gets_in(
    central: Central,
) -> None:
    """A botnet: one guess per address stays under every per-address limit; the account's count catches it."""
    with central.sessions() as db:
        create_user(db, "li.wei", PASSWORD, "supervisor", now=utc_now(), by="test")
        db.commit()
    bots = [f"127.0.3.{i}" for i in range(1, 16)]
    for source in bots:
        with client_from(central, source) as bot:
            assert login(bot, "li.wei", f"guess-{source}-x").status_code == 401
    again: Counter[int] = Counter()
    for source in bots:
        with client_from(central, source) as bot:
            response = login(bot, "li.wei", f"again-{source}-x")
            again[response.status_code] += 1
            assert signed_in_as(bot, response) is None
    assert again == {
        429: len(bots)
    }  # past the account's free count, every address that failed waits
    with client_from(central, "127.0.4.1") as owner:
        assert signed_in_as(owner, login(owner, "li.wei", PASSWORD)) == "li.wei"


def test_forwarded_for_from_loopback_buys_no_extra_tries(tmp_path: Path, broker: Broker) -> None:
    """From 127.0.0.1 itself, which uvicorn's defaults would trust as a proxy."""
    central = start_central(tmp_path, broker.port, cookie_secure=True)
    try:
        with client_from(central, "127.0.0.1") as attacker:
            codes = Counter(
                login(
                    attacker, "sup", f"guess-{i}-xxxxxxxx", **{"X-Forwarded-For": f"198.51.100.{i}"}
                ).status_code
                for i in range(40)
            )
            right = login(attacker, "sup", PASSWORD, **{"X-Forwarded-For": "198.51.100.200"})
            assert signed_in_as(attacker, right) is None
        assert codes == {401: 5, 429: 35}
        clients = {r.client for r in login_audit(central, "sup")}
        assert clients == {"127.0.0.1"}  # the made-up addresses were never believed
    finally:
        central.stop()


def test_a_trusted_proxy_names_the_client(proxied: Central) -> None:
    with client_from(proxied, PROXY) as proxy:
        attacker = {"X-Forwarded-For": "203.0.113.66"}
        codes = Counter(
            login(proxy, "admin", f"guess-{i}-xxxxxxxx", **attacker).status_code for i in range(8)
        )
        assert codes == {401: 5, 429: 3}
        # what a client writes left of the proxy's own entry is not believed either
        spoof = {"X-Forwarded-For": "198.51.100.5, 203.0.113.66"}
        assert login(proxy, "admin", "guess-again-xxxxx", **spoof).status_code == 429
        # the real admin, behind the same proxy, from another address
        ok = login(proxy, "admin", PASSWORD, **{"X-Forwarded-For": "198.51.100.5"})
        assert signed_in_as(proxy, ok) == "admin"
    with client_from(proxied, "127.0.0.10") as direct:  # not the proxy: its header is ignored
        login(direct, "sup", "guess-direct-xxxx", **{"X-Forwarded-For": "192.0.2.1"})
    by_outcome: dict[str, set[str]] = {}
    for row in login_audit(proxied, "admin") + login_audit(proxied, "sup"):
        by_outcome.setdefault(row.outcome, set()).add(row.client)
    assert by_outcome == {
        "failed": {"203.0.113.66", "127.0.0.10"},
        "throttled": {"203.0.113.66"},
        "ok": {"198.51.100.5"},
    }
    with proxied.sessions() as db:
        assert {s.client for s in db.query(AuthSession)} >= {"198.51.100.5"}


def test_the_session_cookie_is_secure_httponly_and_strict_by_default(central: Central) -> None:
    assert OpsSettings.model_fields["cookie_secure"].default is True
    with client_from(central, "127.0.0.5") as c:
        response = login(c, "guard1", PASSWORD)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("gp_session=")
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= {
        part.strip() for part in cookie.split(";")
    }


def test_the_demo_style_central_on_plain_http_keeps_a_working_session(
    tmp_path: Path, broker: Broker
) -> None:
    """``cookie_secure = False`` (the demo, plain http on 127.0.0.1): no Secure flag, and the session works."""
    demo = start_central(tmp_path, broker.port, cookie_secure=False)
    try:
        with client_from(demo, "127.0.0.6") as c:
            response = login(c, "guard1", PASSWORD)
            assert "secure" not in {
                part.strip() for part in response.headers["set-cookie"].lower().split(";")
            }
            assert signed_in_as(c, response) == "guard1"  # the cookie came back over http
    finally:
        demo.stop()

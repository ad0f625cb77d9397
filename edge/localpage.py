"""The rules every local page of a Pi obeys (booth console, lane API, kiosk screen).

A local page is reachable by whoever shares the booth or lobby network, and a
browser can be talked into sending requests to it by any site it visits. So,
whatever the page does:

* **Host is checked.** A request whose ``Host`` is not one of the page's own
  names (the bound address, ``localhost``, ``127.0.0.1`` and the names in
  ``[console] hosts``) is refused before any route runs: a DNS-rebinding page
  cannot reach us under its own name.
* **Every POST carries a CSRF token.** Each browser gets its own random cookie
  (HttpOnly, SameSite=Strict, Secure over TLS) when it loads the page; the
  page carries the matching token in ``<meta name="csrf-token">`` and sends it
  back in the ``X-CSRF-Token`` header. Another origin can neither read the
  token nor (SameSite) send the cookie.
* **No CORS.** No ``Access-Control-*`` header is ever sent, and a POST whose
  ``Origin`` is another origin is refused.
* **Refusals are counted.** Every refused attempt is logged with its reason
  and counted; when ``alarm_threshold`` of them fall within ``alarm_window_s``
  a report goes to central (``local_access_refused``) and central raises an alarm.

The booth console adds the guard's sign-on on top (:mod:`edge.console.sessions`).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.config.schema import ConsoleSection
from edge.errors import ConfigError, GatepostError

log = logging.getLogger("gatepost.localpage")

CSRF_HEADER = "X-CSRF-Token"
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Reason = Literal["host", "origin", "csrf", "no_session", "expired", "pin", "token", "scope"]
Page = Literal["console", "lane_api", "kiosk"]

REFUSED_TEXT: dict[str, tuple[str, str]] = {
    "host": ("this page is not served under that name", "此页面不以该地址提供服务"),
    "origin": ("requests from another site are refused", "拒绝来自其他网站的请求"),
    "csrf": ("the page is out of date; reload it", "页面已过期,请刷新"),
    "no_session": ("sign on at this screen first", "请先在本屏幕上岗签到"),
    "expired": ("signed off after inactivity; sign on again", "长时间未操作已退出,请重新签到"),
    "pin": ("wrong staff ID or PIN", "员工号或密码错误"),
    "token": ("a valid machine token is required", "需要有效的机器令牌"),
    "scope": ("this machine token may not do that", "此机器令牌无权执行该操作"),
}


def host_names(bind: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names a page answers to: loopback, the bound address (unless a wildcard), ``extra``."""
    names = set(LOOPBACK) | {n.strip().lower().strip("[]") for n in extra if n.strip()}
    if bind not in WILDCARDS:
        names.add(bind.lower().strip("[]"))
    return frozenset(names)


def _host_of(value: str) -> str:
    """``name``, ``name:port``, ``[v6]:port`` → the name, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


@dataclass(frozen=True, slots=True)
class PageRules:
    """How one local page is guarded; built from the ``[console]`` section."""

    hosts: frozenset[str]
    secure_cookies: bool = False
    """True when the page is served over TLS (here, or by a reverse proxy on this Pi)."""
    alarm_threshold: int = 10
    alarm_window_s: float = 300.0

    @classmethod
    def of(cls, console: ConsoleSection) -> PageRules:
        """The rules a ``[console]`` section sets."""
        return cls(
            hosts=host_names(console.bind, console.hosts),
            secure_cookies=console.secure,
            alarm_threshold=console.refusal_alarm_threshold,
            alarm_window_s=console.refusal_window_s,
        )

    @classmethod
    def local(cls) -> PageRules:
        """Loopback only, plain HTTP: the default of a page on this Pi's own screen (and of tests)."""
        return cls(hosts=host_names("127.0.0.1"))


@dataclass
class Refusals:
    """Refused attempts at one page: logged, counted, and reported when they repeat.

    ``report`` is called (outside any lock) at most once per window with a
    summary; the agent sends it to central as a ``local_access_refused`` event.
    """

    page: Page
    threshold: int = 10
    window_s: float = 300.0
    report: Callable[[dict[str, object]], None] | None = None
    clock: Callable[[], float] = time.monotonic
    counts: Counter[str] = field(default_factory=Counter)
    _recent: deque[tuple[float, str]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def refused(self, reason: Reason, path: str, peer: str) -> None:
        log.warning(
            "local page request refused",
            extra={"page": self.page, "reason": reason, "path": path[:120], "peer": peer[:64]},
        )
        summary: dict[str, object] | None = None
        with self._lock:
            self.counts[reason] += 1
            now = self.clock()
            self._recent.append((now, reason))
            while self._recent and now - self._recent[0][0] > self.window_s:
                self._recent.popleft()
            if len(self._recent) >= self.threshold:
                reasons = Counter(r for _, r in self._recent)
                summary = {
                    "page": self.page,
                    "count": len(self._recent),
                    "window_s": int(self.window_s),
                    "reasons": dict(reasons),
                    "last_path": path[:120],
                    "last_peer": peer[:64],
                }
                self._recent.clear()
        if summary is not None:
            log.error("repeated refused requests at the %s", self.page, extra=summary)
            if self.report is not None:
                try:
                    self.report(summary)
                except Exception as exc:  # noqa: BLE001 - a report that cannot be stored must not become a 500
                    log.error("refusal report not stored: %s", exc)


def peer_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def refusal(reason: Reason, status: int) -> JSONResponse:
    en, zh = REFUSED_TEXT[reason]
    return JSONResponse(
        {"error": en, "error_zh": zh, "code": reason},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


class GuardPage:
    """ASGI middleware: Host check on every request, same-origin check on every POST; strips CORS."""

    def __init__(self, app: ASGIApp, rules: PageRules, refusals: Refusals) -> None:
        self.app = app
        self.rules = rules
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        host = _host_of(request.headers.get("host", ""))
        answer: Response | None = None
        if host not in self.rules.hosts:
            self.refusals.refused("host", request.url.path, peer_of(request))
            answer = refusal("host", 421)
        elif request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin is not None and _host_of(origin.split("://", 1)[-1]) not in self.rules.hosts:
                self.refusals.refused("origin", request.url.path, peer_of(request))
                answer = refusal("origin", 403)
        if answer is not None:
            await answer(scope, receive, send)
            return

        async def no_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-")
                ]
            await send(message)

        await self.app(scope, receive, no_cors)


class BrowserTokens:
    """A per-browser cookie and its CSRF token, for a page without sign-on (the kiosk).

    The token is an HMAC of the cookie under a key made at start-up, so nothing is
    stored per browser and a restart simply asks the page to reload.
    """

    def __init__(self, cookie: str, rules: PageRules) -> None:
        self.cookie = cookie
        self.rules = rules
        self._key = secrets.token_bytes(32)

    def token_for(self, browser: str) -> str:
        return hmac.new(self._key, browser.encode(), "sha256").hexdigest()

    def browser_of(self, request: Request) -> tuple[str, bool]:
        """This browser's cookie value, or a new one (True: set it on the response)."""
        browser = request.cookies.get(self.cookie, "")
        if 20 <= len(browser) <= 64:
            return browser, False
        return secrets.token_urlsafe(24), True

    def check(self, request: Request) -> bool:
        browser = request.cookies.get(self.cookie, "")
        sent = request.headers.get(CSRF_HEADER, "")
        return bool(browser and sent) and hmac.compare_digest(sent, self.token_for(browser))


def set_cookie(response: Response, name: str, value: str, rules: PageRules) -> None:
    """A session cookie: HttpOnly, SameSite=Strict, Secure when served over TLS, no Max-Age (browser session)."""
    response.set_cookie(
        name, value, httponly=True, samesite="strict", secure=rules.secure_cookies, path="/"
    )


class LocalRefused(GatepostError, PermissionError):
    """A request refused for want of the right (no session, bad CSRF, bad token…); counted, never acted on."""

    def __init__(self, reason: Reason, status: int = 403) -> None:
        self.reason = reason
        self.status = status
        super().__init__(REFUSED_TEXT[reason][0])


@dataclass(frozen=True, slots=True)
class MachineToken:
    """A script's credential for the lane API: a secret from the environment, limited to ``scopes``.

    Events record the action as ``token:<name>``; every use is logged with the caller's address.
    """

    name: str
    secret: str
    scopes: frozenset[str]

    def actor(self, request: Request, action: str) -> str:
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        if (
            scheme.lower() != "bearer"
            or not value
            or not hmac.compare_digest(value.strip().encode(), self.secret.encode())
        ):
            raise LocalRefused("token", 401)
        if action not in self.scopes:
            raise LocalRefused("scope", 403)
        log.warning(
            "machine token used",
            extra={"token": self.name, "action": action, "peer": peer_of(request)},
        )
        return f"token:{self.name}"[:64]


def machine_token(console: ConsoleSection, environ: Mapping[str, str]) -> MachineToken | None:
    """The lane API's machine token from ``machine_token_env`` (read at start-up), or None."""
    if console.machine_token_env is None:
        return None
    secret = environ.get(console.machine_token_env, "")
    if len(secret) < 24:
        raise ConfigError(
            f"environment variable {console.machine_token_env} (console.machine_token_env) "
            "must hold a token of at least 24 characters (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    return MachineToken("script", secret, frozenset(console.machine_token_scopes))


def install(app: FastAPI, refusals: Refusals, rules: PageRules | None) -> None:
    """Answer :class:`LocalRefused` as a counted refusal on ``app``; with ``rules``, guard Host and Origin too."""

    @app.exception_handler(LocalRefused)
    async def refused(request: Request, exc: LocalRefused) -> JSONResponse:
        refusals.refused(exc.reason, request.url.path, peer_of(request))
        return refusal(exc.reason, exc.status)

    if rules is not None:
        app.add_middleware(GuardPage, rules=rules, refusals=refusals)

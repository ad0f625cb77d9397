"""The booth console web app: one page for the guard, a JSON API behind it.

``create_console_app(lanes, roster, store, …)`` is the one function the agent
and the demo call: it builds the :class:`~edge.console.booth.Booth` for the
post and returns a FastAPI app; :func:`serve_console` runs it on a thread.

The page is server-rendered with Jinja2 (autoescaped) and filled in by
``static/console.js`` with ``textContent`` only, so a plate or a reason typed
by anyone is always shown as text.

Who acts is decided by the guard's sign-on at THIS browser, never by the
network or the request body (:mod:`edge.console.sessions`): loading the page
gives the browser its own session cookie and CSRF token; every POST must
carry both; every action needs a guard signed on in that session, and is
booked to that guard. The Host/Origin rules and the refusal count of
:mod:`edge.localpage` guard every route. A supervisor's PIN is checked on
every free exit.

    GET  /                                      the console page (sets the session cookie, carries the CSRF token)
    GET  /api/console                           post, guard on duty, who is signed on here, every lane
    GET  /api/console/shift                     the running shift's counts and expected cash (signed on)
    POST /api/console/sign-on                   {request_id, staff_id+pin | badge | use_reader}
    POST /api/console/sign-off                  {request_id}
    POST /api/console/close-shift               {request_id, declared_cash, incoming…, unattended}
    POST /api/console/lanes/{lane}/{action}     confirm-payment, lost-card, free-exit, manual-raise,
                                                manual-close, override-full, incident, reprint

Refusals answer ``{"error": English, "error_zh": 中文, "code": …}`` with 401
(nobody signed on at this browser), 403 (bad CSRF token, wrong PIN), 409 (stale
page, lane refuses), 421 (foreign Host), 422 (bad input), 429 (PIN throttled)
or 503 (cannot record); none of them moves a barrier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from edge.console.booth import Booth, ConsoleRefused
from edge.console.guards import Guard, GuardRoster
from edge.console.sessions import BrowserSession, Sessions
from edge.console.store import ConsoleStore
from edge.console.voice import Voice
from edge.lane.lane import Lane
from edge.localpage import CSRF_HEADER, LocalRefused, PageRules, Refusals, install, set_cookie
from edge.serve import RunningApp, serve_local
from edge.wire import format_ts

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger("gatepost.console.app")

HERE = Path(__file__).parent
STATIC = HERE / "static"
_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
COOKIE = "gatepost_console"
IDLE_S = 15 * 60
"""A signed-on guard is signed off at this browser after this long without an action."""
MAX_BODY = 64 * 1024
"""A console request is a few fields; anything bigger is refused before it is parsed."""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@cache
def _templates() -> Environment:
    # Jinja2 is loaded at the first page render: a lane whose booth screen is never opened
    # never pays its memory (the Pi's idle budget is 60 MB).
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


Text = Field(
    default="", max_length=20_000
)  # long text reaches the booth's own, bilingual length check


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(max_length=64)


class SignOn(_Body):
    """ID + PIN, or the badge just shown at the booth's own reader (``use_reader``).

    A badge number typed into a request proves nothing (badge numbers are printed and
    readable by any RFID reader), so there is no ``badge`` field here."""

    staff_id: str = Field(default="", max_length=64)
    pin: str = Field(default="", max_length=64)
    use_reader: bool = False


class CloseShift(_Body):
    declared_cash: str | int = Field(max_length=32)
    incoming_staff_id: str = Field(default="", max_length=64)
    incoming_pin: str = Field(default="", max_length=64)
    use_reader: bool = False
    unattended: bool = False


class Payment(_Body):
    serial: str = Field(max_length=64)
    method: Literal["cash", "epay"] = "cash"
    reference: str = Text


class LostCard(_Body):
    plate: str = Text
    vehicle_class: str = Field(default="car", max_length=32)


class FreeExitBody(_Body):
    serial: str = Field(max_length=64)
    reason: str = Text
    supervisor_id: str = Field(default="", max_length=64)
    supervisor_pin: str = Field(default="", max_length=64)


class ReasonBody(_Body):
    reason: str = Text


class IncidentBody(_Body):
    kind: str = Field(max_length=32)
    description: str = Text
    plate: str = Field(default="", max_length=64)


class _LimitBody(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            log.warning(
                "console request body too large", extra={"path": request.url.path, "length": length}
            )
            return JSONResponse(
                {"error": "request too large", "error_zh": "请求内容过大", "code": "too_large"},
                status_code=413,
            )
        return await call_next(request)


def create_console_app(
    lanes: Sequence[Lane],
    roster: GuardRoster,
    store: ConsoleStore,
    *,
    post: str,
    site: str,
    clock: Callable[[], datetime],
    printer: Any = None,
    voice: Voice | None = None,
    receipt_key: bytes = b"",
    currency: str = "CNY",
    language: Literal["zh-CN", "en"] = "zh-CN",
    snapshot_dirs: dict[str, Path] | None = None,
    rules: PageRules | None = None,
    idle_s: float = IDLE_S,
    refusals: Refusals | None = None,
) -> FastAPI:
    """The console of one post running ``lanes``; ``app.state.booth`` is its :class:`Booth`.

    ``rules``: Host names and cookie flags (default: loopback, plain HTTP); ``refusals``: where
    refused attempts are counted and reported (default: counted and logged only).
    """
    booth = Booth(
        lanes,
        roster,
        store,
        post=post,
        site=site,
        clock=clock,
        printer=printer,
        voice=voice,
        receipt_key=receipt_key,
        currency=currency,
        snapshot_dirs=snapshot_dirs,
    )
    return console_for(booth, language=language, rules=rules, idle_s=idle_s, refusals=refusals)


def console_for(
    booth: Booth,
    *,
    language: Literal["zh-CN", "en"] = "zh-CN",
    rules: PageRules | None = None,
    idle_s: float = IDLE_S,
    refusals: Refusals | None = None,
) -> FastAPI:
    """The web app around an existing :class:`Booth`; ``app.state.sessions`` / ``.refusals`` for the agent."""
    rules = rules or PageRules.local()
    refusals = refusals or Refusals("console", rules.alarm_threshold, rules.alarm_window_s)
    sessions = Sessions(idle_s)
    # The API docs load Swagger UI from the Pi itself (fastapi-offline), not from a CDN.
    app = FastAPIOffline(
        title=f"Gatepost booth console {booth.post}",
        version="1",
        docs_url="/api/console/docs",
        openapi_url="/api/console/openapi.json",
        redoc_url=None,
        static_url="/api/console/docs-assets",
    )
    app.state.booth = booth
    app.state.sessions = sessions
    app.state.refusals = refusals
    app.state.rules = rules
    app.add_middleware(_LimitBody)
    install(app, refusals, rules)

    def browser(request: Request) -> BrowserSession:
        """This browser's session; a POST must also carry its CSRF token."""
        session = sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise LocalRefused("no_session", 401)
        if request.method == "POST" and not sessions.csrf_ok(
            session, request.headers.get(CSRF_HEADER)
        ):
            raise LocalRefused("csrf", 403)
        return session

    def signed_on(request: Request) -> BrowserSession:
        """This browser's session with a guard signed on in it (an action refreshes its idle time)."""
        session = browser(request)
        if session.guard is None:
            raise LocalRefused("expired" if session.last_action else "no_session", 401)
        if request.method == "POST":
            sessions.touch(session)
        return session

    def guard_of(request: Request) -> Guard:
        guard = signed_on(request).guard
        assert guard is not None
        return guard

    app.state.actor = lambda request: guard_of(request).label

    @app.exception_handler(ConsoleRefused)
    async def refused(request: Request, exc: ConsoleRefused) -> JSONResponse:
        if exc.code == "pin":
            refusals.refused(
                "pin", request.url.path, request.client.host if request.client else "?"
            )
        return JSONResponse(
            {"error": str(exc), "error_zh": exc.zh, "code": exc.code}, status_code=exc.status
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        log.info("console request invalid", extra={"path": request.url.path, "where": where})
        return JSONResponse(
            {
                "error": f"invalid request: {where} {first.get('msg', '')}".strip(),
                "error_zh": f"请求内容无效:{where}",
                "code": "invalid",
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        log.info(
            "console request failed", extra={"path": request.url.path, "status": exc.status_code}
        )
        zh = {400: "请求内容无效(不是JSON)", 404: "未找到"}.get(exc.status_code, "请求失败")
        return JSONResponse(
            {"error": str(exc.detail), "error_zh": zh, "code": "http"}, status_code=exc.status_code
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request) -> HTMLResponse:
        session = sessions.get(request.cookies.get(COOKIE))
        fresh = session is None
        if session is None:
            session = sessions.new()
        html = (
            _templates()
            .get_template("console.html")
            .render(post=booth.post, lanes=list(booth.lanes), language=language, csrf=session.csrf)
        )
        response = HTMLResponse(html, headers=SECURITY_HEADERS)
        if fresh:
            set_cookie(response, COOKIE, session.id, rules)
        return response

    @app.get("/static/console/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = STATIC / name
        if path.suffix not in _STATIC_TYPES or path.parent != STATIC or not path.is_file():
            raise HTTPException(404, "not found")
        return FileResponse(
            path,
            media_type=_STATIC_TYPES[path.suffix],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    @app.get("/api/console")
    def view(session: BrowserSession = Depends(browser)) -> dict[str, Any]:
        """What this browser may see: the lanes only while a guard is signed on here."""
        guard = session.guard
        me = (
            None
            if guard is None
            else {"guard": guard.label, "staff_id": guard.staff_id, "role": guard.role}
        )
        if guard is None:
            return {
                "post": booth.post,
                "site": booth.site,
                "now": format_ts(booth.clock()),
                "duty": booth.duty(),
                "me": None,
                "lanes": [],
            }
        return booth.view() | {"me": me}

    @app.get("/api/console/shift")
    def shift(session: BrowserSession = Depends(signed_on)) -> dict[str, Any]:
        return booth.shift_totals()

    @app.get("/api/console/lanes/{lane}/snapshot/{name}", include_in_schema=False)
    def snapshot(
        lane: str, name: str, session: BrowserSession = Depends(signed_on)
    ) -> FileResponse:
        path = booth.snapshot_path(lane, name)
        if path is None:
            raise HTTPException(404, "no such snapshot")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    @app.post("/api/console/sign-on")
    def sign_on(
        body: SignOn, request: Request, session: BrowserSession = Depends(browser)
    ) -> JSONResponse:
        answer = booth.sign_on(
            body.request_id, staff_id=body.staff_id, pin=body.pin, use_reader=body.use_reader
        )
        guard = booth.roster.get(str(answer.get("signed_on") or ""))
        if answer.get("repeat") or guard is None:
            # A repeated request id proves nothing about who is at this browser now.
            return JSONResponse(answer | {"csrf": session.csrf})
        fresh = sessions.sign_on(session, guard)
        log.info(
            "guard signed on at a browser",
            extra={"guard": guard.label, "peer": request.client.host if request.client else "?"},
        )
        response = JSONResponse(answer | {"csrf": fresh.csrf})
        set_cookie(response, COOKIE, fresh.id, rules)
        return response

    @app.post("/api/console/sign-off")
    def sign_off(body: _Body, session: BrowserSession = Depends(signed_on)) -> dict[str, Any]:
        guard, session.guard, session.last_action = session.guard, None, 0.0
        log.info("guard signed off at a browser", extra={"guard": guard.label if guard else None})
        return {"ok": True}

    @app.post("/api/console/close-shift")
    def close(body: CloseShift, session: BrowserSession = Depends(signed_on)) -> JSONResponse:
        guard = session.guard
        assert guard is not None
        answer = booth.close_shift(
            body.request_id,
            by=guard,
            declared_cash=body.declared_cash,
            incoming_staff_id=body.incoming_staff_id,
            incoming_pin=body.incoming_pin,
            use_reader=body.use_reader,
            unattended=body.unattended,
        )
        if answer.get("repeat"):
            return JSONResponse(answer)
        # The outgoing guard's shift is over at every browser. The incoming guard just proved
        # their PIN (or badge) at this browser: it is theirs now; their other browsers sign on.
        sessions.sign_off_staff(guard.staff_id)
        incoming = booth.roster.get(str((answer.get("duty") or {}).get("staff_id") or ""))
        if incoming is None:
            return JSONResponse(answer)
        fresh = sessions.sign_on(session, incoming)
        response = JSONResponse(answer | {"csrf": fresh.csrf})
        set_cookie(response, COOKIE, fresh.id, rules)
        return response

    @app.post("/api/console/lanes/{lane}/confirm-payment")
    def confirm_payment(lane: str, body: Payment, by: Guard = Depends(guard_of)) -> dict[str, Any]:
        return booth.confirm_payment(
            body.request_id,
            lane,
            by=by,
            serial=body.serial,
            method=body.method,
            reference=body.reference,
        )

    @app.post("/api/console/lanes/{lane}/lost-card")
    def lost_card(lane: str, body: LostCard, by: Guard = Depends(guard_of)) -> dict[str, Any]:
        return booth.lost_card(
            body.request_id, lane, by=by, plate=body.plate, vehicle_class=body.vehicle_class
        )

    @app.post("/api/console/lanes/{lane}/free-exit")
    def free_exit(lane: str, body: FreeExitBody, by: Guard = Depends(guard_of)) -> dict[str, Any]:
        return booth.free_exit(
            body.request_id,
            lane,
            by=by,
            serial=body.serial,
            reason=body.reason,
            supervisor_id=body.supervisor_id,
            supervisor_pin=body.supervisor_pin,
        )

    @app.post("/api/console/lanes/{lane}/manual-raise")
    def manual_raise(lane: str, body: ReasonBody, by: Guard = Depends(guard_of)) -> dict[str, Any]:
        return booth.manual_raise(body.request_id, lane, by=by, reason=body.reason)

    @app.post("/api/console/lanes/{lane}/manual-close")
    def manual_close(lane: str, body: ReasonBody, by: Guard = Depends(guard_of)) -> dict[str, Any]:
        return booth.manual_close(body.request_id, lane, by=by, reason=body.reason)

    @app.post("/api/console/lanes/{lane}/override-full")
    def override_full(lane: str, body: ReasonBody, by: Guard = Depends(guard_of)) -> dict[str, Any]:
        return booth.override_full(body.request_id, lane, by=by, reason=body.reason)

    @app.post("/api/console/lanes/{lane}/incident")
    def incident(lane: str, body: IncidentBody, by: Guard = Depends(guard_of)) -> dict[str, Any]:
        return booth.incident(
            body.request_id,
            lane,
            by=by,
            kind=body.kind,
            description=body.description,
            plate=body.plate,
        )

    @app.post("/api/console/lanes/{lane}/reprint")
    def reprint(lane: str, body: _Body, by: Guard = Depends(guard_of)) -> dict[str, Any]:
        return booth.reprint(body.request_id, lane, by=by)

    return app


def serve_console(
    app: FastAPI, host: str, port: int, certfile: str | None = None, keyfile: str | None = None
) -> RunningApp:
    """The guard's console (or a lane's JSON API) on its own thread: see :func:`edge.serve.serve_local`."""
    return serve_local(app, host, port, what="booth console", certfile=certfile, keyfile=keyfile)

"""The kiosk's local touchscreen web UI: one page, a few JSON calls, served on the Pi.

The page (Jinja2, autoescaped) and its plain JS/CSS live beside this module.
The JS builds every screen with ``textContent``, never ``innerHTML``, and the
Content-Security-Policy allows only this origin's script, so a visitor's
name is never markup. A form for another site, a malformed body or a double
tap each get a clear answer; none of them reach the outbox twice.

The visitor flow needs no sign-on, but the page follows the rules of every
local page (:mod:`edge.localpage`): Host checked, a per-browser CSRF token on
every POST, no CORS, refusals counted and reported. Nothing here moves a
barrier (the kiosk has none), and no route reads back another visitor's
record: a check-in answers with that visitor's own pass only, and the scans
answer with what the camera sees at the kiosk now.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from edge.kiosk.desk import Kiosk, KioskError
from edge.kiosk.visit import VisitorForm
from edge.localpage import BrowserTokens, LocalRefused, PageRules, Refusals, install, set_cookie

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_LOOSE = 20_000
"""Fields are taken loosely here (up to 20 kB) so the kiosk can say exactly what is wrong."""


class CheckInRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    submission_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    site: str = Field(max_length=64)
    category: str = Field(max_length=32)
    name: str = Field(default="", max_length=_LOOSE)
    phone: str | None = Field(default=None, max_length=_LOOSE)
    host: str | None = Field(default=None, max_length=_LOOSE)
    unit: str | None = Field(default=None, max_length=_LOOSE)
    purpose: str | None = Field(default=None, max_length=_LOOSE)
    party_size: int | str | None = Field(default=1)
    agency: str | None = Field(default=None, max_length=_LOOSE)
    pass_number: str | None = Field(default=None, max_length=_LOOSE)
    company: str | None = Field(default=None, max_length=_LOOSE)
    work_order: str | None = Field(default=None, max_length=_LOOSE)
    consent: bool = False
    photo_id: str | None = Field(default=None, max_length=64)


COOKIE = "gatepost_kiosk"


def create_kiosk_app(
    kiosk: Kiosk,
    *,
    language: str,
    idle_reset_s: int,
    take_photo: bool,
    rules: PageRules | None = None,
    refusals: Refusals | None = None,
) -> FastAPI:
    """The kiosk screen; ``app.state.refusals`` counts refused requests (see :mod:`edge.localpage`)."""
    rules = rules or PageRules.local()
    refusals = refusals or Refusals("kiosk", rules.alarm_threshold, rules.alarm_window_s)
    tokens = BrowserTokens(COOKIE, rules)
    # The OpenAPI document is served only to tests and tools on this Pi's loopback, like every route.
    app = FastAPI(
        title="Gatepost kiosk", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json"
    )
    app.state.refusals = refusals
    install(app, refusals, rules)

    def csrf(request: Request) -> None:
        if not tokens.check(request):
            raise LocalRefused("csrf", 403)

    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )
    settings = kiosk.settings
    static_files = {p.name for p in STATIC.iterdir() if p.suffix in _TYPES}

    @app.exception_handler(KioskError)
    async def kiosk_error(request: Request, exc: KioskError) -> JSONResponse:
        return JSONResponse(exc.answer(), status_code=exc.status, headers=HEADERS)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        log.warning(
            "kiosk: bad request to %s: %s %s", request.url.path, where, first.get("msg", "")
        )
        return JSONResponse(
            jsonable_encoder(
                {
                    "ok": False,
                    "error": "bad_request",
                    "field": where or None,
                    "message": {
                        "zh": "请求无效,请重试",
                        "en": f"Invalid request ({where or 'body'}): please try again",
                    },
                }
            ),
            status_code=422,
            headers=HEADERS,
        )

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        browser, fresh = tokens.browser_of(request)
        html = templates.get_template("kiosk.html").render(
            site=settings.site,
            device=settings.device,
            site_name=settings.site_name,
            language=language,
            idle_reset_s=idle_reset_s,
            take_photo=take_photo,
            csrf=tokens.token_for(browser),
        )
        response = HTMLResponse(html, headers=HEADERS)
        if fresh:
            set_cookie(response, COOKIE, browser, rules)
        return response

    @app.get("/static/{name}")
    def static(name: str) -> FileResponse:
        if name not in static_files:
            raise HTTPException(404, "not found")
        path = STATIC / name
        return FileResponse(
            path, media_type=_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
        )

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {
            "ok": True,
            "site": settings.site,
            "device": settings.device,
            "outbox_depth": kiosk.outbox.depth,
            "storage": kiosk.storage.status()["storage"],
        }

    @app.post("/api/photo", dependencies=[Depends(csrf)])
    def photo() -> JSONResponse:
        answer = kiosk.take_photo()
        return JSONResponse(answer, headers=HEADERS)

    @app.post("/api/check-in", dependencies=[Depends(csrf)])
    def submit(body: CheckInRequest) -> JSONResponse:
        if body.site != settings.site:
            log.warning("kiosk: check-in for site %r refused at %s", body.site[:64], settings.site)
            raise KioskError(
                "wrong_site",
                "此登记不属于本小区",
                f"This kiosk serves {settings.site}, not another site",
                409,
            )
        form = VisitorForm(
            category=body.category,
            name=body.name,
            phone=body.phone,
            host=body.host,
            unit=body.unit,
            purpose=body.purpose,
            party_size=body.party_size,
            agency=body.agency,
            pass_number=body.pass_number,
            company=body.company,
            work_order=body.work_order,
            consent=body.consent,
        )
        answer = kiosk.check_in(body.submission_id, form, body.photo_id)
        return JSONResponse(answer, status_code=200 if answer.get("ok") else 403, headers=HEADERS)

    @app.post("/api/invite/scan", dependencies=[Depends(csrf)])
    def invite() -> JSONResponse:
        answer = kiosk.scan_invite()
        return JSONResponse(answer, status_code=200 if answer.get("ok") else 403, headers=HEADERS)

    @app.post("/api/check-out/scan", dependencies=[Depends(csrf)])
    def check_out() -> JSONResponse:
        return JSONResponse(kiosk.scan_checkout(), headers=HEADERS)

    return app

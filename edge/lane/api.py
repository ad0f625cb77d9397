"""The lane's small local HTTP API for the booth console (岗亭).

Every route maps onto one ``Lane`` method, so the button on the console and
the physical booth button take the same path and are audited the same way.

Nobody acts here without the right (DESIGN §4). A POST is carried out only for

* a guard signed on at THIS browser of the booth console this API is mounted
  in (session cookie + CSRF token, checked by the console's ``actor``), or
* a script holding the lane's machine token (``Authorization: Bearer``; the
  secret comes from the environment variable ``[console] machine_token_env``,
  limited to ``machine_token_scopes``; every use is logged).

Who acted is that guard or ``token:<name>``, never a name in the body (a body
naming a ``guard`` is refused). The page's Host/Origin rules
(:mod:`edge.localpage`) apply before any of this.

    GET  /api/lane                      state, fee due, message, occupancy, clock trust
    POST /api/lane/confirm-payment      {method: cash|epay, reference}
    POST /api/lane/lost-ticket          {plate, vehicle_class}
    POST /api/lane/manual-raise         {reason}
    POST /api/lane/manual-close         {reason}
    POST /api/lane/override-full        {reason}

Without the right: 401/403 (counted, see :class:`edge.localpage.Refusals`). A
refused request (no reason, nothing due, a car under the barrier) answers 409
with ``{"error": English, "error_zh": 中文}``; a body that is not JSON answers
400, one that does not fit the model 422. None of them moves the barrier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field

from edge.errors import GatepostError
from edge.lane.lane import Lane
from edge.lane.machine import LaneRefused
from edge.localpage import LocalRefused, MachineToken

Actor = Callable[[Request], str]
"""Who a request acts for (a signed-on guard's label); raises :class:`LocalRefused` otherwise."""

log = logging.getLogger("gatepost.lane.api")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ConfirmPayment(_Body):
    method: Literal["cash", "epay"] = "cash"
    reference: str = Field(default="", max_length=64)


class LostTicketBody(_Body):
    plate: str = Field(min_length=1, max_length=16)
    vehicle_class: str = Field(default="car", min_length=1, max_length=32)


class ReasonBody(_Body):
    reason: str = Field(min_length=1, max_length=500)


def create_booth_api(
    lane: Lane, *, actor: Actor | None = None, token: MachineToken | None = None
) -> FastAPI:
    """The booth API of one lane (one app per lane; a two-lane booth runs two).

    ``actor``: the console's signed-on guard at this browser; ``token``: the scripts' machine token.
    With neither, every POST is refused. Install :func:`edge.localpage.install` on the served app.
    """
    # The API docs load Swagger UI from the Pi itself (fastapi-offline), not from a CDN.
    app = FastAPIOffline(
        title=f"Gatepost lane {lane.name}",
        version="1",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        static_url="/api/docs-assets",
    )

    def who(action: str) -> Callable[[Request], str]:
        def check(request: Request) -> str:
            if request.headers.get("authorization") is not None:
                if token is None:
                    raise LocalRefused("token", 401)
                return token.actor(request, action)
            if actor is None:
                raise LocalRefused("token" if token is not None else "no_session", 401)
            return actor(request)

        return check

    @app.exception_handler(LaneRefused)
    async def refused(request: Request, exc: LaneRefused) -> JSONResponse:
        log.info("booth request refused", extra={"path": request.url.path, "why": str(exc)})
        return JSONResponse({"error": str(exc), "error_zh": exc.zh}, status_code=409)

    @app.exception_handler(GatepostError)
    async def failed(request: Request, exc: GatepostError) -> JSONResponse:
        log.error("booth request failed", extra={"path": request.url.path, "why": str(exc)})
        return JSONResponse({"error": str(exc)}, status_code=503)

    @app.get("/api/lane")
    def state() -> dict[str, Any]:
        status = asdict(lane.status())
        status["phase"] = str(status["phase"])
        return status

    @app.post("/api/lane/confirm-payment")
    def confirm_payment(
        body: ConfirmPayment, by: str = Depends(who("confirm-payment"))
    ) -> dict[str, Any]:
        lane.payment_received(body.method, body.reference, by=by)
        return {"ok": True, "state": str(lane.status().phase)}

    @app.post("/api/lane/lost-ticket")
    def lost_ticket(body: LostTicketBody, by: str = Depends(who("lost-ticket"))) -> dict[str, Any]:
        lane.lost_ticket(body.plate, by=by, vehicle_class=body.vehicle_class)
        status = lane.status()
        return {
            "ok": True,
            "state": str(status.phase),
            "fee_due_minor": status.fee_due_minor,
            "serial": status.serial,
        }

    @app.post("/api/lane/manual-raise")
    def manual_raise(body: ReasonBody, by: str = Depends(who("manual-raise"))) -> dict[str, Any]:
        lane.manual_raise(body.reason, by=by)
        return {"ok": True, "state": str(lane.status().phase)}

    @app.post("/api/lane/manual-close")
    def manual_close(body: ReasonBody, by: str = Depends(who("manual-close"))) -> dict[str, Any]:
        lane.manual_close(body.reason, by=by)
        return {"ok": True, "state": str(lane.status().phase)}

    @app.post("/api/lane/override-full")
    def override_full(body: ReasonBody, by: str = Depends(who("override-full"))) -> dict[str, Any]:
        lane.override_full(body.reason, by=by)
        return {"ok": True, "state": str(lane.status().phase)}

    return app

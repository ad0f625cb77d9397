"""The lane's small local HTTP API for the booth console (岗亭).

The booth console (a browser or tablet in the booth) shows the lane state and
sends the guard's decisions. Every route maps onto one ``Lane`` method, so the
button on the console and the physical booth button take the same path and
are audited the same way. Bind it to the booth network only ([console] bind);
it carries no login of its own in this version.

    GET  /api/lane                      state, fee due, message, occupancy, clock trust
    POST /api/lane/confirm-payment      {method: cash|epay, reference, guard}
    POST /api/lane/lost-ticket          {plate, vehicle_class, guard}
    POST /api/lane/manual-raise         {reason, guard}
    POST /api/lane/manual-close         {reason, guard}
    POST /api/lane/override-full        {reason, guard}

A refused request (no reason, nothing due, a car under the barrier) answers
409 with ``{"error": English, "error_zh": 中文}``; a body that is not JSON answers 400,
one that does not fit the model 422. Neither moves the barrier.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field

from edge.errors import GatepostError
from edge.lane.lane import Lane
from edge.lane.machine import LaneRefused

log = logging.getLogger("gatepost.lane.api")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    guard: str = Field(default="booth", min_length=1, max_length=64)


class ConfirmPayment(_Body):
    method: Literal["cash", "epay"] = "cash"
    reference: str = Field(default="", max_length=64)


class LostTicketBody(_Body):
    plate: str = Field(min_length=1, max_length=16)
    vehicle_class: str = Field(default="car", min_length=1, max_length=32)


class ReasonBody(_Body):
    reason: str = Field(min_length=1, max_length=500)


def create_booth_api(lane: Lane) -> FastAPI:
    """The booth API of one lane (one app per lane; a two-lane booth runs two)."""
    # The API docs load Swagger UI from the Pi itself (fastapi-offline), not from a CDN.
    app = FastAPIOffline(title=f"Gatepost lane {lane.name}", version="1", docs_url="/api/docs",
                         openapi_url="/api/openapi.json", redoc_url=None, static_url="/api/docs-assets")

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
    def confirm_payment(body: ConfirmPayment) -> dict[str, Any]:
        lane.payment_received(body.method, body.reference, by=body.guard)
        return {"ok": True, "state": str(lane.status().phase)}

    @app.post("/api/lane/lost-ticket")
    def lost_ticket(body: LostTicketBody) -> dict[str, Any]:
        lane.lost_ticket(body.plate, by=body.guard, vehicle_class=body.vehicle_class)
        status = lane.status()
        return {"ok": True, "state": str(status.phase), "fee_due_minor": status.fee_due_minor,
                "serial": status.serial}

    @app.post("/api/lane/manual-raise")
    def manual_raise(body: ReasonBody) -> dict[str, Any]:
        lane.manual_raise(body.reason, by=body.guard)
        return {"ok": True, "state": str(lane.status().phase)}

    @app.post("/api/lane/manual-close")
    def manual_close(body: ReasonBody) -> dict[str, Any]:
        lane.manual_close(body.reason, by=body.guard)
        return {"ok": True, "state": str(lane.status().phase)}

    @app.post("/api/lane/override-full")
    def override_full(body: ReasonBody) -> dict[str, Any]:
        lane.override_full(body.reason, by=body.guard)
        return {"ok": True, "state": str(lane.status().phase)}

    return app

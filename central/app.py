"""The central web app: a small FastAPI shell that the API and dashboard routers plug into.

``create_app`` wires settings, the database and (optionally) the ingest
service onto ``app.state`` and includes every router named in
:data:`ROUTERS`. Parts add one line there; nothing else here needs to change.

``app.state`` offers:

- ``settings`` (:class:`central.settings.Settings`), ``engine``, ``sessions`` (sessionmaker)
- ``ingest`` (:class:`central.ingest.service.IngestService` or None when run with ``--no-ingest``)
- ``commit_hooks`` (:class:`central.ingest.hooks.CommitHooks`): register ``on_committed(report)``
  listeners here; they fire after every ingest commit in this process.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from central.db.session import make_engine, make_sessions
from central.ingest.hooks import CommitHooks
from central.ingest.service import IngestService
from central.integrations.home_assistant import install as install_home_assistant
from central.metrics import install as install_metrics
from central.settings import Settings, load_settings
from edge import __version__

log = logging.getLogger(__name__)

ROUTERS: list[str] = ["central.api.runtime:router", "central.visitors.router:router"]
"""``"module:attribute"`` of each APIRouter to include, in order (e.g. ``"central.api.events:router"``)."""


def server_config(app: FastAPI, host: str, port: int, **kwargs: Any) -> uvicorn.Config:
    """uvicorn's config for central, with uvicorn's own proxy-header handling off.

    uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, which let
    any local process (or a proxy passing the header through) pick its address
    for the sign-in throttle. Central decides itself, from
    ``GATEPOST_TRUSTED_PROXIES`` (:mod:`central.auth.proxies`), so every way of
    serving it (``central run``, the demo, the tests) goes through here.
    """
    return uvicorn.Config(app, host=host, port=port, proxy_headers=False, **kwargs)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    ingest: IngestService | None = None,
) -> FastAPI:
    """Build the app. Ingest, when given, starts and stops with the app's lifespan."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.db_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if ingest is not None:
            ingest.start(wait_s=None)
        try:
            yield
        finally:
            if ingest is not None:
                ingest.stop()

    # /docs loads Swagger UI from this app (fastapi-offline), not from a CDN that a site network may
    # not reach. No /redoc: ReDoc still fetches its logo from its CDN.
    app = FastAPIOffline(
        title="Gatepost central",
        version=__version__,
        lifespan=lifespan,
        redoc_url=None,
        static_url="/static-api-docs",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessions(engine)
    app.state.ingest = ingest
    app.state.commit_hooks = ingest.hooks if ingest is not None else CommitHooks()
    install_metrics(app)  # /metrics, fed by the commit hooks above
    install_home_assistant(app)  # only with GATEPOST_HA_DISCOVERY=true

    @app.get("/healthz", tags=["ops"])
    def healthz() -> JSONResponse:
        """Liveness for systemd/load balancers: the database answers; ingest is connected (if running)."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            db_ok = True
        except SQLAlchemyError as exc:
            log.error("health check: database unreachable", extra={"error": str(exc)[:200]})
            db_ok = False
        broker = None if ingest is None else ingest.connected
        ok = db_ok and broker is not False
        return JSONResponse(
            {"ok": ok, "db": db_ok, "broker": broker}, status_code=200 if ok else 503
        )

    for spec in ROUTERS:
        module_name, _, attr = spec.partition(":")
        app.include_router(getattr(importlib.import_module(module_name), attr))
    return app

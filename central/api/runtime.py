"""Start and stop everything the API and dashboard need beside the HTTP server.

Startup, in order: the broker link for commands and config (publishes, and
hears the lanes' ``cmd_result``), the alarm monitor, the live feed (which
becomes an ingest ``on_committed`` listener). :meth:`OpsRuntime.stop` undoes
it in reverse. :func:`install` puts the routers and the shared
:class:`~central.api.context.Ops` on a FastAPI app.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session, sessionmaker

from central.alarms.kinds import AlarmThresholds
from central.alarms.monitor import AlarmMonitor
from central.api import ROUTERS
from central.api.context import Ops
from central.api.devices import device_dicts
from central.auth.proxies import Network, parse_networks
from central.dashboard.feed import EventTail, LiveFeed
from central.ingest.service import broker_connection
from central.mqtt import MqttLink
from edge.wire import ALL_CMD_RESULTS, utc_now

log = logging.getLogger(__name__)


class OpsSettings(BaseSettings):
    """Dashboard, auth and alarm settings (``GATEPOST_…``), beside central's own Settings."""

    model_config = SettingsConfigDict(
        env_prefix="GATEPOST_", env_file=".env", extra="ignore", frozen=True
    )

    cookie_secure: bool = Field(
        default=True,
        description=(
            "The session cookie is Secure: browsers send it only over HTTPS (serve central behind a TLS proxy). "
            "Set false only for a demo on plain http://127.0.0.1."
        ),
    )
    trusted_proxies: str = Field(
        default="",
        description=(
            "Comma-separated addresses or networks of the reverse proxies in front of central (e.g. "
            "'127.0.0.1' or '10.0.0.0/24'). Only from these is X-Forwarded-For believed, for sign-in "
            "throttling and the audit log; default none: the socket's peer is the client."
        ),
    )
    site_tz: str = Field(
        default="Asia/Shanghai",
        description="The property's time zone: a report's day is local midnight to midnight.",
    )
    default_language: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
    alarm_tick_s: float = Field(default=1.0, gt=0, le=60)
    alarm_heartbeat_timeout_s: int = Field(default=95, ge=5, le=3600)
    alarm_barrier_open_max_s: int = Field(default=120, ge=1, le=86_400)
    alarm_outbox_raise_depth: int = Field(default=500, ge=1)
    alarm_outbox_clear_depth: int = Field(default=10, ge=0)
    alarm_outbox_oldest_s: int = Field(default=300, ge=1)
    alarm_clock_skew_max_ms: int = Field(default=5000, ge=100)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    def thresholds(self) -> AlarmThresholds:
        return AlarmThresholds(
            heartbeat_timeout_s=self.alarm_heartbeat_timeout_s,
            barrier_open_max_s=self.alarm_barrier_open_max_s,
            outbox_raise_depth=self.alarm_outbox_raise_depth,
            outbox_clear_depth=self.alarm_outbox_clear_depth,
            outbox_oldest_s=self.alarm_outbox_oldest_s,
            clock_skew_max_ms=self.alarm_clock_skew_max_ms,
        )


class OpsRuntime:
    """The moving parts behind the API: broker link, alarm monitor, live feed."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        link: Any | None = None,
        hooks: Any | None = None,
        settings: OpsSettings | None = None,
        clock: Callable[..., Any] = utc_now,
        tail: bool = False,
    ) -> None:
        """``tail``: follow the events table instead of ingest's hook (ingest runs in another process)."""
        self.settings = settings or OpsSettings()
        self.link = link
        self.hooks = hooks
        self.ops = Ops(
            sessions=sessions,
            publish=self._publish if link is not None else None,
            clock=clock,
            thresholds=self.settings.thresholds(),
            cookie_secure=self.settings.cookie_secure,
            trusted_proxies=self.settings.proxy_networks,
            default_language=self.settings.default_language,
            site_tz=self.settings.site_tz,
        )
        self.monitor = AlarmMonitor(
            sessions,
            self.ops.hub,
            thresholds=self.ops.thresholds,
            clock=clock,
            interval_s=self.settings.alarm_tick_s,
        )
        self.feed = LiveFeed(
            sessions, self.ops.hub, self.monitor, clock=clock, device_dicts=device_dicts
        )
        self.tail = EventTail(sessions, self.feed, clock=clock) if tail else None
        self._remove_hook: Callable[[], None] | None = None

    @classmethod
    def from_settings(
        cls,
        central_settings: Any,
        sessions: sessionmaker[Session],
        hooks: Any | None = None,
        ops_settings: OpsSettings | None = None,
        *,
        tail: bool = False,
    ) -> OpsRuntime:
        """Build with a broker link of its own (login and client id ``<login>.ops``, see ``broker_connection``)."""
        link = MqttLink(*broker_connection(central_settings, "ops", per_process=True))
        return cls(sessions, link=link, hooks=hooks, settings=ops_settings, tail=tail)

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        assert self.link is not None
        if not self.link.connected.wait(2.0):  # a reconnect in progress gets a moment
            raise ConnectionError("not connected to the broker")
        self.link.publish(topic, payload, qos=qos, retain=retain)

    def start(self, wait_s: float | None = 10.0) -> OpsRuntime:
        self.feed.start()
        if self.link is not None:
            self.link.on_message(
                lambda m: self.feed.on_command_result(m.topic, m.payload, m.received_at)
            )
            self.link.subscribe(ALL_CMD_RESULTS, 1)
            try:
                self.link.start(wait_s)
            except Exception as exc:  # noqa: BLE001 - the dashboard still serves without the broker
                log.error(
                    "ops broker link not connected yet: %s (commands will fail until it is)", exc
                )
        self.monitor.start()
        if self.hooks is not None:
            self._remove_hook = self.hooks.add(self.feed.on_committed)
        if self.tail is not None:
            self.tail.start()
        log.info(
            "ops runtime running", extra={"events_from": "table" if self.tail else "ingest hook"}
        )
        return self

    def stop(self) -> None:
        if self._remove_hook is not None:
            self._remove_hook()
        if self.tail is not None:
            self.tail.stop()
        self.monitor.stop()
        if self.link is not None:
            try:
                self.link.stop()
            except Exception:
                log.exception("ops broker link did not stop cleanly")
        self.feed.stop()


def install(app: FastAPI, ops: Ops) -> None:
    """Put ``ops`` on the app and include every router of the API and dashboard (for apps built by hand)."""
    app.state.ops = ops
    for sub in ROUTERS:
        app.include_router(sub)


@asynccontextmanager
async def ops_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the ops runtime with the app (central.app.create_app's state: settings, sessions, commit_hooks)."""
    if getattr(app.state, "ops", None) is not None:  # built by hand (tests, embedding)
        yield
        return
    runtime = OpsRuntime.from_settings(
        app.state.settings,
        app.state.sessions,
        app.state.commit_hooks,
        getattr(app.state, "ops_settings", None),
        tail=getattr(app.state, "ingest", None) is None,  # ingest elsewhere: follow the table
    )
    runtime.ops.visitor_count = getattr(app.state, "visitor_count", None)
    app.state.ops = runtime.ops
    app.state.ops_runtime = runtime
    await asyncio.to_thread(runtime.start, None)  # don't hold up startup for the broker
    try:
        yield
    finally:
        await asyncio.to_thread(runtime.stop)
        app.state.ops = None


router = APIRouter(lifespan=ops_lifespan)
"""Every API and dashboard route plus the runtime's lifespan: ``create_app`` includes this one router."""
for _sub in ROUTERS:
    router.include_router(_sub)

"""What the API, the dashboard and the alarm monitor share at run time.

One :class:`Ops` per app, kept on ``app.state.ops``. It holds no hidden
globals: tests build their own with a fake clock or without a broker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from central.alarms.kinds import AlarmThresholds
from central.auth.proxies import Network
from central.auth.throttle import LoginThrottle
from central.dashboard.live import LiveHub
from edge.wire import utc_now

Publish = Callable[[str, bytes, int, bool], None]
"""publish(topic, payload, qos, retain): central.mqtt's publisher, or None without a broker."""

VisitorCount = Callable[[Session, str | None], int]
"""visitors_on_site(db, site) → count, for the dashboard's "visitors on site" figure.

The visitor log sets it either before startup (``app.state.visitor_count = fn``)
or from its own router lifespan (``app.state.ops.visitor_count = fn``), and
pushes live changes with ``app.state.ops.hub.publish("visitors", {"site": s, "count": n})``.
"""


@dataclass
class Ops:
    sessions: sessionmaker[Session]
    publish: Publish | None = None
    hub: LiveHub = field(default_factory=LiveHub)
    clock: Callable[[], datetime] = utc_now
    throttle: LoginThrottle = field(default_factory=lambda: LoginThrottle(time.monotonic))
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    cookie_secure: bool = True
    """The session cookie travels only over HTTPS; off only for the demo on plain http://127.0.0.1."""
    trusted_proxies: tuple[Network, ...] = ()
    """Peers whose ``X-Forwarded-For`` names the client (a TLS proxy in front of central); none by default."""
    visitor_count: VisitorCount | None = None
    default_language: str = "zh-CN"
    site_tz: str = "Asia/Shanghai"
    """The property's zone: a report's "day" is midnight to midnight here."""

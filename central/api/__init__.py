"""Central's HTTP API and the routers of the dashboard, in one list.

``create_app`` (central.app) includes :data:`ROUTERS`; :mod:`central.api.runtime`
starts what they need (broker link, alarm monitor, live feed).
"""

from __future__ import annotations

from fastapi import APIRouter

from central.api import (
    alarms,
    audit,
    devices,
    events,
    occupancy,
    reports,
    shifts,
    sites,
    tickets,
    users,
)
from central.auth.router import router as auth
from central.dashboard.router import router as dashboard

ROUTERS: list[APIRouter] = [
    auth,
    users.router,
    users.tokens_router,
    audit.router,
    sites.router,
    devices.router,
    devices.commands_router,
    events.router,
    events.quarantine_router,
    tickets.router,
    occupancy.router,
    alarms.router,
    shifts.router,
    reports.router,
    dashboard,
]

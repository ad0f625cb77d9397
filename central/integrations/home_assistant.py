"""Optional Home Assistant MQTT discovery: each site's lanes appear in Home Assistant by themselves.

Central publishes the discovery configs, retained, because central knows every
site and device (a lane knows only itself). The entities read the topics the
devices already publish; nothing extra is sent for Home Assistant:

==============================  ==========  ===============================================
entity                          component   state from
==============================  ==========  ===============================================
barrier of each lane            cover       ``…/{device}/health`` ``barrier`` (+ ``…/status``)
outbox depth of each device     sensor      ``…/{device}/health`` ``outbox_depth``
site occupancy                  sensor      ``gatepost/v1/{site}/config/occupancy``
badge swipes at each lane       tag         ``…/{device}/event/badge_accepted|badge_rejected``
==============================  ==========  ===============================================

The barrier cover is **read-only** (no ``command_topic``): raising a barrier
from outside the booth needs a reason and a supervisor, and is audited by
central's remote-raise command. A Home Assistant button has neither, and a
retained or replayed "OPEN" is exactly the field failure DESIGN.md §6 warns
about. Automations that must open a gate call central's API as a supervisor.

Badge scans replayed from an outbox after an outage are older than
:data:`TAG_FRESH_S`; the tag template returns nothing for them, which Home
Assistant ignores, so an automation never fires an hour late.

Enable with ``GATEPOST_HA_DISCOVERY=true`` (prefix: ``GATEPOST_HA_PREFIX``,
default ``homeassistant``). Central's broker user needs ``topic write
homeassistant/#`` and Home Assistant's user read access to the topics above:
see deploy/mosquitto/home-assistant.acl.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from central.db.models import Device
from central.ingest.batch import CommitReport
from edge import __version__, wire

log = logging.getLogger(__name__)

TAG_FRESH_S = 120
"""A badge event older than this (device clock vs Home Assistant's) is a replay, not a swipe."""

LANE_ROLES = ("entry", "exit")
BARRIER_STATES = ("open", "opening", "closed", "closing")
ORIGIN = {"name": "Gatepost", "sw": __version__, "url": "https://github.com/gatepost"}


class HomeAssistantSettings(BaseSettings):
    """``GATEPOST_HA_*``: whether and where central publishes Home Assistant discovery."""

    model_config = SettingsConfigDict(env_prefix="GATEPOST_HA_", extra="ignore", frozen=True)
    discovery: bool = Field(default=False, description="publish discovery configs for every device")
    prefix: str = Field(
        default="homeassistant",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Home Assistant's discovery prefix",
    )


@dataclass(slots=True, frozen=True)
class KnownDevice:
    site: str
    device: str
    role: str | None


@dataclass(slots=True, frozen=True)
class Discovery:
    """One retained discovery message."""

    topic: str
    config: dict[str, Any]

    @property
    def payload(self) -> bytes:
        return json.dumps(self.config, ensure_ascii=False, separators=(",", ":")).encode()


def _node(site: str) -> str:
    return f"gatepost_{site}"


def _site_device(site: str) -> dict[str, Any]:
    return {
        "identifiers": [f"gatepost_site_{site}"],
        "name": f"Gatepost {site}",
        "manufacturer": "Gatepost",
        "model": "site / 小区车场",
        "sw_version": __version__,
    }


def _lane_device(site: str, device: str, role: str | None) -> dict[str, Any]:
    return {
        "identifiers": [f"gatepost_{site}_{device}"],
        "name": f"{device} ({role or 'device'})",
        "manufacturer": "Gatepost",
        "model": {
            "entry": "entry lane / 入口",
            "exit": "exit lane / 出口",
            "kiosk": "lobby kiosk / 前台",
        }.get(role or "", role or "device"),
        "sw_version": __version__,
        "via_device": f"gatepost_site_{site}",
    }


def _availability(site: str, device: str) -> list[dict[str, str]]:
    return [
        {
            "topic": wire.status_topic(site, device),
            "payload_available": wire.ONLINE.decode(),
            "payload_not_available": wire.OFFLINE.decode(),
        }
    ]


def site_configs(site: str, prefix: str = "homeassistant") -> list[Discovery]:
    """The site-wide entities: occupancy (cars inside) from central's retained occupancy document."""
    node = _node(site)
    return [
        Discovery(
            f"{prefix}/sensor/{node}/occupancy/config",
            {
                "name": "Occupancy 在场车辆",
                "unique_id": f"gatepost_{site}_occupancy",
                "state_topic": wire.config_topic(site, wire.ConfigKind.OCCUPANCY),
                "value_template": "{{ value_json.data.occupied }}",
                "json_attributes_topic": wire.config_topic(site, wire.ConfigKind.OCCUPANCY),
                "json_attributes_template": "{{ value_json.data | tojson }}",
                "unit_of_measurement": "cars",
                "state_class": "measurement",
                "icon": "mdi:car-multiple",
                "device": _site_device(site),
                "origin": ORIGIN,
            },
        )
    ]


def device_configs(known: KnownDevice, prefix: str = "homeassistant") -> list[Discovery]:
    """A device's entities: outbox depth for all; a read-only barrier cover and badge tags for lanes."""
    site, device, role = known.site, known.device, known.role
    node, health = _node(site), wire.health_topic(site, device)
    dev = _lane_device(site, device, role)
    out = [
        Discovery(
            f"{prefix}/sensor/{node}/{device}_outbox/config",
            {
                "name": "Outbox depth 待发事件",
                "unique_id": f"gatepost_{site}_{device}_outbox",
                "state_topic": health,
                "value_template": "{{ value_json.outbox_depth }}",
                "unit_of_measurement": "events",
                "state_class": "measurement",
                "entity_category": "diagnostic",
                "icon": "mdi:tray-full",
                "availability": _availability(site, device),
                "device": dev,
                "origin": ORIGIN,
            },
        )
    ]
    if role not in LANE_ROLES:
        return out
    states = "[" + ", ".join(f"'{s}'" for s in BARRIER_STATES) + "]"
    out.append(
        Discovery(
            f"{prefix}/cover/{node}/{device}_barrier/config",
            {
                "name": "Barrier 道闸",
                "unique_id": f"gatepost_{site}_{device}_barrier",
                "device_class": "gate",
                "state_topic": health,
                # fault/unknown become Home Assistant's unknown state ("None"), never "open".
                "value_template": f"{{{{ value_json.barrier if value_json.barrier in {states} else 'None' }}}}",
                "state_open": "open",
                "state_opening": "opening",
                "state_closed": "closed",
                "state_closing": "closing",
                "json_attributes_topic": health,
                "json_attributes_template": (
                    "{{ {'out_of_service': value_json.out_of_service, 'barrier': value_json.barrier,"
                    " 'clock_synced': value_json.clock_synced} | tojson }}"
                ),
                "availability": _availability(site, device),
                "device": dev,
                "origin": ORIGIN,
            },
        )
    )
    for event_type in (wire.EventType.BADGE_ACCEPTED, wire.EventType.BADGE_REJECTED):
        out.append(
            Discovery(
                f"{prefix}/tag/{node}/{device}_{event_type.value}/config",
                {
                    "topic": wire.event_topic(site, device, event_type.value),
                    "value_template": (
                        "{% if (now() - as_datetime(value_json.ts)).total_seconds() < "
                        f"{TAG_FRESH_S} %}}{{{{ value_json.data.badge }}}}{{% endif %}}"
                    ),
                    "device": dev,
                },
            )
        )
    return out


class Publisher(Protocol):
    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> Any: ...


class HomeAssistantDiscovery:
    """Publishes the configs of each device once per process, retained, as devices become known."""

    def __init__(self, link: Publisher, prefix: str = "homeassistant") -> None:
        self.link = link
        self.prefix = prefix
        self._sites: set[str] = set()
        self._devices: dict[tuple[str, str], str | None] = {}
        self._lock = threading.Lock()

    def announce(self, devices: Iterable[KnownDevice]) -> int:
        """Publish what is new (a new site, a new device, a device whose role became known)."""
        messages: list[Discovery] = []
        with self._lock:
            for known in devices:
                if known.site not in self._sites:
                    self._sites.add(known.site)
                    messages += site_configs(known.site, self.prefix)
                key = (known.site, known.device)
                if key in self._devices and (
                    self._devices[key] == known.role or known.role is None
                ):
                    continue
                self._devices[key] = known.role
                messages += device_configs(known, self.prefix)
        for message in messages:
            self.link.publish(message.topic, message.payload, qos=1, retain=True)
        if messages:
            log.info("home assistant discovery published", extra={"configs": len(messages)})
        return len(messages)

    def announce_stored(self, sessions: sessionmaker[Session]) -> int:
        """Every device central already knows (at start-up)."""
        with sessions() as db:
            rows = db.execute(select(Device.site, Device.device, Device.role)).all()
        return self.announce(KnownDevice(site, device, role) for site, device, role in rows)

    def on_committed(self, report: CommitReport) -> None:
        """Commit hook: a device that reported health (which carries its role) is announced."""
        fresh = [
            KnownDevice(change.site, change.device, (change.health or {}).get("role"))
            for change in report.devices
            if change.health is not None
        ]
        if fresh:
            try:
                self.announce(fresh)
            except Exception:  # a broker hiccup must never hold up ingest
                log.exception(
                    "home assistant discovery not published; retried on the next health report"
                )
                with self._lock:
                    for known in fresh:
                        self._devices.pop((known.site, known.device), None)


def install(
    app: FastAPI, settings: HomeAssistantSettings | None = None
) -> HomeAssistantDiscovery | None:
    """When enabled and ingest runs here, announce stored devices now and new ones as they report."""
    settings = settings or HomeAssistantSettings()
    ingest = app.state.ingest
    if not settings.discovery:
        return None
    if ingest is None or not ingest.workers:
        log.warning(
            "GATEPOST_HA_DISCOVERY is set but ingest does not run in this process; "
            "enable it on the central process that runs ingest"
        )
        return None
    link = ingest.workers[0].link
    discovery = HomeAssistantDiscovery(link, settings.prefix)
    app.state.home_assistant = discovery
    app.state.commit_hooks.add(discovery.on_committed)

    def announce_when_connected() -> None:
        # Ingest connects when the app starts; a publish before that would be lost.
        link.connected.wait()
        try:
            discovery.announce_stored(app.state.sessions)
        except SQLAlchemyError as exc:
            log.error("home assistant discovery: devices not read", extra={"error": str(exc)[:200]})

    threading.Thread(target=announce_when_connected, name="ha-discovery", daemon=True).start()
    return discovery

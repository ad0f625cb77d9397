"""The edge link: durable outbox, MQTT connection, commands, site config, health, clock skew.

Parts, each a small class with one job:

- :class:`Outbox` — every event on disk (fsync) before the barrier moves;
  per-device ``seq``; never drops a critical event.
- :class:`MqttLink` — the one paho connection (Last Will, ``online``,
  persistent session, reconnect backoff); everything else sees it as a
  :class:`Link`.
- :class:`Forwarder` — outbox → broker in seq order, row deleted on central's ack (`…/ack`).
- :class:`CommandHandler` — central's commands, acted on at most once.
- :class:`SiteConfigStore` — tariff/whitelist/capacity/occupancy, kept across reboots.
- :class:`ClockSkew` / :class:`ClockWatch` — skew against central's time beacons.
- :class:`HealthReporter` — retained ``…/health`` every 30 s.
"""

from edge.link.clock import ClockSkew, ClockWatch
from edge.link.commands import CommandHandler
from edge.link.forwarder import Forwarder
from edge.link.health import HealthReporter
from edge.link.mqtt import LinkError, MqttLink, link_from_config
from edge.link.outbox import Outbox, OutboxError, OutboxRow
from edge.link.port import Link
from edge.link.site_config import SiteConfigStore

__all__ = [
    "ClockSkew",
    "ClockWatch",
    "CommandHandler",
    "Forwarder",
    "HealthReporter",
    "Link",
    "LinkError",
    "MqttLink",
    "Outbox",
    "OutboxError",
    "OutboxRow",
    "SiteConfigStore",
    "link_from_config",
]

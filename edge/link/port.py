"""The small publish/subscribe interface the rest of the edge codes against.

Only :mod:`edge.link.mqtt` imports paho; the outbox forwarder, commands, site
config, health and clock watchers see a broker through this protocol, so each
of them can be read (and replaced) without knowing paho's callback rules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

MessageHandler = Callable[[str, bytes, bool], object]
"""``handler(topic, payload, retained)``; called on the link's network thread."""

PublishedHandler = Callable[[int, bool], None]
"""``handler(mid, ok)``: the broker acknowledged (PUBACK) message ``mid``."""


class Link(Protocol):
    """What a broker connection offers the edge: publish, subscribe, and its state."""

    connected: threading.Event

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queue a message; return its message id (mid) for matching the PUBACK."""
        ...

    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Deliver every message matching ``topic_filter`` to ``handler``, across reconnects."""
        ...

    def add_published_listener(self, handler: PublishedHandler) -> None:
        """Call ``handler(mid, ok)`` when a QoS ≥ 1 publish is acknowledged."""
        ...

    def add_connect_listener(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` after every successful (re)connect."""
        ...

    def add_disconnect_listener(self, handler: Callable[[], None]) -> None:
        """Call ``handler()`` whenever the connection drops."""
        ...

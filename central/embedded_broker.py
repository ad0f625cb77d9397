"""An in-process MQTT broker for the demo and for a single-box trial install.

amqtt speaks MQTT 3.1.1 well enough for a demo site (QoS 1, retained
messages, Last Will, persistent sessions). A real site runs Mosquitto with
deploy/mosquitto/gatepost.conf: TLS, per-device ACLs and disk persistence are
not offered here, and shared subscriptions are not either, so central runs a
single ingest worker against this broker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from edge.errors import GatepostError

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """amqtt on its own event-loop thread, bound to loopback."""

    def __init__(self, port: int = 1883, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {
                "default": {
                    "type": "tcp",
                    "bind": f"{self.host}:{self.port}",
                    "max_connections": 500,
                }
            },
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._broker = _broker_class()(self._config(), loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # noqa: BLE001 - reported to start(), which raises it in the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        # amqtt logs every connection at INFO; keep the demo's console readable.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise GatepostError(
                f"embedded MQTT broker could not start on {self.host}:{self.port}: {self._error}"
            )
        log.info("embedded MQTT broker listening", extra={"host": self.host, "port": self.port})
        return self

    def stop(self) -> None:
        if self._broker is None or not self._loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            future.result(timeout=5)
        except Exception as exc:  # noqa: BLE001 - shutting down anyway; a demo must still exit cleanly
            log.warning("embedded broker shutdown: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout=5)
        if not self._thread or not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        await self._broker.shutdown()
        # amqtt leaves its per-client handler tasks waiting; end them here, or they are
        # garbage-collected later on a closed loop with "Event loop is closed".
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)


class _Snapshots(dict):
    """amqtt's subscription table, iterated over a copy.

    amqtt loops over its live table and awaits inside the loop (on connect, on
    every broadcast); a client subscribing meanwhile ends the loop with
    "dictionary changed size during iteration", which drops that client's
    connection or that broadcast. A copy per loop costs a few hundred entries.
    """

    def __iter__(self) -> Any:
        return iter(list(super().__iter__()))

    def items(self) -> Any:
        return list(super().items())


def _broker_class() -> type:
    """amqtt's Broker with two of its 0.12 bugs mended (imported late: central may run without it)."""
    from amqtt.broker import Broker

    class GatepostBroker(Broker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._subscriptions: dict[str, list[tuple[Any, int]]] = _Snapshots(self._subscriptions)

        async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Any
        ) -> None:
            # On every connect amqtt offers the client the retained messages of *every* client's
            # subscriptions: central's ingest got the lanes' retained site config (quarantined as
            # "ingest does not take config messages") and its command listener the lanes' health.
            # Only the client's own subscriptions get retained messages, at its own QoS.
            own = [
                qos
                for s, qos in self._subscriptions.get(subscription[0], ())
                if s.client_id == session.client_id
            ]
            if own:
                await super()._publish_retained_messages_for_subscription(
                    (subscription[0], own[0]), session
                )

    return GatepostBroker

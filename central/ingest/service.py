"""The ingest service: N workers and the housekeeper, built from :class:`central.settings.Settings`.

Startup reads like a script (:meth:`IngestService.start`); one :meth:`stop`
ends it. The FastAPI app and ``gatepost central run --ingest-only`` both use it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from sqlalchemy import Engine

from central.ingest.hooks import CommitHooks
from central.ingest.housekeeping import Housekeeper
from central.ingest.worker import IngestWorker
from central.mqtt import BrokerAddress, MqttLink
from central.settings import Settings

log = logging.getLogger(__name__)


def broker_address(settings: Settings, username: str | None = None) -> BrokerAddress:
    """Where the broker is; ``username`` replaces the settings' login (see :func:`broker_connection`)."""
    return BrokerAddress(
        host=settings.broker_host,
        port=settings.broker_port,
        username=username or settings.broker_username,
        password=settings.broker_password.get_secret_value() if settings.broker_password else None,
        tls_ca=str(settings.broker_tls_ca) if settings.broker_tls_ca else None,
        keepalive_s=settings.broker_keepalive_s,
    )


def broker_connection(
    settings: Settings, role: str, *, per_process: bool = False
) -> tuple[BrokerAddress, str]:
    """The login and client id of one of this process's broker connections (``ingest-0``, ``house``, ``ops``).

    With a broker login, ``GATEPOST_BROKER_USERNAME`` names this process's
    family of logins: connection ``role`` logs in as ``<username>.<role>`` and
    that is its client id too. The shipped broker config forces it
    (``use_username_as_clientid``), so no other login can take over central's
    persistent sessions; ``gatepost provision NAME --central`` creates exactly
    these logins with one password. Without a login (the embedded broker, tests)
    the client id is ``<client_id>-<role>``, plus host and pid for the
    ``per_process`` (non-persistent) connections so two processes never collide.
    """
    if settings.broker_username:
        login = f"{settings.broker_username}.{role}"
        return broker_address(settings, login), login
    client_id = f"{settings.client_id}-{role}"
    if per_process:
        client_id += f"-{socket.gethostname()[:20]}-{os.getpid()}"
    return broker_address(settings), client_id


class IngestService:
    """Everything that turns broker traffic into database rows, for one process."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        hooks: CommitHooks | None = None,
        *,
        housekeeping: bool = True,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.hooks = hooks or CommitHooks()
        share = settings.ingest_group if settings.shared_subscription else None
        self.workers = [
            IngestWorker(
                MqttLink(
                    *broker_connection(settings, f"ingest-{i}"),
                    manual_ack=True,
                    clean_session=False,
                ),
                engine,
                share_group=share,
                hooks=self.hooks,
                batch_max=settings.batch_max,
                linger_s=settings.batch_linger_ms / 1000,
            )
            for i in range(settings.ingest_workers)
        ]
        self._stopping = threading.Event()
        self.housekeeper: Housekeeper | None = None
        if housekeeping:
            self._house_link = MqttLink(*broker_connection(settings, "house", per_process=True))
            self.housekeeper = Housekeeper(
                self._house_link,
                engine,
                occupancy_every_s=settings.occupancy_publish_s,
                beacon_every_s=settings.time_beacon_s,
                keep_samples=timedelta(days=settings.occupancy_samples_keep_days),
            )

    def start(self, wait_s: float | None = 10.0) -> IngestService:
        """Start every client; "ingest running" is logged once all of them are subscribed.

        With ``wait_s=None`` (the app and ``central run``) nothing here waits for
        the broker, so central starts while the broker is down; the ready line
        then comes from a small watcher once every link has its SUBACK, never
        before: a message published after that line has a subscriber.
        """
        self._stopping.clear()
        for worker in self.workers:
            worker.start(wait_s)
        if self.housekeeper is not None:
            self._house_link.start(wait_s)
            self.housekeeper.start()
        if self.connected:
            self._log_running()
        else:
            threading.Thread(
                target=self._announce_when_ready, name="ingest-ready", daemon=True
            ).start()
        return self

    def _links(self) -> list[MqttLink]:
        links = [w.link for w in self.workers]
        if self.housekeeper is not None:
            links.append(self._house_link)
        return links

    def _announce_when_ready(self) -> None:
        for link in self._links():
            while not link.connected.wait(0.5):
                if self._stopping.is_set():
                    return
        self._log_running()

    def _log_running(self) -> None:
        log.info(
            "ingest running",
            extra={
                "workers": len(self.workers),
                "db": self.engine.url.render_as_string(hide_password=True),
            },
        )

    def stop(self) -> None:
        self._stopping.set()
        if self.housekeeper is not None:
            self.housekeeper.stop()
            self._house_link.stop()
        for worker in self.workers:
            worker.stop()

    @property
    def connected(self) -> bool:
        """Ready: every client connected and its subscriptions acknowledged (SUBACK)."""
        return all(link.connected.is_set() for link in self._links())

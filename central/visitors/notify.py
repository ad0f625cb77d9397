"""Telling a host their visitor has arrived: an MQTT message and an optional webhook.

An ingest ``on_committed`` listener (it runs on the ingest thread) queues the
new check-ins; a worker thread of its own reads each visit and sends a
:class:`~edge.wire.HostNotice` — visitor name, host, unit, category, never a
phone or photo — so a slow webhook never holds up ingest. It also pushes the
new visitors-on-site count to the dashboard.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import httpx

from central.api.context import Ops
from central.visitors.models import Visit
from central.visitors.service import on_site_count
from edge.wire import EventType, HostNotice, format_ts, host_notify_topic

log = logging.getLogger(__name__)

_VISITOR_TYPES = {EventType.VISITOR_CHECKED_IN, EventType.VISITOR_CHECKED_OUT}


class HostNotifier:
    def __init__(self, ops: Ops, webhook_url: str | None, *, timeout_s: float = 5.0) -> None:
        self.ops = ops
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._run, name="visitor-notify", daemon=True)
        self.sent = 0

    def start(self) -> HostNotifier:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def on_committed(self, report: Any) -> None:
        for stored in report.events:
            env = stored.envelope
            if env.type in _VISITOR_TYPES:
                try:
                    self._queue.put_nowait(
                        (env.type.value, env.data.get("visit_id", "") or env.site)
                    )
                except queue.Full:
                    log.error(
                        "host notification queue full; dropping notice for %s",
                        env.data.get("visit_id"),
                    )

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            kind, visit_id = item
            try:
                self._handle(kind, visit_id)
            except Exception:
                log.exception("host notification for %s failed", visit_id)

    def _handle(self, kind: str, visit_id: str) -> None:
        with self.ops.sessions() as db:
            visit = db.get(Visit, visit_id)
            if visit is None:
                return
            count = on_site_count(db, visit.site)
            notice = HostNotice(
                site=visit.site,
                visit_id=visit.visit_id,
                category=visit.category,
                visitor=visit.name or "*",
                host=visit.host,
                unit=visit.unit,
                party_size=visit.party_size,
                at=format_ts(visit.checked_in_at),
            )
        self.ops.hub.publish("visitors", {"site": notice.site, "count": count})
        if kind != EventType.VISITOR_CHECKED_IN.value or not (notice.host or notice.unit):
            return
        payload = notice.model_dump_json().encode()
        if self.ops.publish is not None:
            try:
                self.ops.publish(host_notify_topic(notice.site), payload, 1, False)
            except Exception as exc:  # noqa: BLE001 - the webhook may still reach the host
                log.error("host notice for %s not published: %s", visit_id, exc)
        if self.webhook_url:
            try:
                r = httpx.post(
                    self.webhook_url,
                    content=payload,
                    timeout=self.timeout_s,
                    headers={"Content-Type": "application/json"},
                )
                r.raise_for_status()
            except httpx.HTTPError as exc:
                log.error("host webhook for %s failed: %s", visit_id, exc)
                return
        self.sent += 1
        log.info("host notified of visit %s", visit_id)

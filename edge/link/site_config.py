"""Site config from central (tariff, whitelist, capacity, occupancy), kept across reboots.

Central publishes each kind retained on ``gatepost/v1/{site}/config/{kind}``.
A lane applies a new document live and stores it locally, so a lane that
reboots with the broker or central gone still prices, admits and counts with
the last configuration it had (DESIGN.md §4: the lane keeps working).

A document is applied only if it validates and its ``version`` is newer than
the one held; an invalid or older one is logged and ignored, and the lane
keeps what it has. Versions are central's time in milliseconds
(:func:`edge.wire.config_version`), not a database counter, so a central whose
database was restored from a backup or replaced still publishes versions above
the ones a lane holds, and central re-stamps occupancy when it starts: the
lane follows it again at once (a version from the older counter scheme is a
small number, below any of these).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.errors import GatepostError, PayloadError
from edge.link.port import Link
from edge.wire import ConfigKind, SiteConfig, parse_site_config, site_config_filter

log = logging.getLogger(__name__)

Listener = Callable[[SiteConfig], None]
Validator = Callable[[dict[str, Any]], None]
"""Raises (any exception) if ``data`` is not a usable document of its kind."""


class ConfigStoreError(GatepostError, OSError):
    """The local config store cannot be opened or written."""


class SiteConfigStore:
    """Last good config document per kind, from the broker or from disk.

    :meth:`get` answers from memory, loaded from SQLite at start, so it
    works before (or without) any broker connection.
    """

    def __init__(self, link: Link | None, site: str, db_path: str | Path) -> None:
        self.link = link
        self.site = site
        self._filter = site_config_filter(site)
        self._lock = threading.Lock()
        self._docs: dict[ConfigKind, SiteConfig] = {}
        self._listeners: dict[ConfigKind | None, list[Listener]] = {}
        self._validators: dict[ConfigKind, Validator] = {}
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                db_path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS site_config ("
                " kind TEXT PRIMARY KEY, version INTEGER NOT NULL, doc TEXT NOT NULL)"
            )
            rows = self._db.execute("SELECT kind, doc FROM site_config").fetchall()
        except sqlite3.Error as exc:
            log.error("config store %s cannot be opened: %s", db_path, exc)
            raise ConfigStoreError(f"config store {db_path} cannot be opened: {exc}") from exc
        for kind, text in rows:
            try:
                doc = SiteConfig.model_validate_json(text)
            except ValueError as exc:
                log.error("stored %s config unreadable, ignoring it: %s", kind, exc)
                continue
            self._docs[doc.kind] = doc
        log.info(
            "site config loaded: %s",
            {k.value: d.version for k, d in self._docs.items()} or "none stored",
        )

    def start(self) -> None:
        """Subscribe; the broker delivers the retained documents at once."""
        if self.link is not None:
            self.link.subscribe(self._filter, self.handle, qos=1)

    def validate_with(self, kind: ConfigKind | str, validator: Validator) -> None:
        """Add a check for one kind (e.g. the tariff model, which the wire leaves open)."""
        self._validators[ConfigKind(kind)] = validator

    def on_change(self, listener: Listener, kind: ConfigKind | str | None = None) -> None:
        """Call ``listener(doc)`` for each newly applied document (of ``kind``, or of any kind)."""
        key = ConfigKind(kind) if kind is not None else None
        self._listeners.setdefault(key, []).append(listener)

    def get(self, kind: ConfigKind | str) -> SiteConfig | None:
        """The last good document of ``kind``, or ``None`` if there has never been one."""
        return self._docs.get(ConfigKind(kind))

    def data(self, kind: ConfigKind | str) -> dict[str, Any] | None:
        doc = self.get(kind)
        return dict(doc.data) if doc else None

    def handle(self, topic: str, payload: bytes, retained: bool) -> bool:
        """Apply one message if it is valid and newer; return whether it was applied."""
        if not payload:
            log.warning("empty config on %s (retained message cleared?); keeping current", topic)
            return False
        try:
            doc = parse_site_config(topic, payload)
            validator = self._validators.get(doc.kind)
            if validator is not None:
                validator(doc.data)
        except PayloadError as exc:
            log.error("config on %s rejected: %s", topic, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - a validator may raise anything; the lane keeps its config
            log.error("config on %s rejected by its validator: %s", topic, exc)
            return False
        with self._lock:
            held = self._docs.get(doc.kind)
            if held is not None and doc.version <= held.version:
                if doc.version < held.version:
                    log.warning(
                        "%s config version %d older than held %d; ignored",
                        doc.kind,
                        doc.version,
                        held.version,
                    )
                return False
            try:
                self._db.execute(
                    "INSERT INTO site_config (kind, version, doc) VALUES (?, ?, ?)"
                    " ON CONFLICT (kind) DO UPDATE SET version = excluded.version, doc = excluded.doc",
                    (doc.kind.value, doc.version, doc.model_dump_json()),
                )
            except sqlite3.Error as exc:
                log.error(
                    "cannot store %s config v%d: %s; applying it in memory only",
                    doc.kind,
                    doc.version,
                    exc,
                )
            self._docs[doc.kind] = doc
        log.info("%s config v%d applied", doc.kind, doc.version)
        for listener in self._listeners.get(doc.kind, []) + self._listeners.get(None, []):
            try:
                listener(doc)
            except Exception:
                log.exception("listener for %s config failed", doc.kind)
        return True

    def close(self) -> None:
        self._db.close()

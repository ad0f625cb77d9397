"""The agent config: one TOML file per lane or kiosk Pi (see firmware_configs/examples/).

Sections::

    [device]    who this Pi is: site, id, role, language
    [hardware]  which board profile; simulate = true for the demo/tests; port overrides
    [lane]      entry/exit lane behaviour (ticket medium, capacity, unattended mode…)
    [tariff]    the tariff file (exit lanes quote fees; entry lanes may show prices)
    [keys]      where the ticket-signing keys come from (environment or a root-only file)
    [link]      the MQTT broker and the outbox
    [console]   the local page (booth console, kiosk screen): bind, TLS, Host names, sessions
    [kiosk]     lobby kiosk settings (role = "kiosk")

Secrets never sit in this file: it names environment variables (``password_env``,
``keys.env``) or a separate root-only key file, which are read when the agent
starts, not when the config is printed or logged.

Cross-field problems are raised as ``ValueError("dotted.field: what is wrong")``
so the loader can point at that line.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.config.profile import HardwareProfile
from edge.errors import ConfigError

Strict = ConfigDict(extra="forbid", frozen=True)

Id = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$", description="1–48 of a-z 0-9 _ - (MQTT topic safe)"
    ),
]
EnvName = Annotated[
    str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,63}$", description="an environment variable name")
]
Port = Annotated[int, Field(ge=1, le=65535)]


class DeviceSection(BaseModel):
    """Identity: these become the MQTT topic prefix gatepost/v1/{site}/{id}/."""

    model_config = Strict
    site: Id = Field(description="the property, e.g. 'sunrise-garden'")
    id: Id = Field(description="this device, unique across all sites, e.g. 'sg-entry-1'")
    role: Literal["entry", "exit", "kiosk"] = Field(description="what this Pi runs")
    language: Literal["zh-CN", "en"] = Field(
        default="zh-CN", description="default language of screens and voice"
    )
    name: str | None = Field(
        default=None, max_length=64, description="a human name, e.g. '东门入口 / East gate in'"
    )


class PortOverrides(BaseModel):
    """Serial ports that differ from the board profile on this particular Pi."""

    model_config = Strict
    card_reader: str | None = Field(default=None, max_length=128)
    badge_reader: str | None = Field(default=None, max_length=128)
    display: str | None = Field(default=None, max_length=128)
    printer: str | None = Field(default=None, max_length=128)


class HardwareSection(BaseModel):
    """Which hardware profile this Pi is wired to."""

    model_config = Strict
    profile: str = Field(description="board profile, relative to firmware_configs/ or to this file")
    simulate: bool = Field(
        default=False, description="mock pins and serial emulators instead of real hardware"
    )
    barrier: str | None = Field(
        default=None, description="swap the board's barrier controller profile"
    )
    ports: PortOverrides = Field(default_factory=lambda: PortOverrides())


class LaneSection(BaseModel):
    """How an entry or exit lane behaves."""

    model_config = Strict
    ticket_medium: Literal["card", "paper"] = Field(
        default="card",
        description="'card': timed NFC card (written on entry); 'paper': printed QR ticket",
    )
    capacity: int = Field(
        ge=0, le=100_000, description="spaces on site; used while central's count is unreachable"
    )
    reserved_spaces: int = Field(
        default=0, ge=0, le=100_000, description="kept for residents; visitors see 'full' earlier"
    )
    unattended_mode: Literal["badges_only", "refuse_all"] = Field(
        default="badges_only",
        description="with no guard signed on: let badge holders through, or refuse everyone",
    )
    storage_fault_badges: bool = Field(
        default=False,
        description="while the lane cannot write its records (disk full, read-only, I/O error): let"
        " whitelisted residents' badges through anyway (their events held in memory until storage"
        " recovers). Off by default: nobody passes without a durable record; the guard can still raise",
    )
    storage_hold_bound: int = Field(
        default=5000,
        ge=100,
        le=1_000_000,
        description="events kept in memory while storage fails; beyond this each is logged whole and counted lost",
    )
    storage_probe_s: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="how often failing storage is tried again while it fails",
    )
    snapshot_dir: str | None = Field(
        default=None, description="where camera snapshots of each vehicle are kept"
    )
    snapshot_keep: int = Field(
        default=5000, ge=10, le=1_000_000, description="most snapshots kept; the oldest go first"
    )
    snapshot_max_age_days: float = Field(
        default=30, gt=0, le=3650, description="snapshots older than this are deleted"
    )
    state_path: str = Field(
        default="/var/lib/gatepost/lane-state.json",
        description="persisted lane/barrier state, used to recover safely after a restart",
    )
    close_delay_s: float = Field(
        default=1.0, ge=0, le=30, description="wait after the safety loop clears before closing"
    )
    issue_delay_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="paper-ticket entry lanes print this long after arrival, leaving a resident time to badge first",
    )

    @model_validator(mode="after")
    def _reserved_fit(self) -> LaneSection:
        if self.reserved_spaces > self.capacity:
            raise ValueError(
                f"lane.reserved_spaces: {self.reserved_spaces} is more than capacity ({self.capacity})"
            )
        return self


class TariffSection(BaseModel):
    model_config = Strict
    file: str = Field(
        description="tariff TOML, relative to this file (see firmware_configs/tariffs/)"
    )


class KeysSection(BaseModel):
    """Ticket-signing keys: key id → hex, from an environment variable or a root-only file.

    ``env`` holds JSON (``{"1": "hex…", "2": "hex…"}``) or ``1=hex,2=hex``.
    ``file`` is a TOML file with a ``[keys]`` table of the same shape.
    """

    model_config = Strict
    env: EnvName | None = Field(default=None, description="e.g. GATEPOST_SITE_KEYS")
    file: str | None = Field(
        default=None, description="e.g. /etc/gatepost/site_keys.toml (mode 0600)"
    )
    signing_key_id: int | None = Field(
        default=None, ge=0, le=0xFFFF, description="default: the highest id"
    )

    @model_validator(mode="after")
    def _one_source(self) -> KeysSection:
        if (self.env is None) == (self.file is None):
            raise ValueError("keys.env: set exactly one of keys.env or keys.file")
        return self

    def resolve(
        self, environ: Mapping[str, str] | None = None, base: Path | None = None
    ) -> dict[str, str]:
        """Read the keys now (at start-up) as ``{id: hex}``; a clear ConfigError when missing."""
        environ = os.environ if environ is None else environ
        if self.env is not None:
            raw = environ.get(self.env)
            if not raw:
                raise ConfigError(f"environment variable {self.env} (keys.env) is not set or empty")
            return _parse_key_text(raw, f"${self.env}")
        assert self.file is not None
        path = Path(self.file) if base is None else base / self.file
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read key file: {exc}", source=str(path)) from exc
        keys = doc.get("keys")
        if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
            raise ConfigError('expected a [keys] table of id = "hex"', source=str(path))
        return {str(k): v for k, v in keys.items()}


def _parse_key_text(raw: str, where: str) -> dict[str, str]:
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} is not valid JSON: {exc.msg}") from None
        if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
            raise ConfigError(f"{where} must be a JSON object of id: hex")
        return {str(k): v for k, v in doc.items()}
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key_id, sep, hexkey = part.partition("=")
        if not sep:
            raise ConfigError(f"{where}: expected id=hex pairs separated by commas")
        out[key_id.strip()] = hexkey.strip()
    return out


class TlsSection(BaseModel):
    model_config = Strict
    ca_file: str = Field(description="CA that signed the broker's certificate")
    cert_file: str | None = Field(
        default=None, description="client certificate (if the broker wants one)"
    )
    key_file: str | None = Field(default=None, description="client key; keep it mode 0600")

    @model_validator(mode="after")
    def _pair(self) -> TlsSection:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("link.tls.cert_file: cert_file and key_file go together")
        return self


class LinkSection(BaseModel):
    """The MQTT broker connection and the on-disk outbox (store-and-forward)."""

    model_config = Strict
    host: str = Field(min_length=1, max_length=253)
    port: Port = 8883
    tls: TlsSection | None = Field(default=None, description="omit only on a closed test network")
    username: str | None = Field(default=None, max_length=64, description="default: the device id")
    password_env: EnvName | None = Field(
        default=None, description="environment variable holding the broker password"
    )
    keepalive_s: int = Field(default=30, ge=5, le=600)
    outbox_path: str = Field(default="/var/lib/gatepost/outbox.sqlite3")
    outbox_bound: int = Field(
        default=200_000,
        ge=1000,
        le=10_000_000,
        description="rows kept; telemetry is refused past it, financial/access events never",
    )
    replay_rate_per_s: float = Field(
        default=50, gt=0, le=5000, description="catch-up publish rate after an outage"
    )
    central_ack_timeout_s: float = Field(
        default=60,
        ge=1,
        le=3600,
        description="events central has not acknowledged this long after the broker took them are "
        "sent again (the wait doubles while nothing moves, up to 15 min); a replay is harmless",
    )
    health_interval_s: float = Field(default=30, ge=5, le=3600)

    def password(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The broker password from ``password_env``, read at start-up."""
        if self.password_env is None:
            return None
        environ = os.environ if environ is None else environ
        value = environ.get(self.password_env)
        if not value:
            raise ConfigError(
                f"environment variable {self.password_env} (link.password_env) is not set or empty"
            )
        return value


LaneAction = Literal[
    "confirm-payment", "lost-ticket", "manual-raise", "manual-close", "override-full"
]


class ConsoleSection(BaseModel):
    """The Pi's local page: the booth console of a lane, or the kiosk's screen.

    Nobody acts on it without the right (DESIGN §4): every action needs a guard signed on at
    that browser, every POST a CSRF token, every request one of this page's Host names. There is
    no switch that turns this off. A page reached from another machine (a booth tablet) is an
    explicit setting and is served over TLS: here (``tls_cert_file``/``tls_key_file``, made by
    ``gatepost provision DEVICE --console-host NAME``) or by a reverse proxy on this Pi
    (``behind_tls_proxy``, bind stays loopback).
    """

    model_config = Strict
    bind: str = Field(
        default="127.0.0.1",
        description="127.0.0.1: the screen is on this Pi; another address (a booth tablet) needs TLS",
    )
    port: Port = 8080
    hosts: list[
        Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_-]+$")]
    ] = Field(
        default_factory=list,
        max_length=16,
        description="Host names the page answers to besides localhost, 127.0.0.1 and the bound "
        "address, e.g. the name the tablet opens ('sg-exit-1.local'); any other Host is refused",
    )
    tls_cert_file: str | None = Field(default=None, description="the page's TLS certificate (PEM)")
    tls_key_file: str | None = Field(default=None, description="its private key (PEM, mode 0600)")
    behind_tls_proxy: bool = Field(
        default=False,
        description="true: a reverse proxy on this Pi serves the page over TLS (cookies marked Secure)",
    )
    session_idle_min: float = Field(
        default=15,
        ge=1,
        le=720,
        description="a guard is signed off at a browser after this idle time",
    )
    refusal_alarm_threshold: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="refused requests (no session, bad CSRF, foreign Host, wrong PIN) within "
        "refusal_window_s that make an alarm at central",
    )
    refusal_window_s: float = Field(default=300, ge=10, le=86_400)
    machine_token_env: EnvName | None = Field(
        default=None,
        description="environment variable holding a script's token for POST /api/lane/* (none: no scripts)",
    )
    machine_token_scopes: list[LaneAction] = Field(
        default_factory=list, description="what the machine token may do, e.g. ['manual-close']"
    )
    serve_console: bool = Field(
        default=True,
        description="false: a post console elsewhere in this process runs this lane with others "
        "(one booth, several lanes); the agent then serves only the lane's /api/lane",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_off_switch(cls, data: object) -> object:
        if isinstance(data, dict) and "sign_on_required" in data:
            raise ValueError(
                "console.sign_on_required: removed; every console action needs a guard signed on at "
                "that browser (delete this line)"
            )
        return data

    @model_validator(mode="after")
    def _tls_off_this_pi(self) -> ConsoleSection:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("console.tls_cert_file: tls_cert_file and tls_key_file go together")
        loopback = self.bind in ("127.0.0.1", "::1", "localhost") or self.bind.startswith("127.")
        if not loopback and self.tls_cert_file is None:
            raise ValueError(
                f"console.bind: {self.bind!r} reaches the page from other machines; serve it over TLS "
                "(tls_cert_file/tls_key_file from 'gatepost provision … --console-host NAME') or bind "
                "127.0.0.1 behind a TLS reverse proxy (behind_tls_proxy = true)"
            )
        if self.bind in ("0.0.0.0", "::") and not self.hosts:
            raise ValueError(
                "console.hosts: with bind = 0.0.0.0 list the names the booth tablet opens "
                '(e.g. hosts = ["sg-exit-1.local", "192.168.10.21"]); other Host headers are refused'
            )
        if self.behind_tls_proxy and not loopback:
            raise ValueError(
                "console.behind_tls_proxy: the proxy reaches the page on 127.0.0.1; bind it there"
            )
        if self.machine_token_scopes and self.machine_token_env is None:
            raise ValueError("console.machine_token_scopes: set machine_token_env too")
        return self

    @property
    def secure(self) -> bool:
        """True when browsers reach the page over TLS (here or at the proxy): cookies are Secure."""
        return self.tls_cert_file is not None or self.behind_tls_proxy


class MetricsSection(BaseModel):
    """Prometheus metrics of this agent: outbox depth and age, transits, reader errors."""

    model_config = Strict
    bind: str = Field(
        default="127.0.0.1",
        description="127.0.0.1 for a Prometheus on this Pi; the Pi's LAN address for the operator's",
    )
    port: Port = Field(default=9108, description="serves /metrics; one port per agent on a machine")


class KioskSection(BaseModel):
    """Lobby kiosk (role = "kiosk"); visitor details are defined by a later issue."""

    model_config = Strict
    retention_days: int = Field(
        default=30, ge=1, le=3650, description="visitor records are purged after this"
    )
    sales_office: str | None = Field(
        default=None, max_length=120, description="where home buyers are directed"
    )
    print_pass: bool = Field(default=True, description="print a visitor pass with a QR code")
    take_photo: bool = Field(
        default=True, description="offer an optional photo (face-presence checked)"
    )
    idle_reset_s: int = Field(
        default=60, ge=10, le=600, description="back to the start screen after this idle time"
    )
    pass_valid_hours: float = Field(
        default=8, gt=0, le=24, description="how long a visitor pass is valid"
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        max_length=64,
        description="the property's zone: an invite is valid on its day here",
    )


class AgentConfig(BaseModel):
    """A whole agent config file, plus the hardware profile it names (filled in by the loader)."""

    model_config = Strict
    device: DeviceSection
    hardware: HardwareSection
    lane: LaneSection | None = None
    tariff: TariffSection | None = None
    keys: KeysSection | None = None
    link: LinkSection
    console: ConsoleSection = Field(default_factory=lambda: ConsoleSection())
    kiosk: KioskSection | None = None
    metrics: MetricsSection | None = Field(
        default=None, description="[metrics] serves Prometheus /metrics; omit it for none"
    )
    profile: HardwareProfile | None = Field(
        default=None, description="resolved by load_config; not written in the file"
    )
    path: str | None = Field(
        default=None, description="the file this was loaded from; set by load_config"
    )

    @model_validator(mode="after")
    def _role_sections(self) -> AgentConfig:
        role = self.device.role
        if role in ("entry", "exit"):
            for section in ("lane", "keys"):
                if getattr(self, section) is None:
                    raise ValueError(f"{section}: a {role} lane needs a [{section}] section")
            if role == "exit" and self.tariff is None:
                raise ValueError("tariff: an exit lane needs a [tariff] section to quote fees")
            if self.kiosk is not None:
                raise ValueError(f'kiosk: [kiosk] is for role = "kiosk", not {role!r}')
        elif self.lane is not None:
            raise ValueError("lane: [lane] is for entry/exit lanes, not a kiosk")
        return self

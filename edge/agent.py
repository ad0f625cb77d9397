"""``gatepost edge --config lane.toml``: the agent on a lane Pi.

Start-up reads like a script (STYLE.md): :data:`Agent.STEPS` lists what
starts, in order, and one stop event ends it all in reverse. The lane comes
up before the network on purpose: it issues, checks, charges and opens on
local state, and the link catches up when the broker is reachable
(DESIGN.md §4).

    1. local state     outbox + used tickets / lane state (SQLite, fsync'd)
    2. keys and tariff ticket keys from the environment or a root-only file
    3. hardware        barrier, loops, readers, display, printer (or simulators)
    4. lane            the state machine wired to the hardware; barrier recovered
    5. link            MQTT, outbox forwarder, commands, site config, clock, health
    6. booth api       the guard's local HTTP API on [console] bind:port
    7. metrics         Prometheus /metrics on [metrics] bind:port (only if configured)
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from fastapi import FastAPI

from edge.config import AgentConfig, load_config
from edge.console.app import create_console_app, serve_console
from edge.console.guards import GuardRoster
from edge.console.store import ConsoleStore
from edge.console.voice import Voice, VoiceSettings
from edge.errors import ConfigError, GatepostError
from edge.lane.api import create_booth_api
from edge.lane.assemble import Assembly, assemble_lane, build_lane, lane_settings
from edge.lane.codec import SiteTickets
from edge.lane.lane import Lane
from edge.lane.machine import LaneRefused
from edge.lane.occupancy import Occupancy
from edge.lane.snapshots import Snapshots
from edge.lane.used_tickets import UsedTickets
from edge.link import (
    ClockSkew,
    ClockWatch,
    CommandHandler,
    Forwarder,
    HealthReporter,
    MqttLink,
    Outbox,
    link_from_config,
)
from edge.link.site_config import SiteConfigStore
from edge.localpage import Page, PageRules, Refusals, install, machine_token
from edge.script import AgentScript
from edge.tariff import Tariff, load_tariff, quote
from edge.ticket import KeyRing
from edge.wire import (
    CapacityArgs,
    Command,
    CommandName,
    ConfigKind,
    EventType,
    LocalAccessRefused,
    OccupancyArgs,
    RaiseArgs,
    SiteConfig,
    utc_now,
)

log = logging.getLogger("gatepost.agent")

SIM_KEY = "5e" * 32
"""Used only with ``hardware.simulate = true`` when no key is configured; never on a real lane."""


class Agent(AgentScript):
    """One lane agent: its steps, what they built, and how to undo them."""

    STEPS = ("local state", "keys and tariff", "hardware", "lane", "link", "booth api", "metrics")

    def __init__(
        self,
        config: AgentConfig,
        *,
        state_dir: Path | None = None,
        connect: bool = True,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if config.device.role not in ("entry", "exit"):
            raise ConfigError(
                f"device.role {config.device.role!r}: this agent runs lanes (entry/exit)"
            )
        if config.lane is None or config.tariff is None or config.keys is None:
            raise ConfigError("a lane config needs [lane], [tariff] and [keys] sections")
        self.config = config
        self.base = Path(config.path or ".").parent
        self.simulate = config.hardware.simulate
        self.state_dir = state_dir
        self.connect = connect
        # One clock for the lane, its serials, outbox and commands: the demo runs a whole site on an
        # accelerated one. Clock-skew watching stays on the wall clock, which central's beacons measure.
        self.clock = clock
        super().__init__()
        self.outbox: Outbox
        self.store: UsedTickets
        self.keys: KeyRing
        self.tariff: Tariff
        self.assembly: Assembly
        self.lane: Lane
        self.link: MqttLink | None = None
        self.page_app: FastAPI | None = None
        """The local page served on [console] bind:port (the booth console, or the lane API alone)."""
        self.page_url: str | None = None
        self.site_config: SiteConfigStore | None = None

    # ----------------------------------------------------------------- the script

    def steps(self) -> tuple[Callable[[], None], ...]:
        return (
            self.open_local_state,
            self.load_keys_and_tariff,
            self.build_hardware,
            self.start_lane,
            self.start_link,
            self.start_booth_api,
            self.start_metrics,
        )

    def start(self) -> None:
        took = self.run_steps()
        log.info(
            "agent ready in %.2f s",
            took,
            extra={"device": self.config.device.id, "role": self.config.device.role},
        )

    # ----------------------------------------------------------------- steps

    def _path(self, configured: str, name: str) -> Path:
        """Where a local file lives: as configured, or under --state-dir (and for simulate, a temp dir)."""
        if self.state_dir is not None:
            return self.state_dir / name
        path = Path(configured)
        if self.simulate and not _writable(path.parent):
            self.state_dir = Path(tempfile.mkdtemp(prefix=f"gatepost-{self.config.device.id}-"))
            log.warning(
                "simulate: %s is not writable; keeping local state in %s",
                path.parent,
                self.state_dir,
            )
            return self.state_dir / name
        return path

    def open_local_state(self) -> None:
        device = self.config.device
        link = self.config.link
        self.outbox = Outbox(
            self._path(link.outbox_path, "outbox.sqlite3"),
            device.site,
            device.id,
            bound=link.outbox_bound,
            clock=self.clock,
        )
        self.on_stop(self.outbox.close)
        self.count_into_metrics(self.outbox)
        assert self.config.lane is not None
        state = self._path(self.config.lane.state_path, "lane-state.json").with_suffix(".sqlite3")
        # Used tickets go into the outbox's file, written in the same transaction as the payment.
        self.store = UsedTickets(state, outbox=self.outbox)
        self.on_stop(self.store.close)

    def load_keys_and_tariff(self) -> None:
        assert self.config.keys is not None and self.config.tariff is not None
        try:
            hex_keys: dict[int | str, str] = {
                k: v for k, v in self.config.keys.resolve(base=self.base).items()
            }
        except ConfigError:
            if not self.simulate:
                raise
            log.warning(
                "simulate: no ticket keys configured; using the simulation key (never on a real lane)"
            )
            hex_keys = {1: SIM_KEY}
        self.keys = KeyRing.from_hex(dict(hex_keys), self.config.keys.signing_key_id)
        self.tariff = load_tariff(self.base / self.config.tariff.file)

    def build_hardware(self) -> None:
        assert self.config.profile is not None and self.config.lane is not None
        # A hold barrier persisted as open keeps its relay energised until recovery looks at the loops.
        self.assembly = assemble_lane(
            self.config.profile,
            role=self.config.device.role,
            medium=self.config.lane.ticket_medium,
            simulate=self.simulate,
            initially_open=self.store.get("barrier") == "open",
        )
        self.on_stop(self.assembly.close)

    def start_lane(self) -> None:
        config, lane_cfg, tariff = self.config, self.config.lane, self.tariff
        # The quoter reads self.tariff at each exit, so a reload_tariff command takes effect at once.
        assert lane_cfg is not None
        device = config.device
        occupancy = Occupancy(lane_cfg.capacity, lane_cfg.reserved_spaces)
        saved = self.store.get("occupied")
        if saved is not None and saved.isdigit():
            occupancy.correct(int(saved))
        sink = self.metrics.counting(self.outbox) if self.metrics is not None else self.outbox
        self.lane = build_lane(
            self.assembly,
            lane_settings(
                device.role,  # type: ignore[arg-type]
                lane_cfg,
                currency=tariff.currency,
                language="zh" if device.language == "zh-CN" else "en",
            ),
            device=device.id,
            clock=self.clock,
            occupancy=occupancy,
            quoter=lambda entry, exit, cls, lost: quote(self.tariff, entry, exit, cls, lost),
            sink=sink,
            store=self.store,
            codec=SiteTickets(self.keys, device.site, device.id),
            # Unattended until a guard signs on at the booth console (nobody acts without the right).
            guard_on_duty=None,
            snapshots=self._snapshots(),
            # Safety before bookkeeping: events the disk refuses are held in memory (lane.storage) until it recovers.
            storage=lane_cfg,
        )
        # The outbox filling up (broker or central gone for long) is shown and said at the lane
        # and sent as outbox_backlog; critical events are still stored, never dropped.
        self.outbox.add_near_full_listener(
            lambda near: self.lane.backlog_changed(near, self.outbox.depth, self.outbox.bound)
        )
        self.lane.start()
        if self.outbox.near_full:
            self.lane.backlog_changed(True, self.outbox.depth, self.outbox.bound)
        self.on_stop(self.lane.stop)
        self.on_stop(lambda: self.store.put("occupied", str(occupancy.snapshot().occupied)))

    def _snapshots(self) -> Snapshots | None:
        """Transit snapshots when the profile has a camera: lane.snapshot_dir or <state dir>/snapshots."""
        camera = self.assembly.parts.camera
        lane_cfg = self.config.lane
        if (
            camera is None
            or lane_cfg is None
            or not callable(getattr(camera, "save_snapshot", None))
        ):
            return None
        # Like the outbox: --state-dir (or simulate's temporary state dir) wins over the configured folder.
        if self.state_dir is not None:
            folder = self.state_dir / "snapshots"
        else:
            folder = Path(lane_cfg.snapshot_dir or Path(lane_cfg.state_path).parent / "snapshots")
        return Snapshots(
            camera,  # type: ignore[arg-type]
            folder,
            keep=lane_cfg.snapshot_keep,
            max_age_s=lane_cfg.snapshot_max_age_days * 86400,
        )

    def start_link(self) -> None:
        cfg, device = self.config.link, self.config.device
        state = self.state_dir or Path(cfg.outbox_path).parent
        self.site_config = SiteConfigStore(None, device.site, state / "site-config.sqlite3")
        self.on_stop(self.site_config.close)
        self.site_config.on_change(self._site_config_changed)
        for kind in (ConfigKind.WHITELIST, ConfigKind.CAPACITY):
            doc = self.site_config.get(kind)
            if doc is not None:
                self._site_config_changed(doc)
        if not self.connect:
            log.warning("link not started (--offline): events stay in the outbox")
            return
        link = link_from_config(self.config)
        self.link = link
        if self.metrics is not None:
            self.metrics.connected = link.connected.is_set
        self.site_config.link = link
        forwarder = Forwarder(
            self.outbox,
            link,
            replay_rate_per_s=cfg.replay_rate_per_s,
            central_ack_timeout_s=cfg.central_ack_timeout_s,
        )
        skew = ClockSkew()
        # Expiry is central's time: judged on the skew-corrected clock, not the Pi's own.
        commands = CommandHandler(
            link,
            device.site,
            device.id,
            state / "commands.sqlite3",
            clock=skew.central_clock(utc_now, before_first=self.clock),
        )
        commands.on(CommandName.RAISE, self._cmd_raise)
        commands.on(CommandName.SET_CAPACITY, self._cmd_capacity)
        commands.on(CommandName.CORRECT_OCCUPANCY, self._cmd_occupancy)
        commands.on(CommandName.RELOAD_TARIFF, self._cmd_reload_tariff)
        commands.on(
            CommandName.RELOAD_WHITELIST, lambda c: (True, "whitelist follows config/whitelist")
        )
        clock_watch = ClockWatch(
            link,
            skew,
            on_unsynced=lambda ms: self.lane.set_clock_sync(False),
            on_synced=lambda ms: self.lane.set_clock_sync(True),
        )
        health = HealthReporter(
            link,
            device.site,
            device.id,
            role=device.role,
            outbox=self.outbox,
            skew=skew,
            storage=self.lane.storage,
            interval_s=cfg.health_interval_s,
            clock=self.clock,
        )
        health.provide(lambda: self._health(skew))
        for part in (self.site_config, commands, clock_watch, forwarder, health):
            part.start()
        link.start()
        for closer in (commands.close, forwarder.stop, health.stop, link.stop):
            self.on_stop(closer)

    def start_booth_api(self) -> None:
        """The guard's booth console (page + JSON API) on [console] bind:port, with the lane's /api/lane.

        Every action needs a guard signed on at that browser or the scoped machine token; refused
        attempts are counted and, when they repeat, sent to central as ``local_access_refused``.
        """
        console, device = self.config.console, self.config.device
        assert self.config.lane is not None
        rules = PageRules.of(console)
        token = machine_token(console, os.environ)
        tls = self._tls_files()
        if not console.serve_console:
            # The post's console (create_console_app with several lanes) keeps the shift ledger;
            # a second console here would take the lane's events into a ledger nobody reads.
            refusals = self._refusals("lane_api", rules)
            api = create_booth_api(self.lane, token=token)
            install(api, refusals, rules)
            running = serve_console(api, console.bind, console.port, *tls)
            self.page_app, self.page_url = api, running.url
            self.on_stop(running.stop)
            log.info(
                "lane api at %sapi/lane (console served by the post)",
                running.url,
                extra={"device": device.id},
            )
            return
        roster_path = self.base / "guards.toml"
        if roster_path.is_file():
            roster = GuardRoster.load(roster_path, self.clock)
        else:
            log.warning(
                "no guard roster at %s: nobody can sign on at the booth console", roster_path
            )
            roster = GuardRoster([], self.clock)
        store = ConsoleStore(
            self._path(
                str(Path(self.config.lane.state_path).parent / "console.sqlite3"), "console.sqlite3"
            )
        )
        self.on_stop(store.close)
        voice = None
        if not self.simulate:
            voice = Voice(
                VoiceSettings(
                    languages=("zh", "en") if device.language == "zh-CN" else ("en", "zh")
                ),
                self.clock,
            )
            if voice._binary is None:
                log.warning(
                    "espeak-ng not installed: the lane will not speak fees (apt install espeak-ng)"
                )
                voice = None
        refusals = self._refusals("console", rules)
        app = create_console_app(
            [self.lane],
            roster,
            store,
            post=device.id,
            site=device.site,
            clock=self.clock,
            printer=self.assembly.parts.printer,
            voice=voice,
            currency=self.tariff.currency,
            receipt_key=self.keys.sign_with(self.keys.signing_key_id, b"gatepost receipt key v1"),
            language="zh-CN" if device.language == "zh-CN" else "en",
            rules=rules,
            idle_s=console.session_idle_min * 60,
            refusals=refusals,
        )
        # The lane's own JSON API under /api/lane: the guard signed on at this browser, or the token.
        api = create_booth_api(self.lane, actor=app.state.actor, token=token)
        install(api, refusals, None)
        app.mount("/", api)
        running = serve_console(app, console.bind, console.port, *tls)
        self.page_app, self.page_url = app, running.url
        self.on_stop(running.stop)
        log.info("booth console at %s", running.url, extra={"device": device.id})

    def _tls_files(self) -> tuple[str | None, str | None]:
        """[console] TLS certificate and key, relative to the config file like every other path."""
        console = self.config.console
        if console.tls_cert_file is None or console.tls_key_file is None:
            return None, None
        return str(self.base / console.tls_cert_file), str(self.base / console.tls_key_file)

    def _refusals(self, page: Page, rules: PageRules) -> Refusals:
        """Refused requests at a local page; repeated ones go to central through the outbox."""

        def report(summary: dict[str, object]) -> None:
            self.outbox.emit(
                EventType.LOCAL_ACCESS_REFUSED, LocalAccessRefused.model_validate(summary)
            )

        return Refusals(page, rules.alarm_threshold, rules.alarm_window_s, report)

    # ----------------------------------------------------------------- central's config and commands

    def _site_config_changed(self, doc: SiteConfig) -> None:
        try:
            if doc.kind == ConfigKind.WHITELIST:
                entries = doc.data.get("entries", [])
                self.lane.set_whitelist(
                    {e["badge"]: e.get("holder_class", "resident") for e in entries}
                )
            elif doc.kind == ConfigKind.CAPACITY:
                self.lane.machine.occupancy.set_capacity(
                    int(doc.data["capacity"]), int(doc.data.get("reserved", 0))
                )
            elif doc.kind == ConfigKind.OCCUPANCY:
                self.lane.machine.occupancy.correct(int(doc.data["occupied"]))
        except (KeyError, TypeError, ValueError, GatepostError) as exc:
            log.error("site config %s not applied: %s", doc.kind, exc)

    def _cmd_raise(self, command: Command) -> tuple[bool, str]:
        args = RaiseArgs.model_validate(command.args)
        try:
            # remote: allowed with nobody on duty, even in refuse_all; audited as manual_raise.
            self.lane.manual_raise(args.reason, by=command.by, request_id=command.id, remote=True)
        except LaneRefused as exc:
            return False, str(exc)
        return True, "barrier raised"

    def _cmd_capacity(self, command: Command) -> tuple[bool, str]:
        args = CapacityArgs.model_validate(command.args)
        self.lane.machine.occupancy.set_capacity(args.capacity, args.reserved)
        return True, f"capacity {args.capacity}, reserved {args.reserved}"

    def _cmd_occupancy(self, command: Command) -> tuple[bool, str]:
        args = OccupancyArgs.model_validate(command.args)
        try:
            now = self.lane.correct_occupancy(args.occupied, args.reason, command.by)
        except LaneRefused as exc:
            return False, str(exc)
        return True, f"occupied now {now}"

    def _cmd_reload_tariff(self, command: Command) -> tuple[bool, str]:
        assert self.config.tariff is not None
        try:
            tariff = load_tariff(self.base / self.config.tariff.file)
        except GatepostError as exc:
            return False, f"tariff not reloaded: {exc}"
        self.tariff = tariff
        return True, f"tariff {tariff.name!r} loaded"

    def _health(self, skew: ClockSkew) -> dict[str, Any]:
        self.lane.set_clock_sync(skew.synced(time.monotonic()))
        status = self.lane.status()
        readers: dict[str, str] = {}
        if self.assembly.parts.card_station is not None:
            readers["card"] = str(getattr(self.assembly.parts.card_station, "status", "ok"))
        if self.assembly.parts.badge_reader is not None:
            readers["badge"] = str(getattr(self.assembly.parts.badge_reader, "status", "ok"))
        if self.assembly.parts.camera is not None:
            readers["camera"] = str(getattr(self.assembly.parts.camera, "status", "ok"))
        if self.lane.snapshots is not None:
            readers["snapshots"] = self.lane.snapshots.status
        return {
            "barrier": status.barrier,
            "readers": readers,
            "occupied": status.occupied,
            "capacity": status.capacity,
            "out_of_service": status.out_of_service,
            "guard_on_duty": status.guard_on_duty,
        }


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


@click.command("edge")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="the lane's TOML config, e.g. /etc/gatepost/lane.toml",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="keep the outbox and lane state here instead of the configured paths",
)
@click.option(
    "--offline", is_flag=True, help="do not connect to the broker (events wait in the outbox)"
)
def edge(config_path: str, state_dir: Path | None, offline: bool) -> None:
    """Run a lane or kiosk agent until SIGTERM or Ctrl-C."""
    config = load_config(config_path)
    agent: Any
    if config.device.role == "kiosk":
        # Imported here: the kiosk loads OpenCV, which a lane Pi should not pay for at start-up.
        from edge.kiosk.agent import KioskAgent

        agent = KioskAgent(config, state_dir=state_dir, connect=not offline)
    else:
        agent = Agent(config, state_dir=state_dir, connect=not offline)

    def on_signal(signum: int, frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        agent.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.run()

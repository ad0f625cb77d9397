"""``gatepost demo``: a whole simulated site on this machine, with no set-up.

Start-up reads like a script; Ctrl-C undoes it in reverse:

    1. work dir        a temporary directory (kept with --keep)
    2. broker          the embedded MQTT broker (amqtt) on localhost
    3. central         FastAPI app + ingest on SQLite, migrated; demo users with fresh passwords
    4. lanes           two entry lanes and one exit lane: real agents on simulated hardware,
                       configs written from firmware_configs/examples
    5. booth console   one post console for the three lanes; a demo guard signed on (PINs new each run)
    6. kiosk           the lobby visitor kiosk on simulated camera and printer, on the same broker
    7. traffic         the traffic model on one accelerated clock (--speed) driving the lanes and the
                       kiosk; the guard's taps (cash, lost cards, incidents) go through the booth

The simulated day ends at the real present: the site replays the last
``--duration`` at ``--speed`` and then, unless ``--exit-after``, runs on live.
Every timestamp the lanes write is on that one clock, so the dashboard shows
the simulated day's events.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import uvicorn
from pydantic import SecretStr

from central.api.runtime import OpsSettings
from central.app import create_app, server_config
from central.auth.service import create_user
from central.db.session import make_engine, make_sessions, upgrade
from central.embedded_broker import EmbeddedBroker
from central.ingest.service import IngestService
from central.settings import load_settings
from central.visitors.settings import VisitorSettings
from edge.agent import Agent
from edge.config import load_config
from edge.config.load import shipped_firmware
from edge.console.app import create_console_app, serve_console
from edge.console.booth import Booth
from edge.console.guards import Guard, GuardRoster, hash_pin
from edge.console.store import ConsoleStore
from edge.errors import GatepostError
from edge.hw.printer import TicketPrinter
from edge.kiosk.agent import KioskAgent
from edge.script import StartScript
from edge.sim.drive import SiteDriver
from edge.sim.site import SimClock
from edge.sim.traffic import TrafficModel, TrafficProfile
from edge.wire import parse_ts

log = logging.getLogger("gatepost.demo")

FIRMWARE = shipped_firmware()  # the checkout's firmware_configs, or the copy pip installed
EXAMPLES = FIRMWARE / "examples"
TARIFF = FIRMWARE / "tariffs" / "day_night_cn.toml"
SITE = "demo"
LANES = (
    ("demo-entry-1", "entry", "东门入口 / East gate in"),
    ("demo-entry-2", "entry", "南门入口 / South gate in"),
    ("demo-exit-1", "exit", "东门出口 / East gate out"),
)
ROLES = ("admin", "supervisor", "guard")
KIOSK = "demo-lobby-1"
POST = "demo-booth"
GUARDS = (
    ("g001", "王强 Wang Qiang", "guard"),
    ("g002", "李娜 Li Na", "guard"),
    ("s001", "张敏 Zhang Min", "supervisor"),
)
"""The booth roster: two guards who hand over at 08:00 and 20:00 (site time), and a supervisor."""
HANDOVER_HOURS = (8, 20)
DEMO_BARRIER = """kind = "barrier"
name = "Demo barrier (simulated; a quick arm so the demo keeps up with the traffic)"
model = "pulse"
pulse_s = 0.1
max_pulse_s = 1.0
travel_s = 0.3
travel_timeout_s = 3.0
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lane_config(
    workdir: Path,
    device: str,
    role: str,
    name: str,
    broker_port: int,
    console_port: int,
    profile: TrafficProfile,
) -> Path:
    """The shipped example for ``role``, simulated, pointed at the demo broker and work dir."""
    text = (EXAMPLES / f"{role}_lane.toml").read_text(encoding="utf-8")
    # The embedded broker speaks plain MQTT on loopback; the emulators bring their own serial ports.
    for section in ("link.tls", "hardware.ports"):
        text = re.sub(rf"(?ms)^\[{re.escape(section)}\]\n.*?(?=^\[|\Z)", "", text)
    subs: dict[str, str | Callable[[re.Match[str]], str]] = {
        r'site = ".*"': f'site = "{SITE}"',
        r'(?m)^id = ".*"': f'id = "{device}"',
        r'(?m)^name = ".*"': f'name = "{name}"',
        r'username = ".*"': f'username = "{device}"',
        r"simulate = false.*": 'simulate = true\nbarrier = "barrier_demo.toml"',
        r'profile = "(.*?)"': lambda m: f'profile = "{FIRMWARE / m.group(1)}"',
        r'file = "\.\./tariffs/day_night_cn\.toml"': f'file = "{TARIFF}"',
        r"(?ms)^\[keys\]\n.*?(?=^\[|\Z)": '[keys]\nfile = "site_keys.toml"\n\n',
        r"(?m)^close_delay_s = .*\n": "",
        r"(?m)^\[lane\]\n": "[lane]\nclose_delay_s = 0.3\n",
        r'host = ".*"': 'host = "127.0.0.1"',
        r"(?m)^port = 8883": f"port = {broker_port}",
        # Lanes start unattended; the demo guard signs on at the post's booth console (step 5).
        r"(?m)^port = (8080|8443)": f"port = {console_port}\nserve_console = false",
        # The demo's lanes serve /api/lane on loopback only, over plain HTTP (the booth tablet's TLS is not needed).
        r"(?m)^(hosts|tls_cert_file|tls_key_file) = .*\n": "",
        r'bind = ".*?"': 'bind = "127.0.0.1"',
        r"capacity = \d+": f"capacity = {profile.capacity}",
        r"reserved_spaces = \d+": f"reserved_spaces = {profile.reserved}",
        r'snapshot_dir = ".*"': f'snapshot_dir = "{workdir / device / "snapshots"}"',
        r"health_interval_s = \d+": "health_interval_s = 5",
    }
    for pattern, replacement in subs.items():
        text = re.sub(pattern, replacement, text)
    if "health_interval_s" not in text:
        text = text.replace("[link]\n", "[link]\nhealth_interval_s = 5\n")
    path = workdir / f"{device}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def kiosk_config(workdir: Path, broker_port: int, ui_port: int) -> Path:
    """The shipped lobby kiosk example, simulated, pointed at the demo broker and the site keys."""
    text = (EXAMPLES / "kiosk.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^\[link\.tls\]\n.*?(?=^\[|\Z)", "", text)
    subs: dict[str, str | Callable[[re.Match[str]], str]] = {
        r'site = ".*"': f'site = "{SITE}"',
        r'(?m)^id = ".*"': f'id = "{KIOSK}"',
        r'username = ".*"': f'username = "{KIOSK}"',
        r'profile = "(.*?)"': lambda m: f'profile = "{FIRMWARE / m.group(1)}"\nsimulate = true',
        r'host = ".*"': 'host = "127.0.0.1"',
        r"(?m)^port = 8883": f"port = {broker_port}",
        r"(?m)^port = 8080": f"port = {ui_port}",
        r'bind = ".*?"': 'bind = "127.0.0.1"',
    }
    for pattern, replacement in subs.items():
        text = re.sub(pattern, replacement, text)
    text = text.replace("[link]\n", "[link]\nhealth_interval_s = 5\n")
    text += '\n[keys]\nfile = "site_keys.toml"\n'
    path = workdir / f"{KIOSK}.toml"
    path.write_text(text, encoding="utf-8")
    return path


class ReceiptRoll:
    """The booth's receipt printer in the demo: a dummy ESC/POS printer torn off after every job.

    It keeps the last receipt's bytes and a count; a month of receipts is not held in memory.
    """

    def __init__(self) -> None:
        self.printer = TicketPrinter.open("dummy")
        self.printed = 0
        self.last = b""
        self._lock = threading.Lock()

    def print_receipt(self, lines: list[str], qr_text: str | None = None) -> None:
        with self._lock:
            self.printer.print_receipt(lines, qr_text)
            self.last = self.printer.captured
            self.printer.printer.clear()
            self.printed += 1

    def close(self) -> None:
        self.printer.close()


class DemoCentral:
    """Central in this process: the FastAPI app with ingest, served by uvicorn on a thread; restartable."""

    def __init__(
        self, db_url: str, broker_port: int, http_port: int, *, invite_key_hex: str | None = None
    ) -> None:
        self.db_url, self.broker_port, self.http_port = db_url, broker_port, http_port
        self.invite_key_hex = invite_key_hex
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._engine: Any = None
        self.url = f"http://127.0.0.1:{http_port}"

    def start(self) -> DemoCentral:
        # A stable client id: the ingest session survives a restart, so the broker keeps what arrives meanwhile.
        settings = load_settings(
            db_url=self.db_url,
            broker_port=self.broker_port,
            http_port=self.http_port,
            client_id="gatepost-demo-central",
            occupancy_publish_s=5.0,
        )
        self._engine = make_engine(settings.db_url)
        upgrade(self._engine)
        app = create_app(
            settings, engine=self._engine, ingest=IngestService(settings, self._engine)
        )
        if self.invite_key_hex is not None:
            # The kiosk's own key, so an invitation made on the visitor page scans at the demo kiosk.
            app.state.visitor_settings = VisitorSettings(
                visitor_invite_keys=SecretStr(f"1={self.invite_key_hex}")
            )
        # The demo is plain http on 127.0.0.1: the only place the session cookie is not Secure.
        app.state.ops_settings = OpsSettings(cookie_secure=False)
        self._server = uvicorn.Server(
            server_config(
                app,
                "127.0.0.1",
                self.http_port,
                log_level="warning",
                lifespan="on",
                log_config=None,
                # an open dashboard's SSE stream must not hold up Ctrl-C
                timeout_graceful_shutdown=2,
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="central-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise GatepostError(f"central did not start on port {self.http_port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)
        if self._engine is not None:
            self._engine.dispose()
        self._server = self._thread = self._engine = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class DemoOptions:
    speed: float = 600.0
    seed: int | None = None
    duration: timedelta = timedelta(days=1)
    exit_after: bool = False
    http_port: int = 8000
    broker_port: int = 0
    keep: bool = False
    workdir: Path | None = None
    profile: TrafficProfile = field(default_factory=TrafficProfile)


@dataclass
class DemoSite(StartScript):
    """Everything the demo started, and how to stop it (in reverse)."""

    options: DemoOptions
    workdir: Path = field(init=False)
    broker: EmbeddedBroker = field(init=False)
    central: DemoCentral = field(init=False)
    agents: list[Agent] = field(default_factory=list)
    driver: SiteDriver = field(init=False)
    clock: SimClock = field(init=False)
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)
    guard_pins: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    booth: Booth | None = None
    sim_guard: Guard | None = None
    receipts: ReceiptRoll | None = None
    kiosk: KioskAgent | None = None
    sim_start: datetime = field(init=False)
    sim_end: datetime = field(init=False)
    site_key_hex: str = field(init=False, repr=False)
    seed: int = 0

    STEPS = ("work dir", "broker", "central", "lanes", "booth console", "kiosk", "traffic")

    def __post_init__(self) -> None:
        StartScript.__init__(self)

    def steps(self) -> tuple[Callable[[], None], ...]:
        return (
            self.make_workdir,
            self.start_broker,
            self.start_central,
            self.start_lanes,
            lambda: start_booth_console(self),
            lambda: start_kiosk(self),
            self.start_traffic,
        )

    def start(self) -> DemoSite:
        self.run_steps()
        return self

    # ----------------------------------------------------------------- steps

    def make_workdir(self) -> None:
        opts = self.options
        self.workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="gatepost-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not opts.keep and opts.workdir is None:
            self.on_stop(lambda: shutil.rmtree(self.workdir, ignore_errors=True))
        # One site key, new each run: lanes sign tickets with it, central signs invitations, the kiosk checks both.
        self.site_key_hex = secrets.token_hex(32)
        keys = self.workdir / "site_keys.toml"
        keys.write_text(f'[keys]\n1 = "{self.site_key_hex}"\n', encoding="utf-8")
        keys.chmod(0o600)

    def start_broker(self) -> None:
        port = self.options.broker_port or _free_port()
        self.broker = EmbeddedBroker(port=port).start()
        self.on_stop(self.broker.stop)

    def start_central(self) -> None:
        db_url = f"sqlite:///{self.workdir / 'central.db'}"
        engine = make_engine(db_url)
        try:
            upgrade(engine)
            with make_sessions(engine)() as db:
                for role in ROLES:
                    username = f"demo-{role}"
                    # Fresh per run and printed once: there is never a default password.
                    password = secrets.token_urlsafe(12)
                    create_user(
                        db,
                        username,
                        password,
                        role,
                        now=datetime.now(UTC),
                        display_name=f"演示 demo {role}",
                        by="demo",
                    )
                    self.logins[role] = (username, password)
                db.commit()
        finally:
            engine.dispose()
        self.central = DemoCentral(
            db_url,
            self.broker.port,
            self.options.http_port or _free_port(),
            invite_key_hex=self.site_key_hex,
        ).start()
        self.on_stop(self.central.stop)
        self.urls["dashboard"] = f"{self.central.url}/dashboard"
        self.urls["visitor log"] = f"{self.central.url}/visitors"
        self.urls["api"] = f"{self.central.url}/docs"

    def start_lanes(self) -> None:
        opts = self.options
        self.seed = opts.seed if opts.seed is not None else secrets.randbelow(1_000_000)
        now = datetime.now(UTC).replace(microsecond=0)
        self.sim_end = now
        # The simulated span ends at the real present, so no event is ever dated in the future.
        self.sim_start = now - opts.duration
        self.clock = SimClock(self.sim_start)
        (self.workdir / "barrier_demo.toml").write_text(DEMO_BARRIER, encoding="utf-8")
        self.write_roster()
        for device, role, name in LANES:
            port = _free_port()
            path = lane_config(
                self.workdir, device, role, name, self.broker.port, port, opts.profile
            )
            agent = Agent(load_config(path), state_dir=self.workdir / device, clock=self.clock)
            (self.workdir / device).mkdir(exist_ok=True)
            agent.start()
            self.on_stop(agent.stop)
            self.agents.append(agent)
            self.urls[f"lane {device}"] = f"http://127.0.0.1:{port}/api/lane"

    def write_roster(self) -> None:
        """guards.toml beside the lane configs (the agents' own consoles read it too); PINs new each run."""
        lines = []
        for staff_id, name, role in GUARDS:
            pin = f"{secrets.randbelow(10**6):06d}"
            self.guard_pins[staff_id] = pin
            lines += [
                "[[guard]]",
                f'id = "{staff_id}"',
                f'name = "{name}"',
                f'role = "{role}"',
                f'pin_hash = "{hash_pin(pin)}"',
                "",
            ]
        path = self.workdir / "guards.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        path.chmod(0o600)

    def handover(self, now: datetime) -> None:
        """岗务交接 at 08:00 and 20:00 site time: the outgoing guard declares the cash, the other takes over."""
        booth = self.booth
        duty = booth.duty() if booth is not None else None
        if booth is None or duty is None:
            return
        local = now.astimezone(ZoneInfo(self.options.profile.tz))
        since = parse_ts(duty["since"]).astimezone(local.tzinfo)
        due = [local.replace(hour=h, minute=0, second=0, microsecond=0) for h in HANDOVER_HOURS]
        due += [d - timedelta(days=1) for d in due]
        if not any(since < d <= local for d in due):
            return
        expected = int(booth.shift_totals()["expected_cash_minor"])
        # Now and then the count is ¥10 short, so central's shift page shows a variance.
        declared = expected - (
            1000 if expected >= 1000 and random.Random(duty["shift_id"]).random() < 0.2 else 0
        )
        incoming = "g002" if duty["staff_id"] == "g001" else "g001"
        answer = booth.close_shift(
            uuid.uuid4().hex,
            by=self.driver.signed_on,
            declared_cash=f"{declared // 100}.{declared % 100:02d}",
            incoming_staff_id=incoming,
            incoming_pin=self.guard_pins[incoming],
        )
        # The incoming guard proved the PIN in the handover; from now on the taps are theirs.
        self.driver.signed_on = booth.roster.get((answer.get("duty") or {}).get("staff_id", ""))
        self.driver.tally.add(shift_handovers=1)

    def start_traffic(self) -> None:
        opts = self.options
        model = TrafficModel(opts.profile, random.Random(self.seed), self.sim_start)
        badges = {v.badge: "resident" for v in model.residents if v.badge}
        for agent in self.agents:
            agent.lane.set_whitelist(badges)
        entries = [a for a in self.agents if a.config.device.role == "entry"]
        exit_ = next(a for a in self.agents if a.config.device.role == "exit")
        self.driver = SiteDriver(
            model,
            self.clock,
            entries,
            exit_,
            speed=opts.speed,
            booth=self.booth,
            kiosk=self.kiosk,
            on_time=self.handover,
        )
        self.driver.signed_on = self.sim_guard
        self.driver.start(until=self.sim_end if opts.exit_after else None)
        self.on_stop(self.driver.stop)

    # ----------------------------------------------------------------- what to tell the user

    def banner(self) -> str:
        lines = [
            "Gatepost 演示站点 demo site — 2 entry lanes, 1 exit lane, simulated cars, cards, badges and barriers",
            (
                f"  模拟时间 simulated time: {self.sim_start:%Y-%m-%d %H:%M} → {self.sim_end:%Y-%m-%d %H:%M} UTC"
                f" at {self.options.speed:g}x, seed {self.seed}"
            ),
        ]
        for name, url in self.urls.items():
            lines.append(f"  {name:<18} {url}")
        lines.append("  登录 logins (passwords are new each run):")
        for role, (user, password) in self.logins.items():
            lines.append(f"    {role:<11} {user} / {password}")
        if self.guard_pins:
            lines.append("  岗亭 booth console sign-on (staff ID / PIN, new each run):")
            for staff_id, name, role in GUARDS:
                lines.append(f"    {staff_id:<11} {self.guard_pins[staff_id]}  {name} ({role})")
        lines.append(f"  工作目录 work dir: {self.workdir}{' (kept)' if self.options.keep else ''}")
        lines.append("  Ctrl-C 停止 stops everything.")
        return "\n".join(lines)


# --------------------------------------------------------------------------- hooks for parts being built


def start_booth_console(site: DemoSite) -> None:
    """The gate booth (岗亭) runs all three lanes from one console; guard g001 signs on with the PIN."""
    exit_agent = next(a for a in site.agents if a.config.device.role == "exit")
    roster = GuardRoster.load(site.workdir / "guards.toml", site.clock)
    (site.workdir / POST).mkdir(exist_ok=True)
    store = ConsoleStore(site.workdir / POST / "console.sqlite3")
    site.on_stop(store.close)
    site.receipts = ReceiptRoll()
    site.on_stop(site.receipts.close)
    app = create_console_app(
        [a.lane for a in site.agents],
        roster,
        store,
        post=POST,
        site=SITE,
        clock=site.clock,
        printer=site.receipts,
        currency=exit_agent.tariff.currency,
        receipt_key=exit_agent.keys.sign_with(
            exit_agent.keys.signing_key_id, b"gatepost receipt key v1"
        ),
        language="zh-CN",
    )
    running = serve_console(app, "127.0.0.1", 0)  # returns once the page answers
    site.on_stop(running.stop)
    site.booth = app.state.booth
    # The simulated guard signs on with the PIN like a person; the Booth books its taps to that guard.
    answer = site.booth.sign_on(uuid.uuid4().hex, staff_id="g001", pin=site.guard_pins["g001"])
    site.sim_guard = roster.get(answer["signed_on"])
    site.urls["booth console"] = running.url


def start_kiosk(site: DemoSite) -> None:
    """The lobby visitor kiosk (前台来访登记): a real kiosk agent on a simulated camera and printer."""
    port = _free_port()
    path = kiosk_config(site.workdir, site.broker.port, port)
    (site.workdir / KIOSK).mkdir(exist_ok=True)
    site.kiosk = KioskAgent(
        load_config(path), state_dir=site.workdir / KIOSK, clock=site.clock, port=port
    ).start()
    site.on_stop(site.kiosk.stop)
    site.kiosk.camera_source.show_nobody()
    site.urls["kiosk"] = site.kiosk.url + "/"


# --------------------------------------------------------------------------- the command


def run_demo(
    options: DemoOptions,
    echo: Callable[[str], None] = click.echo,
    stop: threading.Event | None = None,
    on_started: Callable[[DemoSite], None] | None = None,
) -> DemoSite:
    """Start the site, print where it is, run until ``stop`` (or the end with ``exit_after``), stop it."""
    stop = stop or threading.Event()
    site = DemoSite(options)
    try:
        site.start()
        echo(site.banner())
        if on_started is not None:
            on_started(site)
        while not stop.wait(0.2):
            if options.exit_after and site.driver.finished.is_set():
                break
        echo(f"停止 stopping; 本次 this run: {site.driver.tally.as_dict()}")
    finally:
        site.stop()
    return site


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r}: use a number and a unit, e.g. 90m, 6h, 2d")
    value = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    if value <= timedelta(0) or value > timedelta(days=400):
        raise click.BadParameter(f"{text!r}: between 1 s and 400 days")
    return value


@click.command("demo")
@click.option(
    "--speed",
    default=600.0,
    show_default=True,
    type=click.FloatRange(1, 100_000),
    help="time acceleration: simulated seconds per real second",
)
@click.option("--seed", default=None, type=int, help="traffic seed (the same seed, the same day)")
@click.option(
    "--duration",
    default="1d",
    show_default=True,
    help="simulated span to replay, ending now: 90m, 6h, 2d …",
)
@click.option(
    "--exit-after", is_flag=True, help="stop when the span is played instead of running on live"
)
@click.option(
    "--port",
    "http_port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="central's HTTP port (0: any free port)",
)
@click.option(
    "--broker-port",
    default=0,
    type=click.IntRange(0, 65535),
    help="embedded broker port (0: any free)",
)
@click.option(
    "--keep", is_flag=True, help="keep the work dir (databases, configs, outboxes) afterwards"
)
@click.option("--verbose", is_flag=True, help="show the lanes' and central's own log lines")
def demo(
    speed: float,
    seed: int | None,
    duration: str,
    exit_after: bool,
    http_port: int,
    broker_port: int,
    keep: bool,
    verbose: bool,
) -> None:
    """Run a whole simulated site: broker, central, two entry lanes and an exit lane, with traffic."""
    if not verbose:
        # The banner says where everything is; the parts' own INFO lines would bury it.
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))
    options = DemoOptions(
        speed=speed,
        seed=seed,
        duration=parse_duration(duration),
        exit_after=exit_after,
        http_port=http_port,
        broker_port=broker_port,
        keep=keep,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        run_demo(options, click.echo, stop)
    except GatepostError as exc:
        raise click.ClickException(str(exc)) from exc


__all__ = [
    "DemoCentral",
    "DemoOptions",
    "DemoSite",
    "demo",
    "parse_duration",
    "run_demo",
    "start_booth_console",
    "start_kiosk",
]

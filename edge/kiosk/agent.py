"""``gatepost edge --config kiosk.toml``: the lobby kiosk agent (前台来访登记).

Start-up reads like a script, as the lane agent's does:

    1. local state   outbox (the lanes' durable store-and-forward) + kiosk store + site config
    2. keys          invite/pass keys from [keys] (a simulation key with hardware.simulate)
    3. hardware      camera + face check, visitor-pass printer (or simulators)
    4. kiosk         the check-in logic wired to all of the above
    5. link          MQTT, outbox forwarder, block list as a retained site config, health
    6. kiosk ui      the touchscreen page on [console] bind:port
    7. metrics       Prometheus /metrics on [metrics] bind:port (only if configured)

The kiosk works with the broker and central gone: the block list is the
last retained copy kept on disk, and check-ins wait in the outbox.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from edge.config import AgentConfig
from edge.config.schema import KioskSection
from edge.errors import ConfigError
from edge.hw.camera import Camera
from edge.hw.printer import TicketPrinter
from edge.kiosk.desk import Kiosk, KioskSettings
from edge.kiosk.face import FaceCheck
from edge.kiosk.store import KioskStore
from edge.kiosk.visit import BlockList
from edge.kiosk.web import create_kiosk_app
from edge.link import (
    ClockSkew,
    ClockWatch,
    Forwarder,
    HealthReporter,
    MqttLink,
    Outbox,
    link_from_config,
)
from edge.link.site_config import SiteConfigStore
from edge.link.storage import StorageGuard
from edge.localpage import PageRules, Refusals
from edge.script import AgentScript
from edge.serve import serve_local
from edge.wire import (
    ConfigKind,
    EventType,
    LocalAccessRefused,
    SiteConfig,
    VisitorBlocklist,
    utc_now,
)

log = logging.getLogger("gatepost.kiosk")

SIM_KEY = "5e" * 32
"""Used only with ``hardware.simulate = true`` when no key is configured; never on a real kiosk."""


class KioskAgent(AgentScript):
    """One lobby kiosk: its steps, what they built, and how to undo them.

    ``port`` overrides ``[console] port`` (0 picks a free one; see :attr:`url`).
    With simulated hardware, :attr:`camera_source` is the kiosk camera
    simulator (show a face, nobody, or a QR) and :attr:`printer` a dummy
    printer whose ``captured`` bytes are the printed passes.
    """

    STEPS = ("local state", "keys", "hardware", "kiosk", "link", "kiosk ui", "metrics")

    def __init__(
        self,
        config: AgentConfig,
        *,
        state_dir: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
        connect: bool = True,
        port: int | None = None,
    ) -> None:
        if config.device.role != "kiosk":
            raise ConfigError(
                f"device.role {config.device.role!r}: this agent runs the lobby kiosk"
            )
        self.config = config
        self.settings: KioskSection = config.kiosk or KioskSection()
        self.base = Path(config.path or ".").parent
        self.simulate = config.hardware.simulate
        self.state_dir = state_dir
        self.clock = clock
        self.connect = connect
        self.port = config.console.port if port is None else port
        super().__init__()
        self.outbox: Outbox
        self.store: KioskStore
        self.site_config: SiteConfigStore
        self.keys: dict[int, bytes] = {}
        self.signing_key_id = 1
        self.camera: Camera | None = None
        self.camera_source: Any = None
        self.printer: TicketPrinter | None = None
        self.page_app: FastAPI | None = None
        """The kiosk screen's app, once served (its ``state.refusals`` counts refused requests)."""
        self.faces: FaceCheck | None = None
        self.kiosk: Kiosk
        self.link: MqttLink | None = None
        self._blocklist = BlockList()

    # ----------------------------------------------------------------- the script

    def steps(self) -> tuple[Callable[[], None], ...]:
        return (
            self.open_local_state,
            self.load_keys,
            self.build_hardware,
            self.build_kiosk,
            self.start_link,
            self.start_ui,
            self.start_metrics,
        )

    def start(self) -> KioskAgent:
        took = self.run_steps()
        log.info("kiosk ready in %.2f s at %s", took, self.url)
        return self

    @property
    def url(self) -> str:
        host = self.config.console.bind
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{host}:{self.port}"

    # ----------------------------------------------------------------- steps

    def _state(self) -> Path:
        if self.state_dir is None:
            configured = Path(self.config.link.outbox_path).parent
            try:
                configured.mkdir(parents=True, exist_ok=True)
                self.state_dir = configured
            except OSError:
                if not self.simulate:
                    raise
                self.state_dir = Path(tempfile.mkdtemp(prefix=f"gatepost-{self.config.device.id}-"))
                log.warning(
                    "simulate: %s is not writable; keeping state in %s", configured, self.state_dir
                )
        return self.state_dir

    def open_local_state(self) -> None:
        device, link = self.config.device, self.config.link
        state = self._state()
        self.outbox = Outbox(
            state / "outbox.sqlite3",
            device.site,
            device.id,
            bound=link.outbox_bound,
            clock=self.clock,
        )
        self.on_stop(self.outbox.close)
        self.count_into_metrics(self.outbox)
        self.store = KioskStore(state / "kiosk.sqlite3")
        self.on_stop(self.store.close)
        self.site_config = SiteConfigStore(None, device.site, state / "site-config.sqlite3")
        self.on_stop(self.site_config.close)
        self.site_config.on_change(self._blocklist_changed, ConfigKind.VISITOR_BLOCKLIST)
        held = self.site_config.get(ConfigKind.VISITOR_BLOCKLIST)
        if held is not None:
            self._blocklist_changed(held)

    def load_keys(self) -> None:
        section = self.config.keys
        try:
            if section is None:
                raise ConfigError("a kiosk needs [keys] to verify invitations and sign passes")
            hex_keys = section.resolve(base=self.base)
        except ConfigError:
            if not self.simulate:
                raise
            log.warning(
                "simulate: no keys configured; using the simulation key (never on a real kiosk)"
            )
            hex_keys = {"1": SIM_KEY}
        try:
            self.keys = {int(k): bytes.fromhex(v) for k, v in hex_keys.items()}
        except ValueError as exc:
            raise ConfigError(f"keys: ids must be numbers and keys hex: {exc}") from exc
        self.signing_key_id = (
            section.signing_key_id
            if section and section.signing_key_id is not None
            else max(self.keys)
        )
        if self.signing_key_id not in self.keys:
            raise ConfigError(f"keys.signing_key_id {self.signing_key_id} is not among the keys")

    def build_hardware(self) -> None:
        profile = self.config.profile
        board_camera = profile.board.camera if profile is not None else None
        if board_camera is not None or self.simulate:
            if self.simulate:
                from edge.kiosk.sim_face import KioskCameraSource

                self.camera_source = KioskCameraSource()
                self.camera = Camera(self.camera_source)
            else:
                assert board_camera is not None
                self.camera = Camera(board_camera.source)
            self.on_stop(self.camera.close)
            self.faces = FaceCheck()
        printer = profile.printer if profile is not None else None
        if self.settings.print_pass and (printer is not None or self.simulate):
            width = 48 if printer is not None and printer.paper_width_mm == 80 else 32
            cut = printer.cut if printer is not None else True
            if self.simulate or printer is None or printer.connection == "dummy":
                self.printer = TicketPrinter.open("dummy", width=width, cut=cut)
            elif printer.connection == "serial":
                self.printer = TicketPrinter.open(
                    "serial", devfile=printer.port, baudrate=printer.baudrate, width=width, cut=cut
                )
            else:
                self.printer = TicketPrinter.open(
                    "usb",
                    idVendor=printer.usb_vendor_id,
                    idProduct=printer.usb_product_id,
                    width=width,
                    cut=cut,
                )
            self.on_stop(self.printer.close)

    def build_kiosk(self) -> None:
        device = self.config.device
        self.kiosk = Kiosk(
            KioskSettings(
                site=device.site,
                device=device.id,
                site_name=device.name or device.site,
                sales_office=self.settings.sales_office,
                pass_hours=self.settings.pass_valid_hours,
                print_pass=self.settings.print_pass,
                timezone=self.settings.timezone,
                signing_key_id=self.signing_key_id,
                keys=self.keys,
            ),
            outbox=self.metrics.counting(self.outbox) if self.metrics is not None else self.outbox,
            store=self.store,
            camera=self.camera,
            printer=self.printer,
            faces=self.faces,
            blocklist=lambda: self._blocklist,
            clock=self.clock,
            on_camera_error=self._camera_error,
            storage=StorageGuard(
                self.metrics.counting(self.outbox) if self.metrics is not None else self.outbox,
                clock=self.clock,
            ),
        )
        self.kiosk.storage.start()
        self.on_stop(self.kiosk.storage.stop)
        self.kiosk.purge(self.settings.retention_days)

    def start_link(self) -> None:
        cfg, device = self.config.link, self.config.device
        if not self.connect:
            log.warning("link not started (--offline): check-ins wait in the outbox")
            return
        link = link_from_config(self.config, reconnect_max_s=5)
        self.link = link
        self.site_config.link = link
        forwarder = Forwarder(
            self.outbox,
            link,
            replay_rate_per_s=cfg.replay_rate_per_s,
            central_ack_timeout_s=cfg.central_ack_timeout_s,
        )
        skew = ClockSkew()
        health = HealthReporter(
            link,
            device.site,
            device.id,
            role="kiosk",
            outbox=self.outbox,
            skew=skew,
            storage=self.kiosk.storage,
            interval_s=cfg.health_interval_s,
            clock=self.clock,
        )
        for part in (self.site_config, ClockWatch(link, skew), forwarder, health):
            part.start()
        link.start()
        for closer in (forwarder.stop, health.stop, link.stop):
            self.on_stop(closer)
        if self.metrics is not None:
            self.metrics.connected = link.connected.is_set

    def start_ui(self) -> None:
        console = self.config.console
        rules = PageRules.of(console)

        def report(summary: dict[str, object]) -> None:
            self.outbox.emit(
                EventType.LOCAL_ACCESS_REFUSED, LocalAccessRefused.model_validate(summary)
            )

        app = create_kiosk_app(
            self.kiosk,
            language=self.config.device.language,
            idle_reset_s=self.settings.idle_reset_s,
            take_photo=self.settings.take_photo,
            rules=rules,
            refusals=Refusals("kiosk", rules.alarm_threshold, rules.alarm_window_s, report),
        )
        base = Path(self.config.path or ".").parent
        tls = [str(base / f) if f else None for f in (console.tls_cert_file, console.tls_key_file)]
        running = serve_local(
            app, console.bind, self.port, what="kiosk screen", certfile=tls[0], keyfile=tls[1]
        )
        self.port = running.port
        self.page_app = app
        self.on_stop(running.stop)

    def _camera_error(self) -> None:
        if self.metrics is not None:
            self.metrics.reader_errors.labels("camera").inc()

    # ----------------------------------------------------------------- central's block list

    def _blocklist_changed(self, doc: SiteConfig) -> None:
        try:
            self._blocklist = BlockList.of(VisitorBlocklist.model_validate(doc.data).entries)
        except ValueError as exc:
            log.error("visitor block list not applied: %s", exc)
            return
        log.info(
            "visitor block list v%d: %d names, %d phones",
            doc.version,
            len(self._blocklist.names),
            len(self._blocklist.phones),
        )

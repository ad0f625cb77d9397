"""Real services for the tests: a Mosquitto broker per test, PostgreSQL, Chromium.

A test that needs a service the machine lacks is skipped with the reason on a
newcomer's machine, and fails under CI (``CI=true``), where a missing service
means a broken install step, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("GATEPOST_CHROMIUM", "/usr/bin/chromium")
PG_ADMIN_URL = os.environ.get("GATEPOST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def require(condition: bool, what: str) -> None:
    """Skip (newcomer) or fail (CI) when a needed service is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing under CI: .ci/run must install it", pytrace=False)
    pytest.skip(f"{what} is not available on this machine")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


@dataclass
class Broker:
    """A Mosquitto process of the test's own, on a free port, that a test may kill."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    listener_config: str | None = None
    autosave_interval: int = 1
    """Seconds between Mosquitto's snapshots; a SIGKILL loses what it took since the last one."""
    proc: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        listener = self.listener_config or f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        self.config_path.write_text(
            f"user root\n{listener}\n"
            f"persistence true\npersistence_location {self.workdir}/\n"
            f"autosave_interval {self.autosave_interval}\n"
            "max_queued_messages 1000000\nmax_inflight_messages 100\n"
            f"log_dest file {self.workdir}/mosquitto.log\nlog_type error\nlog_type warning\n"
            f"{self.extra_config}\n"
        )

    def start(self) -> Self:
        self.write_config()
        assert MOSQUITTO is not None, "mosquitto is missing: the fixtures require() it first"
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.proc.kill()
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"mosquitto did not start: {err}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, like a power cut."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def broker(tmp_path: Path):
    """A fresh anonymous Mosquitto on a free port, stopped after the test."""
    require(MOSQUITTO is not None, "mosquitto")
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture
def make_broker(tmp_path: Path):
    """Factory for brokers with a custom listener config (TLS, ACL tests)."""
    require(MOSQUITTO is not None, "mosquitto")
    made: list[Broker] = []

    def factory(**kwargs) -> Broker:
        b = Broker(tmp_path / f"broker{len(made)}", **kwargs)
        made.append(b)
        return b

    yield factory
    for b in made:
        b.stop()


def _pg_available() -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require(_pg_available(), f"PostgreSQL at {PG_ADMIN_URL}")
    import psycopg

    name = f"gp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright; never a downloaded browser."""
    require(Path(CHROMIUM).exists(), f"chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright (pip)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()

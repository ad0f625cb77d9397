"""The shipped systemd units: hardened as deploy/README.md promises, and accepted by systemd itself.

``systemd-analyze verify`` runs against a scratch root holding the units, the
distribution's own unit files and a stand-in for the installed ``gatepost``
executable, so it checks our units without touching this machine's systemd.
Unknown or misspelt directives only make it warn, so any output fails the test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.services import require

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")
EXE = "/opt/gatepost/venv/bin/gatepost"

ALL = sorted(p.name for p in UNITS.glob("*.service"))
EDGE = ["gatepost-edge.service", "gatepost-edge@.service"]
CENTRAL = ["gatepost-central.service", "gatepost-ingest@.service"]


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections → key → every value (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not key=value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(service: dict[str, list[str]], key: str) -> str:
    assert key in service, f"{key} missing"
    return service[key][-1]


def test_every_unit_is_shipped():
    assert set(EDGE + CENTRAL) <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_unit_is_hardened(name):
    unit = parse_unit(UNITS / name)
    service = unit["Service"]
    assert one(service, "User") == "gatepost" and one(service, "Group") == "gatepost"
    assert one(service, "ProtectSystem") == "strict"
    for key in (
        "ProtectHome",
        "PrivateTmp",
        "NoNewPrivileges",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictSUIDSGID",
    ):
        assert one(service, key) == "true", key
    assert one(service, "ReadWritePaths") == "/var/lib/gatepost"
    assert one(service, "Restart") == "always"
    assert one(service, "CapabilityBoundingSet") == ""  # no capabilities at all
    assert one(service, "ExecStart").startswith(EXE + " ")
    # Neither agent nor central sends sd_notify keep-alives: a WatchdogSec would kill healthy services.
    assert "WatchdogSec" not in service and one(service, "Type") == "simple"
    assert one(unit["Install"], "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("name", EDGE)
def test_edge_reaches_serial_and_gpio_and_never_waits_for_the_network(name):
    unit = parse_unit(UNITS / name)
    service = unit["Service"]
    assert set(one(service, "SupplementaryGroups").split()) == {"dialout", "gpio"}
    assert "PrivateDevices" not in service  # it would hide /dev/serial0 and /dev/gpiochip*
    assert one(service, "ExecStart").split()[1:3] == ["edge", "--config"]
    # A lane keeps working with the network gone: it may want it, never require it.
    assert "Requires" not in unit["Unit"] and "BindsTo" not in unit["Unit"]
    assert one(service, "KillSignal") == "SIGTERM"


def test_templates_keep_instances_apart():
    service = parse_unit(UNITS / "gatepost-edge@.service")["Service"]
    assert "--state-dir /var/lib/gatepost/%i" in one(service, "ExecStart")
    assert one(service, "EnvironmentFile") == "/etc/gatepost/%i.env"
    ingest = parse_unit(UNITS / "gatepost-ingest@.service")["Service"]
    # Its own broker logins (`gatepost provision central-ingest-N --central --ingest-only`), read last so they win.
    assert ingest["EnvironmentFile"] == [
        "/etc/gatepost/central.env",
        "/etc/gatepost/central-ingest-%i.env",
    ]
    env = dict(v.split("=", 1) for v in ingest["Environment"])
    # Two processes with one MQTT client id would keep disconnecting each other.
    assert env["GATEPOST_CLIENT_ID"].endswith("%i") and env["GATEPOST_INGEST_SHARED"] == "true"
    assert env["GATEPOST_HOUSEKEEPING"] == "false"
    assert one(ingest, "ExecStart").endswith(
        "--ingest-only --metrics-port 911%i"
    )  # a port per instance


def test_central_migrates_before_it_runs():
    service = parse_unit(UNITS / "gatepost-central.service")["Service"]
    assert one(service, "ExecStartPre") == f"{EXE} central migrate"
    assert one(service, "PrivateDevices") == "true"
    assert one(service, "EnvironmentFile") == "/etc/gatepost/central.env"


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory) -> Path:
    require(
        shutil.which("systemd-analyze") is not None and SYSTEM_UNITS.is_dir(), "systemd-analyze"
    )
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    exe = root / EXE.lstrip("/")
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    target = root / "etc/systemd/system"
    target.mkdir(parents=True)
    for name in ALL:
        shutil.copy(UNITS / name, target / name)
    return root


@pytest.mark.parametrize("name", ALL)
def test_systemd_analyze_verify(scratch_root, name):
    instance = name.replace("@.", "@lane1.")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={scratch_root}", instance],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), (
        f"{done.stdout}{done.stderr}"
    )

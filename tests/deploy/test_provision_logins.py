"""``gatepost provision`` for central's processes and site bridges: one login per MQTT connection.

The broker forces client id = login (deploy/mosquitto/gatepost.conf), so what
provision writes must give every central connection a login of its own and
keep the installer's old command working.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from central.ingest.service import broker_connection
from central.provision import BRIDGE_TEMPLATE, Provisioner
from central.settings import load_settings
from edge.errors import ConfigError, GatepostError

GATEPOST = str(Path(sys.executable).parent / "gatepost")


def env_file(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    )


def acl_users(root: Path) -> list[str]:
    return [
        line.split()[1]
        for line in (root / "mosquitto" / "acl").read_text().splitlines()
        if line.startswith("user ")
    ]


def passwd_users(root: Path) -> list[str]:
    return [
        line.split(":", 1)[0] for line in (root / "mosquitto" / "passwd").read_text().splitlines()
    ]


def test_the_installers_command_still_writes_central_env_and_one_login_per_connection(
    tmp_path: Path,
):
    out = subprocess.run(
        [GATEPOST, "provision", "central", "--central", "--workers", "2", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    env = env_file(tmp_path / "central.env")
    assert env["GATEPOST_BROKER_USERNAME"] == "central" and env["GATEPOST_INGEST_WORKERS"] == "2"
    logins = ["central.house", "central.ingest-0", "central.ingest-1", "central.ops"]
    assert passwd_users(tmp_path) == logins and acl_users(tmp_path) == logins
    assert oct((tmp_path / "central.env").stat().st_mode & 0o777) == "0o600"
    # What central does with that file: each connection logs in as one of those logins, id = login.
    settings = load_settings(
        broker_username=env["GATEPOST_BROKER_USERNAME"],
        broker_password=env["GATEPOST_BROKER_PASSWORD"],
        ingest_workers=int(env["GATEPOST_INGEST_WORKERS"]),
    )
    made = [broker_connection(settings, role) for role in ("ingest-0", "ingest-1", "house", "ops")]
    assert sorted(cid for _, cid in made) == logins
    assert all(address.username == cid for address, cid in made)
    acl = (tmp_path / "mosquitto" / "acl").read_text()
    assert (
        acl.count("topic write gatepost/v1/+/+/ack") == 4
    )  # central's acknowledgement, from any of them


def test_an_ingest_only_process_gets_its_own_logins_and_no_house_or_ops(tmp_path: Path):
    prov = Provisioner(tmp_path)
    central = prov.provision_central("central", workers=2)
    extra = prov.provision_central("central-ingest-1", workers=2, ingest_only=True)
    assert extra.password != central.password
    # central's second worker (central.ingest-1) and the process central-ingest-1 do not collide.
    assert set(passwd_users(tmp_path)) == {
        "central.ingest-0",
        "central.ingest-1",
        "central.house",
        "central.ops",
        "central-ingest-1.ingest-0",
        "central-ingest-1.ingest-1",
    }
    assert (
        env_file(tmp_path / "central-ingest-1.env")["GATEPOST_BROKER_USERNAME"]
        == "central-ingest-1"
    )
    # Without a login (embedded broker) ids stay distinct per process, as before.
    plain = load_settings(client_id="gatepost-central")
    assert broker_connection(plain, "ingest-0")[1] == "gatepost-central-ingest-0"
    assert broker_connection(plain, "ops", per_process=True)[1].startswith("gatepost-central-ops-")


def test_reprovisioning_with_force_replaces_an_old_bare_login_and_surplus_workers(tmp_path: Path):
    root = tmp_path
    (root / "mosquitto").mkdir(parents=True)
    # What a broker provisioned before per-connection logins holds: one bare `central`, and a lane.
    (root / "mosquitto" / "passwd").write_text("central:$7$101$x$y\n")
    (root / "mosquitto" / "acl").write_text("user central\ntopic read gatepost/v1/#\n")
    prov = Provisioner(root)
    prov.provision_device("site-1", "lane-a", role="entry")
    prov.provision_central(workers=3)
    with pytest.raises(GatepostError, match="--force"):
        prov.provision_central(workers=1)
    prov.provision_central(workers=1, force=True)
    assert set(passwd_users(root)) == {"central.ingest-0", "central.house", "central.ops", "lane-a"}
    assert set(acl_users(root)) == set(passwd_users(root))


@pytest.mark.parametrize("device", ["central", "central-ingest-0", "bridge-site-1"])
def test_device_ids_cannot_take_central_or_bridge_logins(tmp_path: Path, device: str):
    with pytest.raises(ConfigError, match="reserved"):
        Provisioner(tmp_path).provision_device("site-1", device, role="entry")
    with pytest.raises(ConfigError):
        Provisioner(tmp_path).provision_central(
            "ingest-box"
        )  # central process names start with central


def test_bridge_provision_fills_the_shipped_template_and_keeps_the_bridge_to_its_site(
    tmp_path: Path,
):
    out = subprocess.run(
        [
            GATEPOST,
            "provision",
            "site-1",
            "--bridge",
            "--central-address",
            "central.example:8883",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    conf = (tmp_path / "bridges" / "site-1.conf").read_text()
    assert "@" not in conf.replace("# ", "").split("connection ", 1)[1]  # every marker filled in
    assert "address central.example:8883" in conf and "remote_username bridge-site-1" in conf
    assert oct((tmp_path / "bridges" / "site-1.conf").stat().st_mode & 0o777) == "0o600"
    assert passwd_users(tmp_path) == ["bridge-site-1"]
    acl = (tmp_path / "mosquitto" / "acl").read_text()
    assert (
        "topic read gatepost/v1/site-1/+/ack" in acl
        and "topic write gatepost/v1/site-1/+/event/+" in acl
    )
    assert "site-2" not in acl and "gatepost/v1/#" not in acl and "/+/+/" not in acl
    assert BRIDGE_TEMPLATE.read_text().count("@SITE@") >= 10

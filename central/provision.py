"""``gatepost provision``: give a device its broker credentials, ACL and config skeleton.

Run on the broker host by the operator. It writes, under ``--dir`` (default
``/etc/gatepost``)::

    mosquitto/passwd          Mosquitto password file (PBKDF2-SHA512, the ``$7$`` format)
    mosquitto/acl             one block per device: its own prefix, its commands, its site's config
    devices/DEVICE.toml       a config skeleton for the device, credentials by environment
    devices/DEVICE.env        GATEPOST_MQTT_PASSWORD=… for the device's systemd unit (mode 600)
    keys/SITE.toml            the site's ticket-signing key, created once per site (mode 600)
    tls/DEVICE-console.*      with --console-host: the booth console's TLS certificate (central.console_tls)

Existing credentials are never overwritten without ``--force``: re-provisioning
a live device would lock it out of the broker.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import click

from central.console_tls import make_console_cert
from edge import wire
from edge.errors import ConfigError, GatepostError, PayloadError

log = logging.getLogger(__name__)

PBKDF2_ITERATIONS = 101
"""Mosquitto 2's own default for ``$7$`` hashes; the broker reads the count from the line."""

CENTRAL_USER = "central"


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A Mosquitto ``$7$`` password-file hash (PBKDF2-HMAC-SHA512, 12-byte salt)."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def device_acl(site: str, device: str) -> str:
    """The ACL block that keeps a device to its own prefix (DESIGN.md §3)."""
    prefix = wire.device_prefix(site, device)
    return "\n".join(
        [
            f"user {device}",
            f"topic write {prefix}/event/+",
            f"topic write {prefix}/status",
            f"topic write {prefix}/health",
            f"topic write {prefix}/cmd_result",
            f"topic read {prefix}/cmd/+",
            f"topic read {wire.site_config_filter(site)}",
            f"topic read {wire.TIME_TOPIC}" if hasattr(wire, "TIME_TOPIC") else "",
        ]
    ).rstrip() + "\n"


def central_acl() -> str:
    """Central reads every device's traffic and writes commands, config and time."""
    root = wire.TOPIC_ROOT
    return "\n".join(
        [
            f"user {CENTRAL_USER}",
            f"topic read {root}/#",
            f"topic write {root}/+/+/cmd/+",
            f"topic write {root}/+/config/+",
            # Home Assistant MQTT discovery, published by central when GATEPOST_HA_DISCOVERY=true.
            "topic write homeassistant/#",
            f"topic write {wire.TIME_TOPIC}" if hasattr(wire, "TIME_TOPIC") else "",
        ]
    ).rstrip() + "\n"


@dataclass(slots=True)
class Provisioned:
    username: str
    password: str
    config_path: Path | None
    env_path: Path
    site_key_created: bool


class Provisioner:
    """Edits the broker's password file and ACL and writes the device's files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.passwd = root / "mosquitto" / "passwd"
        self.acl = root / "mosquitto" / "acl"

    def _read_passwd(self) -> dict[str, str]:
        if not self.passwd.exists():
            return {}
        entries = {}
        for line in self.passwd.read_text().splitlines():
            if ":" in line:
                user, hashed = line.split(":", 1)
                entries[user] = hashed
        return entries

    def _read_acl_blocks(self) -> dict[str, str]:
        if not self.acl.exists():
            return {}
        blocks: dict[str, str] = {}
        current: str | None = None
        for line in self.acl.read_text().splitlines(keepends=True):
            if line.startswith("user "):
                current = line.split(None, 1)[1].strip()
                blocks[current] = line
            elif current is not None and line.strip():
                blocks[current] += line
        return blocks

    def _write_private(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)

    def _store(self, username: str, password: str, acl_block: str, force: bool) -> None:
        users = self._read_passwd()
        if username in users and not force:
            raise GatepostError(
                f"{username!r} already has broker credentials in {self.passwd}; "
                "use --force to replace them (the device must then be given the new password)"
            )
        users[username] = hash_password(password)
        blocks = self._read_acl_blocks()
        blocks[username] = acl_block
        self._write_private(self.passwd, "".join(f"{u}:{h}\n" for u, h in sorted(users.items())))
        self._write_private(self.acl, "\n".join(blocks[u] for u in sorted(blocks)))

    def ensure_site_key(self, site: str) -> bool:
        """Create the site's ticket key once; return True if it was created now."""
        path = self.root / "keys" / f"{site}.toml"
        if path.exists():
            return False
        # The shape edge/config's [keys] file = … reads: a [keys] table of id = "hex".
        # Rotation: add key 2 here, copy to every lane, then set keys.signing_key_id = 2.
        self._write_private(path, f'# ticket-signing keys of site {site}\n[keys]\n1 = "{secrets.token_hex(32)}"\n')
        return True

    def provision_device(self, site: str, device: str, *, role: str, force: bool = False) -> Provisioned:
        try:
            wire.device_prefix(site, device)
        except PayloadError as exc:
            raise ConfigError(str(exc)) from exc
        if device == CENTRAL_USER:
            raise ConfigError(f"{CENTRAL_USER!r} is reserved for the central service")
        password = secrets.token_urlsafe(24)
        self._store(device, password, device_acl(site, device), force)
        created = self.ensure_site_key(site)
        env_path = self.root / "devices" / f"{device}.env"
        self._write_private(env_path, f"GATEPOST_MQTT_PASSWORD={password}\n")
        config_path = self.root / "devices" / f"{device}.toml"
        if not config_path.exists() or force:
            self._write_private(config_path, config_skeleton(site, device, role))
        log.info("provisioned device", extra={"site": site, "device": device, "role": role})
        return Provisioned(device, password, config_path, env_path, created)

    def provision_central(self, *, force: bool = False) -> Provisioned:
        password = secrets.token_urlsafe(24)
        self._store(CENTRAL_USER, password, central_acl(), force)
        env_path = self.root / "central.env"
        self._write_private(env_path, f"GATEPOST_BROKER_USERNAME={CENTRAL_USER}\nGATEPOST_BROKER_PASSWORD={password}\n")
        return Provisioned(CENTRAL_USER, password, None, env_path, False)


def config_skeleton(site: str, device: str, role: str) -> str:
    """A starting config for the device that loads as it is; the installer checks the hardware profile.

    ``gatepost config FILE`` validates it (tests/deploy test that it does, for every role).
    """
    lane = role in ("entry", "exit")
    profile = "boards/pi4_lane.toml" if lane else "boards/pi4_kiosk.toml"
    sections = f"""# Gatepost agent config for {device} at site {site}.
# Check the hardware profile against the board you wired (see firmware_configs/),
# then: gatepost config /etc/gatepost/{device}.toml
[device]
site = "{site}"
id = "{device}"
role = "{role}"
language = "zh-CN"

[hardware]
profile = "{profile}"
"""
    if lane:
        sections += f"""
[lane]
ticket_medium = "card"
capacity = 100                     # spaces on site; central's figure replaces it when reachable
unattended_mode = "badges_only"

[tariff]
file = "/etc/gatepost/tariff.toml" # start from firmware_configs/tariffs/

[keys]
file = "/etc/gatepost/keys/{site}.toml"
"""
    elif role == "kiosk":
        sections += "\n[kiosk]\nretention_days = 30\n"
    return sections + f"""
[link]
host = "broker.example.internal"
port = 8883
username = "{device}"
password_env = "GATEPOST_MQTT_PASSWORD"

[link.tls]
ca_file = "/etc/gatepost/tls/ca.crt"
"""


@click.command("provision")
@click.argument("device")
@click.option("--site", required=False, help="Site id the device belongs to (not for --central).")
@click.option("--role", type=click.Choice(["entry", "exit", "kiosk"]), default="entry", show_default=True)
@click.option("--central", "is_central", is_flag=True, help="Provision the central service's broker user instead.")
@click.option("--dir", "root", type=click.Path(path_type=Path), default=Path("/etc/gatepost"), show_default=True)
@click.option("--force", is_flag=True, help="Replace existing credentials.")
@click.option("--console-host", "console_hosts", multiple=True,
              help="Also make a TLS certificate for the device's booth console page, for this name or "
                   "address (repeat for each name the booth tablet opens).")
def provision(device: str, site: str | None, role: str, is_central: bool, root: Path, force: bool,
              console_hosts: tuple[str, ...]) -> None:
    """Create DEVICE's broker credentials, ACL entry, config skeleton and, for a new site, its ticket key."""
    provisioner = Provisioner(root)
    if is_central:
        done = provisioner.provision_central(force=force)
    else:
        if not site:
            raise click.UsageError("--site is required for a device")
        done = provisioner.provision_device(site, device, role=role, force=force)
    click.echo(f"broker user:   {done.username}")
    click.echo(f"password file: {provisioner.passwd}   acl: {provisioner.acl}")
    click.echo(f"credentials:   {done.env_path} (mode 600; copy to the device, then delete here)")
    if done.config_path:
        click.echo(f"config:        {done.config_path}")
    if done.site_key_created:
        click.echo(f"site key:      created {root / 'keys' / (site or '')}.toml (copy to every lane of the site)")
    if console_hosts and not is_central:
        crt, key, ca = make_console_cert(root, device, list(console_hosts), force=force)
        click.echo(f"console TLS:   {crt} and {key} (copy to the device's /etc/gatepost/tls/, key mode 600)")
        click.echo(f"               install {ca} once on each booth tablet; see [console] in exit_lane.toml")
    click.echo("reload the broker to apply: systemctl reload mosquitto (or kill -HUP its pid)")

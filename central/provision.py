"""``gatepost provision``: give a device its broker credentials, ACL and config skeleton.

Run on the broker host by the operator. It writes, under ``--dir`` (default
``/etc/gatepost``)::

    mosquitto/passwd          Mosquitto password file (PBKDF2-SHA512, the ``$7$`` format)
    mosquitto/acl             one block per login: its own prefix, its commands, its site's config
    devices/DEVICE.toml       a config skeleton for the device, credentials by environment
    devices/DEVICE.env        GATEPOST_MQTT_PASSWORD=… for the device's systemd unit (mode 600)
    keys/SITE.toml            the site's ticket-signing key, created once per site (mode 600)
    tls/DEVICE-console.*      with --console-host: the booth console's TLS certificate (central.console_tls)
    NAME.env                  ``--central``: one central process's logins (central.env for ``central``)
    bridges/SITE.conf         ``--bridge``: the site broker's bridge to this broker, password inside

The broker forces client id = login (``use_username_as_clientid``), so every
MQTT connection needs a login of its own: a device has one, a central process
one per connection (``NAME.ingest-<i>``, ``NAME.house``, ``NAME.ops``, one
password; the dot, which no process name or device id contains, keeps worker 1
of ``central``, ``central.ingest-1``, apart from the process ``central-ingest-1``),
a site bridge one (``bridge-SITE``). Login names are therefore
split by kind: ``central…`` for central, ``bridge-…`` for bridges, devices
neither. Existing credentials are never overwritten without ``--force``:
re-provisioning a live device would lock it out of the broker.
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
"""Central's default process name, and the prefix every central login starts with."""
BRIDGE_PREFIX = "bridge-"
"""A site bridge's login on the central broker is ``bridge-<site>``."""
BRIDGE_TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "site-bridge.conf"
"""The shipped bridge config; ``--bridge`` fills in the site, the address and the password."""


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> str:
    """A Mosquitto ``$7$`` password-file hash (PBKDF2-HMAC-SHA512, 12-byte salt)."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def device_acl(site: str, device: str) -> str:
    """The ACL block that keeps a device to its own prefix (DESIGN.md §3)."""
    prefix = wire.device_prefix(site, device)
    return (
        "\n".join(
            [
                f"user {device}",
                f"topic write {prefix}/event/+",
                f"topic write {prefix}/status",
                f"topic write {prefix}/health",
                f"topic write {prefix}/cmd_result",
                f"topic read {prefix}/cmd/+",
                # Central's acknowledgement of the events it has stored (DESIGN.md §3).
                f"topic read {wire.ack_topic(site, device)}",
                f"topic read {wire.site_config_filter(site)}",
                f"topic read {wire.TIME_TOPIC}" if hasattr(wire, "TIME_TOPIC") else "",
            ]
        ).rstrip()
        + "\n"
    )


def central_acl(login: str = CENTRAL_USER) -> str:
    """Central reads every device's traffic and writes commands, config, acks, notices and time."""
    root = wire.TOPIC_ROOT
    return (
        "\n".join(
            [
                f"user {login}",
                f"topic read {root}/#",
                f"topic write {root}/+/+/cmd/+",
                f"topic write {root}/+/config/+",
                f"topic write {wire.ALL_ACKS}",
                f"topic write {root}/+/notify/+",
                # Home Assistant MQTT discovery, published by central when GATEPOST_HA_DISCOVERY=true.
                "topic write homeassistant/#",
                f"topic write {wire.TIME_TOPIC}" if hasattr(wire, "TIME_TOPIC") else "",
            ]
        ).rstrip()
        + "\n"
    )


def bridge_acl(site: str) -> str:
    """A site bridge on the central broker: its site's uplink traffic up, its site's downlink down.

    The site broker holds each device to its own prefix; this keeps a whole
    site (and a stolen bridge password) to that site's topics.
    """
    root = f"{wire.TOPIC_ROOT}/{wire.check_id(site, 'site')}"
    return (
        "\n".join(
            [
                f"user {BRIDGE_PREFIX}{site}",
                f"topic write {root}/+/event/+",
                f"topic write {root}/+/status",
                f"topic write {root}/+/health",
                f"topic write {root}/+/cmd_result",
                f"topic read {root}/+/cmd/+",
                f"topic read {root}/+/ack",
                f"topic read {wire.site_config_filter(site)}",
                f"topic read {root}/notify/+",
                f"topic read {wire.TIME_TOPIC}",
            ]
        )
        + "\n"
    )


def central_logins(name: str, workers: int, *, ingest_only: bool) -> list[str]:
    """The logins of central process ``name``, one per connection (see ``central.ingest.service.broker_connection``)."""
    logins = [f"{name}.ingest-{i}" for i in range(workers)]
    return logins if ingest_only else [*logins, f"{name}.house", f"{name}.ops"]


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
        self._store_many({username: acl_block}, password, force)

    def _store_many(
        self,
        blocks_by_login: dict[str, str],
        password: str,
        force: bool,
        *,
        drop: tuple[str, ...] = (),
    ) -> None:
        """Add logins sharing ``password``; with ``drop``, first remove those names' logins (``NAME``, ``NAME.…``)."""
        users = self._read_passwd()
        taken = sorted(u for u in blocks_by_login if u in users)
        if taken and not force:
            raise GatepostError(
                f"{', '.join(taken)} already ha{'s' if len(taken) == 1 else 've'} broker credentials in "
                f"{self.passwd}; use --force to replace them (the device must then be given the new password)"
            )
        blocks = self._read_acl_blocks()
        for stale in [
            u for u in {*users, *blocks} if any(u == d or u.startswith(f"{d}.") for d in drop)
        ]:
            users.pop(stale, None)
            blocks.pop(stale, None)
        for username, acl_block in blocks_by_login.items():
            users[username] = hash_password(password)
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
        self._write_private(
            path, f'# ticket-signing keys of site {site}\n[keys]\n1 = "{secrets.token_hex(32)}"\n'
        )
        return True

    def provision_device(
        self, site: str, device: str, *, role: str, force: bool = False
    ) -> Provisioned:
        try:
            wire.device_prefix(site, device)
        except PayloadError as exc:
            raise ConfigError(str(exc)) from exc
        if device.startswith((CENTRAL_USER, BRIDGE_PREFIX)):
            raise ConfigError(
                f"device ids starting with {CENTRAL_USER!r} or {BRIDGE_PREFIX!r} are reserved for central's "
                f"and the site bridges' broker logins: {device!r}"
            )
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

    def provision_central(
        self,
        name: str = CENTRAL_USER,
        *,
        workers: int = 1,
        ingest_only: bool = False,
        force: bool = False,
    ) -> Provisioned:
        """Logins for central process ``name`` and its env file ``NAME.env``.

        One login per MQTT connection, because the broker uses the login as
        client id: ``NAME.ingest-0`` … for the ingest workers, ``NAME.house``
        and ``NAME.ops`` for the web app's housekeeping and commands. The env
        file also pins ``GATEPOST_INGEST_WORKERS`` to the logins made.
        Re-provisioning with ``--force`` removes the process's older logins
        (a bare ``central`` from before, surplus workers).
        """
        if not name.startswith(CENTRAL_USER):
            raise ConfigError(f"a central process name starts with {CENTRAL_USER!r}: {name!r}")
        try:
            wire.check_id(name, "central process name")
        except PayloadError as exc:
            raise ConfigError(str(exc)) from exc
        if not 1 <= workers <= 32:
            raise ConfigError(f"--workers must be 1-32, not {workers}")
        password = secrets.token_urlsafe(24)
        logins = central_logins(name, workers, ingest_only=ingest_only)
        self._store_many(
            {login: central_acl(login) for login in logins}, password, force, drop=(name,)
        )
        env_path = self.root / f"{name}.env"
        self._write_private(
            env_path,
            "# broker logins "
            + ", ".join(logins)
            + " (client id = login; see deploy/mosquitto/gatepost.conf)\n"
            f"GATEPOST_BROKER_USERNAME={name}\nGATEPOST_BROKER_PASSWORD={password}\n"
            f"GATEPOST_INGEST_WORKERS={workers}\n",
        )
        log.info("provisioned central", extra={"logins": ", ".join(logins)})
        return Provisioned(", ".join(logins), password, None, env_path, False)

    def provision_bridge(
        self,
        site: str,
        *,
        central_address: str,
        template: Path = BRIDGE_TEMPLATE,
        force: bool = False,
    ) -> Provisioned:
        """The site bridge's login on this (central) broker and the site broker's bridge config.

        ``bridges/SITE.conf`` is the shipped ``deploy/mosquitto/site-bridge.conf``
        with the site, central's ``host:port`` and the password filled in; it
        goes to the site broker's ``/etc/mosquitto/conf.d/``.
        """
        try:
            wire.check_id(site, "site")
        except PayloadError as exc:
            raise ConfigError(str(exc)) from exc
        if not template.is_file():
            raise ConfigError(f"bridge template {template} not found (pass --bridge-template)")
        password = secrets.token_urlsafe(24)
        login = f"{BRIDGE_PREFIX}{site}"
        text = template.read_text()
        for marker, value in (
            ("@SITE@", site),
            ("@CENTRAL_ADDRESS@", central_address),
            ("@BRIDGE_PASSWORD@", password),
        ):
            if marker not in text:
                raise ConfigError(f"bridge template {template} has no {marker}")
            text = text.replace(marker, value)
        self._store(login, password, bridge_acl(site), force)
        conf_path = self.root / "bridges" / f"{site}.conf"
        self._write_private(conf_path, text)
        log.info("provisioned site bridge", extra={"site": site, "login": login})
        return Provisioned(login, password, conf_path, conf_path, False)


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
    return (
        sections
        + f"""
[link]
host = "broker.example.internal"
port = 8883
username = "{device}"
password_env = "GATEPOST_MQTT_PASSWORD"

[link.tls]
ca_file = "/etc/gatepost/tls/ca.crt"
"""
    )


@click.command("provision")
@click.argument("name", metavar="NAME")
@click.option(
    "--site", required=False, help="Site id the device belongs to (not for --central/--bridge)."
)
@click.option(
    "--role", type=click.Choice(["entry", "exit", "kiosk"]), default="entry", show_default=True
)
@click.option(
    "--central",
    "is_central",
    is_flag=True,
    help="NAME is a central process (central, central-ingest-1, …): its broker logins and NAME.env.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="With --central: the process's ingest workers (one login each).",
)
@click.option(
    "--ingest-only",
    is_flag=True,
    help="With --central: a gatepost-ingest@ process (no house/ops logins).",
)
@click.option(
    "--bridge",
    "is_bridge",
    is_flag=True,
    help="NAME is a site: its bridge login on this (central) broker and bridges/NAME.conf for its broker.",
)
@click.option(
    "--central-address",
    default="broker.example.internal:8883",
    show_default=True,
    help="With --bridge: central broker's host:port as the site broker reaches it (TLS).",
)
@click.option(
    "--bridge-template",
    type=click.Path(path_type=Path),
    default=BRIDGE_TEMPLATE,
    show_default=True,
    help="With --bridge: the bridge config to fill in.",
)
@click.option(
    "--dir",
    "root",
    type=click.Path(path_type=Path),
    default=Path("/etc/gatepost"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Replace existing credentials.")
@click.option(
    "--console-host",
    "console_hosts",
    multiple=True,
    help="Also make a TLS certificate for the device's booth console page, for this name or "
    "address (repeat for each name the booth tablet opens).",
)
def provision(
    name: str,
    site: str | None,
    role: str,
    is_central: bool,
    workers: int,
    ingest_only: bool,
    is_bridge: bool,
    central_address: str,
    bridge_template: Path,
    root: Path,
    force: bool,
    console_hosts: tuple[str, ...],
) -> None:
    """Create NAME's broker credentials, ACL entry and files.

    NAME is a device (with --site: config skeleton, and for a new site its
    ticket key; with --console-host: its booth console's TLS certificate), a
    central process (--central) or a site (--bridge).
    """
    provisioner = Provisioner(root)
    if is_central and is_bridge:
        raise click.UsageError("--central and --bridge exclude each other")
    if console_hosts and (is_central or is_bridge):
        raise click.UsageError("--console-host is for a device's booth console")
    if is_central:
        done = provisioner.provision_central(
            name, workers=workers, ingest_only=ingest_only, force=force
        )
    elif is_bridge:
        done = provisioner.provision_bridge(
            name, central_address=central_address, template=bridge_template, force=force
        )
    else:
        if not site:
            raise click.UsageError("--site is required for a device")
        done = provisioner.provision_device(site, name, role=role, force=force)
    click.echo(f"broker user:   {done.username}")
    click.echo(f"password file: {provisioner.passwd}   acl: {provisioner.acl}")
    if is_bridge:
        click.echo(
            f"bridge config: {done.env_path} (mode 600; install on site {name}'s broker as "
            "/etc/mosquitto/conf.d/site-bridge.conf, then delete here)"
        )
    else:
        click.echo(
            f"credentials:   {done.env_path} (mode 600; copy to the device, then delete here)"
            if not is_central
            else f"credentials:   {done.env_path} (mode 600; EnvironmentFile of the unit)"
        )
    if done.config_path and not is_bridge:
        click.echo(f"config:        {done.config_path}")
    if done.site_key_created:
        click.echo(
            f"site key:      created {root / 'keys' / (site or '')}.toml (copy to every lane of the site)"
        )
    if console_hosts:
        crt, key, ca = make_console_cert(root, name, list(console_hosts), force=force)
        click.echo(
            f"console TLS:   {crt} and {key} (copy to the device's /etc/gatepost/tls/, key mode 600)"
        )
        click.echo(
            f"               install {ca} once on each booth tablet; see [console] in exit_lane.toml"
        )
    click.echo("reload the broker to apply: systemctl reload mosquitto (or kill -HUP its pid)")

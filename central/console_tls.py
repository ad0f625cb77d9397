"""TLS for a device's local page (the booth console a tablet opens): a private CA and one certificate per device.

``gatepost provision DEVICE --site S --console-host NAME [--console-host IP]`` calls
:func:`make_console_cert`. Under ``--dir`` it writes::

    tls/console-ca.crt           the site's console CA: install it once on each booth tablet
    tls/console-ca.key           keep it here, never on a device (mode 600)
    tls/DEVICE-console.crt       the page's certificate, for the names the tablet opens
    tls/DEVICE-console.key       its key: copy both to the device's /etc/gatepost/tls/ (mode 600)

The CA is separate from the broker's (deploy/mosquitto/make-certs.sh): a tablet
that trusts the console CA learns nothing about the MQTT listener, and the
reverse. ``openssl`` does the work, as in make-certs.sh.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import tempfile
from pathlib import Path

from edge.errors import ConfigError

DAYS = 825
"""The most a browser accepts for a leaf certificate issued by a private CA."""


def _openssl(*args: str) -> None:
    try:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    except FileNotFoundError as exc:
        raise ConfigError("openssl is not installed (apt install openssl)") from exc
    except subprocess.CalledProcessError as exc:
        raise ConfigError(
            f"openssl {args[0]} failed: {exc.stderr.decode(errors='replace')[-300:]}"
        ) from exc


def _san(names: list[str]) -> str:
    parts = []
    for name in names:
        try:
            parts.append(f"IP:{ipaddress.ip_address(name)}")
        except ValueError:
            if not name or any(
                c not in "abcdefghijklmnopqrstuvwxyz0123456789.-" for c in name.lower()
            ):
                raise ConfigError(
                    f"--console-host {name!r} is not a host name or IP address"
                ) from None
            parts.append(f"DNS:{name}")
    return ",".join(parts)


def make_console_cert(
    root: Path, device: str, names: list[str], *, force: bool = False, days: int = DAYS
) -> tuple[Path, Path, Path]:
    """The device's console certificate and key for ``names``, and the CA that signed it."""
    if not names:
        raise ConfigError("give at least one --console-host (the name or address the tablet opens)")
    tls = root / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = tls / "console-ca.key", tls / "console-ca.crt"
    key, crt = tls / f"{device}-console.key", tls / f"{device}-console.crt"
    if crt.exists() and not force:
        raise ConfigError(f"{crt} exists; use --force to replace it")
    old = os.umask(0o077)
    try:
        if not ca_crt.exists():
            _openssl(
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "3650",
                "-subj",
                "/CN=Gatepost booth console CA",
                "-keyout",
                str(ca_key),
                "-out",
                str(ca_crt),
            )
        with tempfile.TemporaryDirectory() as tmp:
            csr, ext = Path(tmp) / "console.csr", Path(tmp) / "console.ext"
            ext.write_text(
                f"subjectAltName={_san(names)}\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n"
            )
            _openssl(
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                f"/CN={names[0]}",
                "-keyout",
                str(key),
                "-out",
                str(csr),
            )
            _openssl(
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(ca_crt),
                "-CAkey",
                str(ca_key),
                "-CAcreateserial",
                "-days",
                str(days),
                "-extfile",
                str(ext),
                "-out",
                str(crt),
            )
    finally:
        os.umask(old)
    ca_crt.chmod(0o644)
    crt.chmod(0o644)
    key.chmod(0o600)
    return crt, key, ca_crt

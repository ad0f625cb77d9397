"""What the clean-venv smoke scripts share: stdlib only, since an ``[edge]`` venv has no pytest or httpx.

Each smoke script (``smoke_edge.py``, ``smoke_central.py``, ``smoke_demo.py``) runs
with the venv's own python and imports ``edge``/``central`` from that venv's
site-packages (the script's folder, not the checkout, is first on ``sys.path``).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware_configs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], *, timeout: float = 20.0, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (OSError, ValueError) as exc:  # a server not up yet, a half-written file
            last = exc
        time.sleep(0.05)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}"
        + (f" (last error: {last})" if last else "")
    )


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request: (status, headers, body); an HTTP error status is returned, not raised."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            assert isinstance(response, HTTPResponse)
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def check(ok: bool, message: str) -> None:
    if not ok:
        raise AssertionError(message)
    print(f"  ok   {message}", flush=True)


def run(name: str, body: Callable[[], None]) -> int:
    """Run one smoke test; print one clear PASS/FAIL line naming it; the exit status for ``sys.exit``."""
    started = time.monotonic()
    print(f"smoke [{name}] with {sys.executable}", flush=True)
    try:
        body()
    except BaseException as exc:  # noqa: BLE001 - any failure is reported, then the status says it
        traceback.print_exc()
        print(f"SMOKE [{name}] FAIL: {exc} ({time.monotonic() - started:.1f} s)", flush=True)
        return 1
    print(f"SMOKE [{name}] PASS ({time.monotonic() - started:.1f} s)", flush=True)
    return 0


def lane_config(
    folder: Path,
    *,
    role: str,
    console_port: int,
    simulate: bool = True,
    broker_port: int | None = None,
) -> Path:
    """The shipped example lane config, with absolute paths into the checkout's firmware_configs.

    ``simulate`` as given; the broker on 127.0.0.1:``broker_port`` without TLS (None: unchanged,
    for a run with ``--offline``); the console on 127.0.0.1:``console_port`` (plain http on loopback:
    the booth tablet's TLS lines of the exit example are dropped).
    """
    text = (FIRMWARE / "examples" / f"{role}_lane.toml").read_text(encoding="utf-8")
    text = text.replace("simulate = false", f"simulate = {'true' if simulate else 'false'}")
    text = text.replace('profile = "boards/', f'profile = "{FIRMWARE}/boards/')
    text = text.replace('file = "../tariffs/', f'file = "{FIRMWARE}/tariffs/')
    text = text.replace('bind = "0.0.0.0"', 'bind = "127.0.0.1"')
    text = re.sub(r"(?m)^port = (8080|8443)\b", f"port = {console_port}", text)
    text = re.sub(r"(?m)^(hosts|tls_cert_file|tls_key_file) = .*\n", "", text)
    if broker_port is not None:
        text = text.replace('host = "mqtt.sunrise-garden.example"', 'host = "127.0.0.1"')
        text = text.replace("port = 8883", f"port = {broker_port}")
        head, _, rest = text.partition("[link.tls]")
        text = head + rest.split("\n\n", 1)[1] if rest else text
    folder.mkdir(parents=True, exist_ok=True)
    keys = folder / "site_keys.toml"
    keys.write_text('[keys]\n1 = "' + "ab" * 32 + '"\n', encoding="utf-8")
    keys.chmod(0o600)
    text = text.replace('file = "/etc/gatepost/site_keys.toml"', f'file = "{keys}"')
    path = folder / f"{role}_lane.toml"
    path.write_text(text, encoding="utf-8")
    return path

"""Smoke test of a clean ``pip install '.[edge]'``: a lane agent on simulated hardware, end to end.

Run with the venv's python (no pytest in ``[edge]``):

    venv/bin/python tests/install/smoke_edge.py

The exit lane agent (``edge.agent.Agent``, what ``gatepost edge`` runs) starts
on the shipped exit-lane example with ``simulate = true`` (PN532 emulator on
a pty, gpiozero MockFactory pins, a dummy ESC/POS printer) and
a guard signs on with a PIN at the booth console;
a car arrives with a genuine entry card, the guard confirms the cash payment,
the barrier opens, the receipt is printed (captured ESC/POS bytes), the car
leaves and the barrier closes. Then: the console's API docs load from local
files, and a real-hardware config on this machine (no lgpio) stops with an
error naming the package to install.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Run as a script in a clean venv (no ``tests`` package installed): smoke_common is imported as the
# script's sibling on sys.path[0]. The type checker sees the same file under its package name.
if TYPE_CHECKING:
    from tests.install.smoke_common import check, free_port, http, lane_config, run, wait_for
else:
    from smoke_common import check, free_port, http, lane_config, run, wait_for

PIN = "2468"
STAFF = "g001"


def _cookie(headers: dict[str, str], name: str) -> str | None:
    """The value a ``Set-Cookie`` header gives ``name`` (urllib keeps the last header of a name)."""
    for key, value in headers.items():
        if key.lower() == "set-cookie" and value.startswith(f"{name}="):
            return value.split(";", 1)[0].split("=", 1)[1]
    return None


def console_sign_on(base_url: str, staff_id: str, pin: str) -> dict[str, str]:
    """Sign a guard on at the booth console with ID + PIN, as the page does; returns the headers later requests need.

    Like a browser: open the page (a session cookie and the CSRF token in its
    ``<meta name="csrf-token">``), POST the sign-on with both, then keep the
    renewed cookie and token the answer carries.
    """
    from edge.console.app import COOKIE
    from edge.localpage import CSRF_HEADER

    status, headers, page = http("GET", f"{base_url}/")
    check(status == 200, "booth console page opened")
    cookie = _cookie(headers, COOKIE)
    match = re.search(rb'<meta name="csrf-token" content="([^"]*)">', page)
    check(
        cookie is not None and match is not None,
        "the page gives this browser a session and a CSRF token",
    )
    assert cookie is not None and match is not None
    status, headers, body = http(
        "POST",
        f"{base_url}/api/console/sign-on",
        {"request_id": uuid.uuid4().hex, "staff_id": staff_id, "pin": pin},
        headers={"Cookie": f"{COOKIE}={cookie}", CSRF_HEADER: match.group(1).decode()},
    )
    if status != 200:
        raise AssertionError(f"sign-on refused: {status} {body[:300]!r}")
    answer = json.loads(body)
    cookie = _cookie(headers, COOKIE) or cookie
    return {"Cookie": f"{COOKIE}={cookie}", CSRF_HEADER: answer["csrf"]}


def write_roster(folder: Path) -> None:
    """guards.toml beside the config, as README's booth-console section says (argon2 PIN hash)."""
    from edge.console.guards import hash_pin

    (folder / "guards.toml").write_text(
        f'[[guard]]\nid = "{STAFF}"\nname = "王强"\nrole = "guard"\npin_hash = "{hash_pin(PIN)}"\n',
        encoding="utf-8",
    )


def smoke() -> None:

    from edge.agent import Agent
    from edge.config import load_config
    from edge.sim.pn532_emulator import NtagMemory
    from edge.sim.vehicle import VehicleSimulator
    from edge.ticket import new_serial

    work = Path(tempfile.mkdtemp(prefix="gatepost-smoke-edge-"))
    os.environ.setdefault("GATEPOST_MQTT_PASSWORD", "unused")
    port = free_port()
    config_path = lane_config(work / "etc", role="exit", console_port=port)
    write_roster(work / "etc")
    agent = Agent(load_config(config_path), state_dir=work / "state", connect=False)
    agent.start()
    try:
        base = f"http://127.0.0.1:{port}"
        # Any: the smoke reaches into the simulated parts (mock pins, emulators, the dummy printer).
        lane: Any = agent.lane
        sims: Any = agent.assembly.sims
        printer: Any = agent.assembly.parts.printer
        check(
            sims is not None and printer is not None,
            "simulated lane assembled with a receipt printer",
        )
        status, _, page = http("GET", f"{base}/")
        check(status == 200 and "岗亭".encode() in page, "booth console page served")

        headers = console_sign_on(base, STAFF, PIN)
        view = json.loads(http("GET", f"{base}/api/console", headers=headers)[2])
        check(
            (view.get("duty") or {}).get("staff_id") == STAFF, f"guard {STAFF} signed on with a PIN"
        )

        entry_at = datetime.now(UTC) - timedelta(minutes=95)
        ticket = lane.codec.make(new_serial("sg-entry-1", entry_at), entry_at, "car")
        car = VehicleSimulator(
            arming_loop=lane.arming_loop,
            safety_loop=lane.safety_loop,
            photo_eye=lane.photo_eye,
            barrier=lane.barrier,
            step_s=0.03,
        )
        car.arrive()
        sims.pn532.place_card(NtagMemory.with_user_memory(lane.codec.encode_card(ticket)))
        wait_for(lambda: lane.payments.due is not None, what="the fee to be due at the exit")

        def shown() -> dict | None:
            first = json.loads(http("GET", f"{base}/api/console", headers=headers)[2])["lanes"][0]
            return first if first.get("serial") else None

        lane_view = wait_for(shown, what="the console to show the car's card")
        check(
            lane_view["serial"] == ticket.serial, f"console shows card {ticket.serial} with its fee"
        )
        status, _, body = http(
            "POST",
            f"{base}/api/console/lanes/{lane.name}/confirm-payment",
            {"request_id": uuid.uuid4().hex, "serial": ticket.serial, "method": "cash"},
            headers=headers,
        )
        check(status == 200, f"cash payment confirmed ({status} {body[:120]!r})")
        wait_for(lambda: lane.barrier.state == "open", what="the barrier to open after payment")
        check(True, "barrier opened")
        wait_for(
            lambda: "停车收费凭证".encode("gb18030") in printer.captured,
            what="the receipt to be printed",
        )
        check(
            printer.captured.startswith(b"\x1b@") or b"\x1b@" in printer.captured,
            f"receipt printed: {len(printer.captured)} ESC/POS bytes with the GB18030 title",
        )
        car.drive_through()
        wait_for(lambda: lane.barrier.state == "closed", what="the barrier to close behind the car")
        check(True, "car left, barrier closed")
        payments = [
            row
            for row in agent.outbox.pending(limit=10_000)
            if row.event_type == "payment_confirmed"
        ]
        check(
            len(payments) == 1, "one payment_confirmed event waiting in the outbox (agent offline)"
        )

        status, _, docs = http("GET", f"{base}/api/console/docs")
        check(
            status == 200
            and b"cdn." not in docs
            and b"/api/console/docs-assets/swagger-ui-bundle.js" in docs,
            "console API docs page refers to local Swagger UI files only",
        )
        status, _, js = http("GET", f"{base}/api/console/docs-assets/swagger-ui-bundle.js")
        check(status == 200 and len(js) > 100_000, "Swagger UI script served by the agent itself")
    finally:
        agent.stop()

    missing_pin_factory(work)


def missing_pin_factory(work: Path) -> None:
    """A real-hardware config where lgpio is not installed: exit 2 and the package to install, no traceback."""
    try:
        import lgpio  # noqa: F401
    except ImportError:
        pass
    else:
        print(
            "  skip lgpio is installed in this venv: the missing-package message cannot be shown here"
        )
        return
    config_path = lane_config(work / "real", role="exit", console_port=free_port(), simulate=False)
    gatepost = Path(sys.executable).with_name("gatepost")
    result = subprocess.run(
        [
            str(gatepost),
            "edge",
            "--config",
            str(config_path),
            "--offline",
            "--state-dir",
            str(work / "real-state"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    check(
        result.returncode == 2
        and "gatepost[pi]" in result.stderr
        and "lgpio" in result.stderr
        and "Traceback" not in result.stderr,
        f"without lgpio, `gatepost edge` on a real board says what to install: {result.stderr.strip()[-200:]!r}",
    )


if __name__ == "__main__":
    sys.exit(run("edge", smoke))

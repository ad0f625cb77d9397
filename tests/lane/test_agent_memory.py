"""The idle lane agent stays within the Pi's memory budget: argon2, prometheus-client and Jinja2
load only when their feature is first used (a PIN check, [metrics], the first console page).

Each case runs the real agent in a fresh interpreter, so ``sys.modules`` shows what the agent
itself imported. The RSS figure itself is measured by ``tests/bench/lane_latency.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edge.console.guards import hash_pin
from tests.lane.test_link_faults import lane_config
from tests.support.services import free_port

HEAVY = ("argon2", "prometheus_client", "jinja2")

PROBE = """
import json, re, sys, httpx
from edge.agent import Agent
from edge.config import load_config

config = load_config(sys.argv[1])
agent = Agent(config, state_dir=__import__("pathlib").Path(sys.argv[2]), connect=False)
agent.start()
loaded = lambda: [m for m in {heavy!r} if m in sys.modules]
seen = {{"idle": loaded()}}
browser = httpx.Client(base_url=f"http://127.0.0.1:{{config.console.port}}", timeout=10)
page = browser.get("/")
seen["page"] = [page.status_code, loaded()]
csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
on = browser.post("/api/console/sign-on", headers={{"X-CSRF-Token": csrf}},
                  json={{"request_id": "req-memory-1", "staff_id": "g001", "pin": "1234"}})
seen["sign_on"] = [on.status_code, loaded()]
agent.stop()
print(json.dumps(seen))
"""


def run_probe(tmp_path: Path, extra: str = "") -> dict:
    path = lane_config(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    (tmp_path / "guards.toml").write_text(
        f'[[guard]]\nid = "g001"\nname = "王强"\nrole = "guard"\npin_hash = "{hash_pin("1234")}"\n',
        encoding="utf-8",
    )
    env = {
        "GATEPOST_SITE_KEYS": json.dumps({"1": "ab" * 32}),
        "GATEPOST_MQTT_PASSWORD": "unused",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), str(path), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_idle_lane_loads_argon2_jinja2_and_prometheus_only_when_used(tmp_path):
    seen = run_probe(tmp_path)
    assert seen["idle"] == []
    assert seen["page"] == [200, ["jinja2"]]  # the first page render
    assert seen["sign_on"] == [200, ["argon2", "jinja2"]]  # the first PIN check


def test_a_lane_with_metrics_configured_loads_prometheus_at_start(tmp_path):
    seen = run_probe(tmp_path, f'\n[metrics]\nbind = "127.0.0.1"\nport = {free_port()}\n')
    assert seen["idle"] == ["prometheus_client"]

"""A simulated kiosk agent for tests: the shipped kiosk board profile, simulated hardware."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from edge.config import load_config
from edge.kiosk.agent import KioskAgent

SITE = "sunrise-garden"
KEY_HEX = bytes(range(32)).hex()


def kiosk_config(
    tmp_path: Path,
    broker_port: int,
    *,
    device: str = "sg-lobby-1",
    language: str = "zh-CN",
    idle_reset_s: int = 60,
) -> Path:
    path = tmp_path / f"{device}.toml"
    path.write_text(
        f"""
[device]
site = "{SITE}"
id = "{device}"
role = "kiosk"
language = "{language}"
name = "大堂 / Lobby"

[hardware]
profile = "boards/pi4_kiosk.toml"
simulate = true

[keys]
env = "GATEPOST_TEST_KIOSK_KEYS"

[link]
host = "127.0.0.1"
port = {broker_port}
health_interval_s = 5

[console]
port = 8080

[kiosk]
sales_office = "售楼处在小区南门 / Sales office at the south gate"
idle_reset_s = {idle_reset_s}
""",
        encoding="utf-8",
    )
    return path


def start_kiosk(
    tmp_path: Path, broker_port: int, monkeypatch: Any, *, connect: bool = True, **kwargs: Any
) -> KioskAgent:
    monkeypatch.setenv("GATEPOST_TEST_KIOSK_KEYS", f"1={KEY_HEX}")
    config = load_config(kiosk_config(tmp_path, broker_port, **kwargs))
    return KioskAgent(
        config, state_dir=tmp_path / f"state-{uuid.uuid4().hex[:6]}", port=0, connect=connect
    ).start()


def form(**fields: Any) -> dict[str, Any]:
    return {
        "submission_id": str(uuid.uuid4()),
        "site": SITE,
        "category": "guest",
        "name": "张三",
        "host": "李四",
        "unit": "3-1201",
        "consent": True,
    } | fields

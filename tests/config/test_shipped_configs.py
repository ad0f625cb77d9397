"""Every profile and example config shipped in firmware_configs/ loads and validates."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge.config import HardwareProfile, load_config, load_part, load_profile, wiring
from edge.config.profile import UART_PINS

ROOT = Path(__file__).resolve().parents[2] / "firmware_configs"
SHIPPED = sorted(p for p in ROOT.rglob("*.toml") if "tariffs" not in p.relative_to(ROOT).parts)


def test_something_is_shipped():
    kinds = {p.relative_to(ROOT).parts[0] for p in SHIPPED}
    assert {"boards", "barriers", "readers", "printers", "displays", "examples"} <= kinds


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_file_validates(path):
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    kind = doc.get("kind")
    if kind is None:
        config = load_config(path)
        assert isinstance(config.profile, HardwareProfile)
        assert config.path == str(path.resolve())
    elif kind == "board":
        profile = load_profile(path)
        used = [pin for _, pin in profile.board.pins.used()]
        assert len(used) == len(set(used)) and not set(used) & set(UART_PINS)
    else:
        assert load_part(path, kind).kind == kind


def test_pi5_uses_lgpio_and_lanes_have_safety_inputs():
    for name in ("pi4_lane", "pi5_lane", "pi_zero_2w_lane"):
        profile = load_profile(ROOT / "boards" / f"{name}.toml")
        pins = profile.board.pins
        assert pins.safety_loop and pins.photo_eye and pins.arming_loop and profile.barrier
    assert load_profile(ROOT / "boards/pi5_lane.toml").board.pin_factory == "lgpio"


def test_entry_example_resolves_profile_and_override():
    config = load_config(ROOT / "examples/entry_lane.toml")
    assert config.device.role == "entry"
    assert config.profile.barrier.model == "pulse"
    assert config.profile.card_reader.port == "/dev/serial0"
    assert config.profile.board.pins.safety_loop.pin == 23
    assert config.keys.env == "GATEPOST_SITE_KEYS"


def test_kiosk_has_no_lane():
    config = load_config(ROOT / "examples/kiosk.toml")
    assert config.lane is None and config.kiosk.retention_days == 30
    assert config.profile.barrier is None and config.profile.printer is not None


def test_pi_boot_files_and_udev_rules_are_shipped():
    snippet = (ROOT / "pi/config.txt.snippet").read_text()
    assert "enable_uart=1" in snippet
    assert "console=serial0" in (ROOT / "pi/cmdline.txt.note").read_text()
    rules = (ROOT / "pi/99-gatepost.rules").read_text()
    for name in ("gatepost-badge", "gatepost-display", "gatepost-printer"):
        assert f'SYMLINK+="{name}"' in rules
    # every default serial path a shipped profile uses is one udev or the Pi provides
    for path in ROOT.rglob("*.toml"):
        port = tomllib.loads(path.read_text()).get("port")
        if isinstance(port, str) and port.startswith("/dev/gatepost-"):
            assert f'SYMLINK+="{port.removeprefix("/dev/")}"' in rules, path


def test_time_sync_and_rtc_snippets_are_shipped():
    rtc = (ROOT / "pi/rtc.txt.snippet").read_text()
    assert "dtoverlay=i2c-rtc,ds3231" in rtc and "fake-hwclock" in rtc
    timesync = (ROOT / "pi/timesyncd.conf").read_text()
    assert "[Time]" in timesync and "\nNTP=" in timesync
    # The RTC sits on I2C (GPIO2/3): no lane profile may take those pins.
    for path in (ROOT / "boards").glob("*.toml"):
        used = {pin for _, pin in load_profile(path).board.pins.used()}
        assert not used & {2, 3}, path


def test_every_board_has_a_wiring_table_and_the_readme_shows_it():
    generated = wiring.tables(ROOT)
    for path in (ROOT / "boards").glob("*.toml"):
        profile = load_profile(path)
        assert f"`boards/{path.name}`" in generated
        for _, pin in profile.board.pins.used():
            assert f"| {pin} | {wiring.HEADER_PIN[pin]} |" in generated
    readme = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    assert wiring.between_markers(readme) == generated, (
        "README wiring table is stale: run python -m edge.config.wiring --readme README.md"
    )


def test_wiring_table_header_pins_are_the_40_pin_header():
    # 28 GPIOs on the 40-pin header, each at its own physical pin.
    pins = wiring.HEADER_PIN
    assert len(pins) == 28 and len(set(pins.values())) == 28
    assert pins[14] == 8 and pins[15] == 10 and pins[17] == 11 and pins[21] == 40

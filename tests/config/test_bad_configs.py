"""Bad configs give a ConfigError naming the file, the dotted field and the line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import ConfigFileError, find_line, load_config
from edge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2] / "firmware_configs"
ENTRY = (ROOT / "examples/entry_lane.toml").read_text(encoding="utf-8")
BOARD = (ROOT / "boards/pi4_lane.toml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture
def write(tmp_path):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    write.dir = tmp_path
    # the lane's tariff path is relative to the config: give it one
    write("../tariffs/day_night_cn.toml", "")
    return write


def lane_with(write, old: str, new: str) -> tuple[Path, str]:
    assert old in ENTRY
    text = ENTRY.replace(old, new, 1)
    return write("lane.toml", text), text


def problem(path: Path) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    return info.value


def test_typo_field_is_named_with_suggestion_and_line(write):
    path, text = lane_with(write, "reserved_spaces = 20", "reserved_spacs = 20")
    err = problem(path)
    assert err.file == str(path)
    assert err.field == "lane.reserved_spacs" and err.line == line_of(text, "reserved_spacs")
    assert "unknown field" in str(err) and "did you mean 'reserved_spaces'" in str(err)
    assert str(err).startswith(f"{path}:{err.line}: lane.reserved_spacs")


def test_typo_of_required_field_is_one_problem(write):
    path, text = lane_with(write, "capacity = 180", "capcity = 180")
    err = problem(path)
    assert [p.field for p in err.problems] == ["lane.capcity"]
    assert err.line == line_of(text, "capcity") and "did you mean 'capacity'" in str(err)


def test_negative_timeout(write):
    path, text = lane_with(write, "close_delay_s = 1.0", "close_delay_s = -2.5")
    err = problem(path)
    assert (err.field, err.line) == ("lane.close_delay_s", line_of(text, "close_delay_s"))
    assert "greater than or equal to 0" in str(err) and "-2.5" in str(err)


def test_negative_barrier_timeout_in_profile_names_profile_file(write):
    write("boards/lane.toml", BOARD.replace('"barriers/pulse_generic.toml"', '"barriers/bad.toml"'))
    bad = write(
        "barriers/bad.toml",
        (ROOT / "barriers/pulse_generic.toml")
        .read_text()
        .replace("travel_timeout_s = 6.0", "travel_timeout_s = -6.0"),
    )
    path, _ = lane_with(write, 'profile = "boards/pi4_lane.toml"', 'profile = "boards/lane.toml"')
    err = problem(path)
    assert err.file == str(bad) and err.field == "travel_timeout_s"
    assert err.line == line_of(bad.read_text(), "travel_timeout_s")


def test_pin_used_twice(write):
    board = BOARD.replace("photo_eye     = { pin = 24", "photo_eye     = { pin = 23")
    board_path = write("boards/dup.toml", board)
    path, _ = lane_with(write, 'profile = "boards/pi4_lane.toml"', 'profile = "boards/dup.toml"')
    err = problem(path)
    assert err.file == str(board_path)
    assert err.field == "pins.photo_eye.pin" and err.line == line_of(board, "photo_eye")
    assert "GPIO23 is already used by pins.safety_loop.pin" in str(err)


def test_button_on_uart_pin(write):
    board = BOARD.replace("manual_close    = 21", "manual_close    = 15")
    write("boards/uart.toml", board)
    path, _ = lane_with(write, 'profile = "boards/pi4_lane.toml"', 'profile = "boards/uart.toml"')
    err = problem(path)
    assert err.field == "pins.buttons.manual_close" and err.line == line_of(board, "manual_close")
    assert "UART RX" in str(err)


def test_unknown_profile(write):
    path, text = lane_with(
        write, 'profile = "boards/pi4_lane.toml"', 'profile = "boards/pi9_lane.toml"'
    )
    err = problem(path)
    assert err.field == "hardware.profile" and err.line == line_of(text, "pi9_lane")
    assert "no such profile 'boards/pi9_lane.toml'" in str(err)


def test_wrong_kind_of_profile(write):
    path, _ = lane_with(
        write,
        'profile = "boards/pi4_lane.toml"',
        'profile = "boards/pi4_lane.toml"\nbarrier = "readers/rdm6300.toml"',
    )
    err = problem(path)
    assert (
        err.field == "kind"
        and "expected a barrier profile" in str(err)
        and "badge_reader" in str(err)
    )


def test_swapped_barrier_that_does_not_fit_points_at_lane_config(write):
    path, text = lane_with(
        write,
        'profile = "boards/pi4_lane.toml"',
        'profile = "boards/pi4_lane.toml"\nbarrier = "barriers/hold_generic.toml"',
    )
    err = problem(path)
    assert err.file == str(path) and err.field == "hardware.barrier"
    assert err.line == line_of(text, "hold_generic") and "one relay" in str(err)


def test_bad_port_override(write):
    path, text = lane_with(write, 'card_reader = "/dev/serial0"', 'card_reader = "serial0"')
    err = problem(path)
    assert err.field == "hardware.ports.card_reader" and err.line == line_of(
        text, 'card_reader = "serial0"'
    )


def test_reserved_more_than_capacity(write):
    path, _ = lane_with(write, "reserved_spaces = 20", "reserved_spaces = 500")
    err = problem(path)
    assert err.field == "lane.reserved_spaces" and "more than capacity" in str(err)


def test_wrong_role_value_and_missing_section(write):
    path, text = lane_with(write, 'role = "entry"', 'role = "gate"')
    err = problem(path)
    assert (
        err.field == "device.role" and "'gate'" in str(err) and err.line == line_of(text, "role =")
    )
    text = ENTRY.split("[keys]")[0] + "[link]" + ENTRY.split("[link]", 1)[1]
    err = problem(write("nokeys.toml", text))
    assert err.field == "keys" and "needs a [keys] section" in str(err)


def test_paper_exit_needs_camera(write):
    board = BOARD.split("[camera]")[0]
    write("boards/nocam.toml", board)
    exit_text = (
        (ROOT / "examples/exit_lane.toml")
        .read_text()
        .replace('profile = "boards/pi5_lane.toml"', 'profile = "boards/nocam.toml"')
        .replace('ticket_medium = "card"', 'ticket_medium = "paper"')
    )
    err = problem(write("exit.toml", exit_text))
    assert err.field == "lane.ticket_medium" and "camera" in str(err)


def test_several_problems_reported_together(write):
    text = ENTRY.replace("capacity = 180", "capacity = -1").replace(
        "keepalive_s = 30", "keepalive_s = 0"
    )
    err = problem(write("lane.toml", text))
    assert len(err.problems) == 2
    assert {p.field for p in err.problems} == {"lane.capacity", "link.keepalive_s"}
    assert all(p.line for p in err.problems)


def test_broken_toml_and_missing_file(write):
    err = problem(write("lane.toml", ENTRY.replace("port = 8883", 'port = "8883', 1)))
    assert "not valid TOML" in str(err) and err.line == line_of(ENTRY, "port = 8883")
    err = problem(write.dir / "nope.toml")
    assert "file not found" in str(err)


def test_hand_written_loader_fields_are_refused(write):
    err = problem(write("lane.toml", 'path = "/x"\n' + ENTRY))
    assert err.field == "path" and err.line == 1


def test_find_line_handles_tables_dotted_and_inline_keys():
    text = '[a]\nx = 1\n[a.b]\n"y" = { z = 2 }\nc.d = 3\n[[e]]\nf = 1\n'
    assert find_line(text, ["a", "x"]) == 2
    assert find_line(text, ["a", "b", "y", "z"]) == 4
    assert find_line(text, ["a", "b", "c", "d"]) == 5
    assert find_line(text, ["a", "b", "missing"]) == 3
    assert find_line(text, ["e", "f"]) == 7
    assert find_line(text, ["nowhere"]) is None


def test_keys_and_password_come_from_environment(write):
    config = load_config(ROOT / "examples/entry_lane.toml")
    assert config.keys.resolve({"GATEPOST_SITE_KEYS": '{"1": "00ff"}'}) == {"1": "00ff"}
    assert config.keys.resolve({"GATEPOST_SITE_KEYS": "1=aa, 2=bb"}) == {"1": "aa", "2": "bb"}
    with pytest.raises(ConfigError, match="GATEPOST_SITE_KEYS"):
        config.keys.resolve({})
    assert config.link.password({"GATEPOST_MQTT_PASSWORD": "s3cret"}) == "s3cret"
    with pytest.raises(ConfigError, match="GATEPOST_MQTT_PASSWORD"):
        config.link.password({})
    assert "s3cret" not in repr(config)


def test_keys_file(write):
    keyfile = write("site_keys.toml", '[keys]\n1 = "' + "ab" * 16 + '"\n')
    exit_cfg = load_config(ROOT / "examples/exit_lane.toml")
    assert exit_cfg.keys.model_copy(update={"file": str(keyfile)}).resolve() == {"1": "ab" * 16}


def test_cli_check_prints_error_without_traceback(write):
    path, text = lane_with(write, "reserved_spaces = 20", "reserved_spacs = 20")
    run = subprocess.run(
        [sys.executable, "-m", "edge.config.check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert f"{path}:{line_of(text, 'reserved_spacs')}: lane.reserved_spacs" in run.stderr
    assert "Traceback" not in run.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "edge.config.check", str(ROOT / "examples/entry_lane.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0 and "sg-entry-1" in ok.stdout


def test_the_console_has_no_switch_that_turns_sign_on_off(write):
    for value in ("false", "true"):
        path, _text = lane_with(
            write, 'bind = "127.0.0.1"', f'bind = "127.0.0.1"\nsign_on_required = {value}'
        )
        err = problem(path)
        assert err.field.startswith("console") and "sign_on_required: removed" in str(err)


def test_a_console_reached_from_another_machine_needs_tls_and_its_host_names(write):
    path, _text = lane_with(
        write, 'bind = "127.0.0.1"', 'bind = "0.0.0.0"\nhosts = ["booth.local"]'
    )
    assert "serve it over TLS" in str(problem(path))
    path, _text = lane_with(
        write,
        'bind = "127.0.0.1"',
        'bind = "0.0.0.0"\ntls_cert_file = "c.pem"\ntls_key_file = "k.pem"',
    )
    assert "console.hosts" in str(problem(path))
    path, _text = lane_with(
        write, 'bind = "127.0.0.1"', 'bind = "127.0.0.1"\ntls_cert_file = "c.pem"'
    )
    assert "go together" in str(problem(path))
    path, _text = lane_with(
        write,
        'bind = "127.0.0.1"',
        'bind = "127.0.0.1"\nbehind_tls_proxy = true\nhosts = ["booth.local"]',
    )
    assert load_config(path).console.secure  # a TLS proxy on this Pi: cookies are Secure

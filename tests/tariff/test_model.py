"""Tariff validation and loading: every mistake a clear TariffError naming the field and line."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.errors import ConfigError, TariffError
from edge.tariff import Tariff, load_tariff, parse_tariff, quote
from tests.tariff.helpers import DAY_NIGHT, make_tariff

EXAMPLES = Path(__file__).resolve().parents[2] / "firmware_configs" / "tariffs"


def valid() -> dict[str, Any]:
    return make_tariff(bands=DAY_NIGHT).model_dump(mode="json")


@pytest.mark.parametrize("name", ["day_night_cn", "hourly_capped", "grace_per_minute"])
def test_examples_load_and_round_trip_as_json(name: str) -> None:
    tariff = load_tariff(EXAMPLES / f"{name}.toml")
    assert Tariff.model_validate(tariff.model_dump(mode="json")) == tariff
    assert Tariff.model_validate_json(tariff.model_dump_json()) == tariff


def test_example_prices_match_their_comments() -> None:
    """The worked examples in the files' comments are what the engine charges."""
    grace = load_tariff(EXAMPLES / "grace_per_minute.toml")
    zone = grace.tzinfo
    entry = datetime(2026, 11, 26, 10, 0, tzinfo=zone)
    assert quote(grace, entry, entry + timedelta(minutes=50)).fee_minor == 250
    assert quote(grace, entry, entry + timedelta(minutes=30)).fee_minor == 0

    hourly = load_tariff(EXAMPLES / "hourly_capped.toml")
    assert quote(hourly, entry, entry + timedelta(minutes=10)).fee_minor == 0
    assert quote(hourly, entry, entry + timedelta(minutes=61)).fee_minor == 600
    assert quote(hourly, entry, entry + timedelta(hours=23)).fee_minor == 2500
    assert quote(hourly, entry, entry + timedelta(hours=25)).fee_minor == 2500 + 300
    assert quote(hourly, entry, entry + timedelta(hours=2), lost=True).fee_minor == 6000

    day_night = load_tariff(EXAMPLES / "day_night_cn.toml")
    night = datetime(2026, 11, 26, 20, 0, tzinfo=zone)
    assert quote(day_night, night, night + timedelta(hours=12)).fee_minor == 500  # 夜间封顶
    early = datetime(2026, 11, 26, 7, 50, tzinfo=zone)  # split at 08:00: 1 night unit + 1 day unit
    assert quote(day_night, early, early + timedelta(minutes=40)).fee_minor == 100 + 250
    day = datetime(2026, 11, 26, 8, 0, tzinfo=zone)
    assert quote(day_night, day, day + timedelta(hours=12)).fee_minor == 3000  # 每日封顶
    assert quote(day_night, day, day + timedelta(hours=1), vehicle_class="truck").fee_minor == 1000
    assert quote(day_night, day, day + timedelta(hours=9), vehicle_class="police").exempt


def mutate(path: str, value: Any) -> dict[str, Any]:
    data = valid()
    node: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("classes.car.bands.0.unit_price_minor", -1, "classes.car.bands.0.unit_price_minor"),
        ("lost_ticket_fee_minor", -500, "lost_ticket_fee_minor"),
        ("zone", "Asia/Shangai", "unknown time zone 'Asia/Shangai'"),
        ("currency", "RMB", "unknown currency 'RMB'"),
        ("classes.car.bands.1.start", "19:00", "overlap at 19:00"),
        ("classes.car.bands.1.end", "07:00", "leave 07:00-08:00 uncovered"),
        ("classes.car.bands.0.start", "8:00", "HH:MM"),
        ("classes.car.bands.0.unit_minutes", 0, "unit_minutes"),
        ("classes.car.band_mode", "first", "band_mode"),
        ("classes.car.cap", {"minor": 100}, "classes.car.cap.window"),
        ("classes.car.cap", {"minor": 100, "window": "day"}, "classes.car.cap.window"),
        ("classes.car.grace", {"minutes": 10, "after": "all"}, "classes.car.grace.after"),
        ("exempt_classes", ["car"], "both priced and exempt"),
        ("exempt_classes", ["Resident"], "class name 'Resident'"),
        ("classes.car.unit_price", 100, "classes.car.unit_price: Extra inputs"),
        ("classes.car.bands.0.unit_price_minor", True, "classes.car.bands.0.unit_price_minor"),
        ("classes.car.bands.0.unit_price_minor", "100", "valid integer"),
        ("classes.car.bands.0.unit_price_minor", 100.0, "valid integer"),
        ("lost_ticket_fee_minor", True, "lost_ticket_fee_minor"),
        ("lost_ticket_fee_minor", "5000", "lost_ticket_fee_minor"),
        ("classes.car.cap", {"minor": "100", "window": "24h"}, "classes.car.cap.minor"),
        ("classes.car.bands.0.unit_minutes", True, "classes.car.bands.0.unit_minutes"),
        ("classes", {"truck": valid()["classes"]["car"]}, 'a "car" class is required'),
    ],
)
def test_invalid_tariffs_are_refused_with_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(TariffError, match=message.replace("(", r"\(").replace(".", r"\.")) as info:
        parse_tariff(mutate(path, value), source="site config")
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith("site config: invalid tariff")
    with pytest.raises(ValidationError):
        Tariff.model_validate(mutate(path, value))


def test_whole_day_band_must_be_alone() -> None:
    data = valid()
    data["classes"]["car"]["bands"][0].update(start="08:00", end="08:00")
    with pytest.raises(TariffError, match="only allowed as the only band"):
        parse_tariff(data)


def test_tariff_must_be_a_table() -> None:
    with pytest.raises(TariffError, match="must be a table"):
        parse_tariff(["not", "a", "tariff"])


BAD_FILE = """\
name = "bad"
currency = "CNY"
zone = "Asia/Shanghai"

[classes.car]
band_mode = "start"

[[classes.car.bands]]
start = "08:00"
end = "20:00"
unit_minutes = 60
unit_price_minor = 300

[[classes.car.bands]]
start = "20:00"
end = "08:00"
unit_minutes = 60
unit_price_minor = -100
"""


def test_file_errors_name_the_file_field_and_line(tmp_path: Path, caplog) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD_FILE, encoding="utf-8")
    with pytest.raises(TariffError) as info:
        load_tariff(path)
    text = str(info.value)
    assert text.startswith(f"{path}:18: ")
    assert "classes.car.bands.1.unit_price_minor (line 18)" in text
    assert "greater than or equal to 0" in text
    assert any("invalid tariff" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("value", ["true", '"100"', "100.0"])
def test_money_must_be_a_toml_integer(tmp_path: Path, value: str) -> None:
    """``unit_price_minor = true`` is not 1 fen, and ``"100"`` is not 100: both are errors."""
    path = tmp_path / "loose.toml"
    path.write_text(BAD_FILE.replace("-100", value), encoding="utf-8")
    with pytest.raises(TariffError) as info:
        load_tariff(path)
    text = str(info.value)
    assert text.startswith(f"{path}:18: ")
    assert "classes.car.bands.1.unit_price_minor (line 18)" in text and "valid integer" in text


def test_table_level_errors_point_at_the_table(tmp_path: Path) -> None:
    path = tmp_path / "overlap.toml"
    path.write_text(BAD_FILE.replace('start = "20:00"', 'start = "19:00"').replace("-100", "100"))
    with pytest.raises(TariffError, match=r"classes\.car\.bands \(line 8\): .*overlap at 19:00"):
        load_tariff(path)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x\n', encoding="utf-8")
    with pytest.raises(TariffError, match=r"broken\.toml: not valid TOML.*line 1"):
        load_tariff(broken)
    with pytest.raises(TariffError, match="cannot read tariff file"):
        load_tariff(tmp_path / "missing.toml")

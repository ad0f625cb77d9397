"""``gatepost tariff …`` run as the installer runs it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEPOST = Path(sys.executable).parent / "gatepost"
EXAMPLES = ROOT / "firmware_configs" / "tariffs"
DAY_NIGHT = str(EXAMPLES / "day_night_cn.toml")


def gatepost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GATEPOST), *args], check=False, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_quote_prints_the_receipt_and_the_sentence() -> None:
    run = gatepost(
        "tariff",
        "quote",
        DAY_NIGHT,
        "--entry",
        "2026-11-26T19:40+08:00",
        "--exit",
        "2026-11-27T08:30+08:00",
    )
    assert run.returncode == 0, run.stderr
    assert "您的车计费停车770分钟,请交停车费10.00元" in run.stdout
    assert "You parked 770 minutes. Please pay CNY 10.00." in run.stdout


def test_quote_json_has_minutes_fee_currency_and_lines() -> None:
    run = gatepost(
        "tariff",
        "quote",
        DAY_NIGHT,
        "--entry",
        "2026-11-26T19:40",  # no offset: site zone
        "--exit",
        "2026-11-26T11:50:00Z",
        "--class",
        "truck",
        "--lost",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["minutes"] == 10 and doc["fee_minor"] == 5000 and doc["currency"] == "CNY"
    assert doc["grace"] is True and doc["lost"] is True and doc["vehicle_class"] == "truck"
    assert sum(line["amount_minor"] for line in doc["lines"]) == doc["fee_minor"]
    assert doc["entry"] == "2026-11-26T19:40:00+08:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--entry", "2026-11-26T19:40+08:00", "--exit", "2026-11-26T18:00+08:00"], "before entry"),
        (
            ["--entry", "2026-11-26T19:40", "--exit", "2026-11-26T21:00", "--class", "bus"],
            "unknown vehicle class 'bus'",
        ),
        (["--entry", "yesterday", "--exit", "2026-11-26T21:00"], "not an ISO 8601 time"),
        (
            ["--entry", "0001-01-01T00:00", "--exit", "2026-11-26T21:00"],
            "outside the supported range",
        ),
        (
            ["--entry", "0001-01-01T00:00", "--exit", "0001-01-01T05:00"],
            "outside the supported range",
        ),
        (
            ["--entry", "9999-12-31T20:00", "--exit", "9999-12-31T23:00"],
            "outside the supported range",
        ),
        (
            ["--entry", "2026-11-26T19:40", "--exit", "9999-12-31T20:00"],
            "outside the supported range",
        ),
    ],
)
def test_bad_requests_exit_2_without_a_traceback(args: list[str], message: str) -> None:
    run = gatepost("tariff", "quote", DAY_NIGHT, *args)
    assert run.returncode == 2
    assert "error: " in run.stderr and message in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_invalid_tariff_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        Path(DAY_NIGHT).read_text(encoding="utf-8").replace("Asia/Shanghai", "Asia/Nowhere")
    )
    run = gatepost(
        "tariff",
        "quote",
        str(bad),
        "--entry",
        "2026-11-26T19:40+08:00",
        "--exit",
        "2026-11-26T21:00+08:00",
    )
    assert run.returncode == 2
    assert f"error: {bad}:" in run.stderr and "unknown time zone 'Asia/Nowhere'" in run.stderr
    assert "Traceback" not in run.stderr


def test_ambiguous_local_time_is_refused(tmp_path: Path) -> None:
    berlin = tmp_path / "berlin.toml"
    berlin.write_text(
        (EXAMPLES / "hourly_capped.toml")
        .read_text(encoding="utf-8")
        .replace('"Asia/Shanghai"', '"Europe/Berlin"')
        .replace('"CNY"', '"EUR"')
    )
    run = gatepost(
        "tariff", "quote", str(berlin), "--entry", "2026-10-25T02:30", "--exit", "2026-10-25T05:00"
    )
    assert run.returncode == 2 and "ambiguous or does not exist" in run.stderr
    run = gatepost(
        "tariff",
        "quote",
        str(berlin),
        "--entry",
        "2026-10-25T02:30+02:00",
        "--exit",
        "2026-10-25T05:00",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["minutes"] == 210  # 02:30 CEST → 05:00 CET is 3½ real hours


def test_check_summarises_a_valid_tariff() -> None:
    run = gatepost("tariff", "check", str(EXAMPLES / "hourly_capped.toml"))
    assert run.returncode == 0, run.stderr
    assert "cap 25.00 per 24h" in run.stdout

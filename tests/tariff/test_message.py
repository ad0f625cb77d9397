"""The exit-lane sentence agrees with the quote, in both languages."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.tariff import fee_message, quote
from tests.tariff.helpers import make_tariff

ENTRY = datetime(2026, 11, 26, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_the_site_rule_sentence() -> None:
    result = quote(make_tariff(), ENTRY, ENTRY + timedelta(minutes=125))
    assert fee_message(result) == "您的车计费停车125分钟,请交停车费3.00元"
    assert fee_message(result, "en") == "You parked 125 minutes. Please pay CNY 3.00."


def test_free_and_exempt_stays_say_so() -> None:
    tariff = make_tariff(grace={"minutes": 15})
    free = quote(tariff, ENTRY, ENTRY + timedelta(minutes=9))
    assert fee_message(free) == "您的车停车9分钟,免费通行"
    assert "No fee" in fee_message(free, "en")
    exempt = quote(tariff, ENTRY, ENTRY + timedelta(hours=5), vehicle_class="resident")
    assert fee_message(exempt) == "免费车辆,请通行"


def test_unknown_language_is_refused() -> None:
    result = quote(make_tariff(), ENTRY, ENTRY + timedelta(minutes=5))
    with pytest.raises(ValueError, match="language 'fr'"):
        fee_message(result, "fr")  # type: ignore[arg-type]

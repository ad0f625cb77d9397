"""Display of integer minor units."""

from __future__ import annotations

import pytest

from edge.errors import TariffError
from edge.tariff import format_money


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, "CNY", "12.50"),
        (5, "CNY", "0.05"),
        (0, "USD", "0.00"),
        (-300, "EUR", "-3.00"),
        (1250, "JPY", "1250"),
        (1250, "KWD", "1.250"),
    ],
)
def test_format_money(minor: int, currency: str, text: str) -> None:
    assert format_money(minor, currency) == text


def test_unknown_currency_and_floats_are_refused() -> None:
    with pytest.raises(TariffError, match="unknown currency"):
        format_money(100, "XXX")
    with pytest.raises(TypeError):
        format_money(12.5, "CNY")  # type: ignore[arg-type]

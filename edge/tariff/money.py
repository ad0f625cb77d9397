"""Money for display: integer minor units in, a plain decimal string out.

Fees are always integer minor units (fen, cents); this module is the one place
that knows how many minor units a currency has, so a receipt never shows
``12.5`` for twelve yuan fifty or ``1250`` yen as ``12.50``.
"""

from __future__ import annotations

from edge.errors import TariffError

MINOR_UNITS: dict[str, int] = {
    # The currencies a property in our markets is likely to charge in (ISO 4217 exponents).
    "CNY": 2,
    "HKD": 2,
    "MOP": 2,
    "TWD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "SGD": 2,
    "MYR": 2,
    "THB": 2,
    "PHP": 2,
    "IDR": 2,
    "INR": 2,
    "AUD": 2,
    "NZD": 2,
    "CAD": 2,
    "MXN": 2,
    "BRL": 2,
    "ZAR": 2,
    "AED": 2,
    "SAR": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RUB": 2,
    "TRY": 2,
    "ILS": 2,
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}


def minor_units(currency: str) -> int:
    """Digits after the decimal point for ``currency``; unknown codes are a :class:`TariffError`."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise TariffError(
            f"unknown currency {currency!r}: use an ISO 4217 code such as CNY, HKD, USD, EUR or JPY"
        ) from None


def format_money(minor: int, currency: str) -> str:
    """``1250, "CNY"`` → ``"12.50"``; ``1250, "JPY"`` → ``"1250"``; negatives keep their sign.

    No currency symbol: the sentence around it ("请交停车费12.50元") supplies the unit.
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"money must be integer minor units, got {type(minor).__name__}")
    digits = minor_units(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"

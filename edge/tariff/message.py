"""The sentence the exit lane shows and speaks, from the site rules (出车验卡收费).

"您的车计费停车××分钟,请交停车费××元" and its English form, built from a
:class:`~edge.tariff.engine.Quote` so the display, the voice and the receipt
can never disagree with the fee.
"""

from __future__ import annotations

from typing import Literal

from edge.tariff.engine import Quote
from edge.tariff.money import format_money

ZH_UNITS = {
    "CNY": "元",
    "HKD": "港元",
    "MOP": "澳门元",
    "TWD": "新台币",
    "USD": "美元",
    "EUR": "欧元",
    "JPY": "日元",
}

Lang = Literal["zh", "en"]


def fee_message(quote: Quote, lang: Lang = "zh") -> str:
    """The driver-facing sentence for ``quote`` in ``lang`` (``"zh"`` or ``"en"``)."""
    if lang not in ("zh", "en"):
        raise ValueError(f"language {lang!r}: use 'zh' or 'en'")
    money = format_money(quote.fee_minor, quote.currency)
    if quote.exempt:
        return "免费车辆,请通行" if lang == "zh" else "No fee for this vehicle. Please drive on."
    if quote.fee_minor == 0:
        if lang == "zh":
            return f"您的车停车{quote.minutes}分钟,免费通行"
        return f"You parked {quote.minutes} minutes. No fee. Please drive on."
    if lang == "zh":
        unit = ZH_UNITS.get(quote.currency, quote.currency)
        return f"您的车计费停车{quote.minutes}分钟,请交停车费{money}{unit}"
    return f"You parked {quote.minutes} minutes. Please pay {quote.currency} {money}."

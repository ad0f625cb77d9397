"""The tariff engine: what a stay costs, in integer minor units, zone-aware.

``load_tariff`` reads a TOML tariff, ``quote`` prices a stay. Pure apart from
the loader's file read; see :mod:`edge.tariff.engine` for the rules.
"""

from edge.tariff.engine import Quote, QuoteLine, quote, stay_minutes
from edge.tariff.loader import load_tariff, parse_tariff
from edge.tariff.message import fee_message
from edge.tariff.model import Band, Cap, ClassPricing, FirstPeriod, Grace, Tariff
from edge.tariff.money import format_money

__all__ = [
    "Band",
    "Cap",
    "ClassPricing",
    "FirstPeriod",
    "Grace",
    "Quote",
    "QuoteLine",
    "Tariff",
    "fee_message",
    "format_money",
    "load_tariff",
    "parse_tariff",
    "quote",
    "stay_minutes",
]

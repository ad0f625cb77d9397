"""Small builders for hand-written tariffs in tests."""

from __future__ import annotations

from typing import Any

from edge.tariff import Tariff


def make_tariff(zone: str = "Asia/Shanghai", **car: Any) -> Tariff:
    """A tariff whose ``car`` class is ``car`` (bands default to 1.00 per started hour)."""
    car.setdefault(
        "bands", [{"start": "00:00", "end": "00:00", "unit_minutes": 60, "unit_price_minor": 100}]
    )
    return Tariff.model_validate(
        {
            "name": "test",
            "currency": "CNY",
            "zone": zone,
            "classes": {"car": car},
            "exempt_classes": ["resident"],
            "lost_ticket_fee_minor": 5000,
        }
    )


DAY_NIGHT = [
    {"label": "day", "start": "08:00", "end": "20:00", "unit_minutes": 60, "unit_price_minor": 300},
    {
        "label": "night",
        "start": "20:00",
        "end": "08:00",
        "unit_minutes": 60,
        "unit_price_minor": 100,
    },
]

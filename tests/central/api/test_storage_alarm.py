"""Central's storage_fault alarm from a device's health (pure rule) and its titles in both languages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from central.alarms.kinds import (
    SELF_CLEARING,
    SEVERITY,
    TITLES,
    AlarmKind,
    AlarmThresholds,
    Severity,
)
from central.alarms.rules import DeviceFacts, from_device

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
I18N = Path(__file__).resolve().parents[3] / "central" / "dashboard" / "static" / "i18n.js"


def signals(health: dict) -> list[tuple[str, AlarmKind, dict]]:
    facts = DeviceFacts("s", "lane-1", True, NOW, health)
    return [
        (s.action, s.kind, dict(s.detail))
        for s in from_device(facts, NOW, AlarmThresholds())
        if s.kind == AlarmKind.STORAGE_FAULT
    ]


def test_storage_in_health_raises_and_clears_the_alarm_and_an_old_device_says_nothing():
    raised = signals(
        {
            "storage": "outbox: database or disk is full",
            "storage_since": "2026-03-02T07:59:00.000Z",
            "storage_held": 12,
            "storage_lost": 0,
        }
    )
    assert raised == [
        (
            "raise",
            AlarmKind.STORAGE_FAULT,
            {
                "error": "outbox: database or disk is full",
                "since": "2026-03-02T07:59:00.000Z",
                "held": 12,
                "lost": 0,
            },
        )
    ]
    assert signals({"storage": "ok"}) == [("clear", AlarmKind.STORAGE_FAULT, {})]
    assert signals({}) == []  # a device from before storage was reported
    assert (
        SEVERITY[AlarmKind.STORAGE_FAULT] == Severity.CRITICAL
        and AlarmKind.STORAGE_FAULT in SELF_CLEARING
    )
    zh, en = TITLES[AlarmKind.STORAGE_FAULT]
    assert "存储" in zh and "storage" in en.lower()
    text = I18N.read_text(encoding="utf-8")
    assert text.count('"kind.storage_fault"') == 2 and text.count('"tile.storage"') == 2

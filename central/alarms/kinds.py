"""What can go wrong at a site, how bad it is, and when it counts.

Two families of alarm:

* **condition** alarms describe a state (device offline, backlog, skew, lot
  full, barrier held open, a seq gap). They clear themselves when the state
  ends, acknowledged or not.
* **occurrence** alarms describe something that happened (barrier fault,
  forced entry, incident, forged or reused ticket, repeated refused access to
  a device's local page). Only a supervisor clears
  them, after looking.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class AlarmKind(StrEnum):
    DEVICE_OFFLINE = "device_offline"
    BARRIER_FAULT = "barrier_fault"
    BARRIER_HELD_OPEN = "barrier_held_open"
    FORCED_ENTRY = "forced_entry"
    INCIDENT = "incident"
    FORGED_OR_REUSED_TICKET = "forged_or_reused_ticket"
    LOT_FULL = "lot_full"
    SEQ_GAP = "seq_gap"
    OUTBOX_BACKLOG = "outbox_backlog"
    CLOCK_SKEW = "clock_skew"
    LOCAL_ACCESS_REFUSED = "local_access_refused"
    STORAGE_FAULT = "storage_fault"


class AlarmState(StrEnum):
    ACTIVE_UNACKNOWLEDGED = "active_unacknowledged"
    ACTIVE_ACKNOWLEDGED = "active_acknowledged"
    CLEARED = "cleared"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


SEVERITY: dict[AlarmKind, Severity] = {
    AlarmKind.DEVICE_OFFLINE: Severity.CRITICAL,
    AlarmKind.BARRIER_FAULT: Severity.CRITICAL,
    AlarmKind.BARRIER_HELD_OPEN: Severity.WARNING,
    AlarmKind.FORCED_ENTRY: Severity.CRITICAL,
    AlarmKind.INCIDENT: Severity.WARNING,
    AlarmKind.FORGED_OR_REUSED_TICKET: Severity.CRITICAL,
    AlarmKind.LOT_FULL: Severity.INFO,
    AlarmKind.SEQ_GAP: Severity.WARNING,
    AlarmKind.OUTBOX_BACKLOG: Severity.WARNING,
    AlarmKind.CLOCK_SKEW: Severity.WARNING,
    AlarmKind.LOCAL_ACCESS_REFUSED: Severity.CRITICAL,
    AlarmKind.STORAGE_FAULT: Severity.CRITICAL,
}

SELF_CLEARING = frozenset(
    {
        AlarmKind.DEVICE_OFFLINE,
        AlarmKind.BARRIER_HELD_OPEN,
        AlarmKind.LOT_FULL,
        AlarmKind.SEQ_GAP,
        AlarmKind.OUTBOX_BACKLOG,
        AlarmKind.CLOCK_SKEW,
        AlarmKind.STORAGE_FAULT,
    }
)

TITLES: dict[AlarmKind, tuple[str, str]] = {
    AlarmKind.DEVICE_OFFLINE: ("设备离线", "Device offline"),
    AlarmKind.BARRIER_FAULT: ("道闸故障", "Barrier fault"),
    AlarmKind.BARRIER_HELD_OPEN: ("道闸长时间未落", "Barrier held open"),
    AlarmKind.FORCED_ENTRY: ("车辆强行进入", "Forced entry"),
    AlarmKind.INCIDENT: ("岗亭事件报告", "Incident reported"),
    AlarmKind.FORGED_OR_REUSED_TICKET: ("伪造或重复使用的停车卡", "Forged or reused ticket"),
    AlarmKind.LOT_FULL: ("车位已满", "Car park full"),
    AlarmKind.SEQ_GAP: ("事件缺失", "Events missing (sequence gap)"),
    AlarmKind.OUTBOX_BACKLOG: ("待发送事件积压", "Outbox backlog"),
    AlarmKind.CLOCK_SKEW: ("设备时钟偏差", "Device clock skew"),
    AlarmKind.LOCAL_ACCESS_REFUSED: (
        "本地页面多次拒绝访问",
        "Repeated refused access to a local page",
    ),
    AlarmKind.STORAGE_FAULT: (
        "设备存储故障,记录无法保存",
        "Device storage fault: records cannot be saved",
    ),
}

SITE_WIDE = ""
"""The ``device`` of an alarm about the whole site (lot full)."""


class AlarmThresholds(BaseModel):
    """When a condition becomes an alarm. Defaults suit a small site; all are per-deployment settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heartbeat_timeout_s: int = Field(
        default=95,
        ge=5,
        le=3600,
        description="no message for this long → offline (health comes every 30 s)",
    )
    barrier_open_max_s: int = Field(
        default=120, ge=1, le=86_400, description="barrier open longer than this → held open"
    )
    outbox_raise_depth: int = Field(
        default=500, ge=1, description="health outbox depth at or above → backlog"
    )
    outbox_clear_depth: int = Field(
        default=10, ge=0, description="health outbox depth at or below → backlog over"
    )
    outbox_oldest_s: int = Field(
        default=300, ge=1, description="oldest unsent event older than this → backlog"
    )
    clock_skew_max_ms: int = Field(
        default=5000, ge=100, description="|clock skew| above → clock skew alarm"
    )

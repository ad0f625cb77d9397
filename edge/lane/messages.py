"""Everything the lane says to a driver or a guard, in zh-CN and English.

The pole display and the voice read these; the booth console shows them too.
Keeping the sentences in one place means the site's wording (taken from the
gate-post handbook, DESIGN.md §1) is reviewed once and never drifts between
the display, the announcement and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edge.tariff.money import format_money

Language = Literal["zh", "en"]


@dataclass(slots=True, frozen=True)
class Message:
    """One person-facing message: a stable key (for tests and logs) and both languages."""

    key: str
    zh: str
    en: str

    def text(self, language: Language = "zh") -> str:
        return self.zh if language == "zh" else self.en

    def lines(self, language: Language = "zh") -> list[str]:
        """Display lines: the site's default language first, then the other one."""
        return [self.zh, self.en] if language == "zh" else [self.en, self.zh]


WELCOME = Message("welcome", "欢迎光临", "Welcome")
LOT_FULL = Message(
    "lot_full",
    "区内暂无车位,请停靠对面车场,多谢合作!",
    "No spaces available here. Please park at the car park opposite. Thank you!",
)
TAKE_CARD = Message("take_card", "请取卡,祝您停车愉快", "Please take your card. Enjoy your stay.")
TAKE_TICKET = Message(
    "take_ticket", "请取票,祝您停车愉快", "Please take your ticket. Enjoy your stay."
)
PLACE_CARD = Message("place_card", "请将卡放在读卡区", "Please place the card on the reader.")
CARD_LIFTED = Message(
    "card_lifted",
    "写卡未完成,请将卡重新放回读卡区",
    "Card not finished. Please put the card back on the reader.",
)
ISSUE_FAILED = Message(
    "issue_failed",
    "暂时无法出票,请联系岗亭",
    "Cannot issue a ticket right now. Please ask the guard.",
)
BADGE_WELCOME = Message(
    "badge_ok", "业主/员工车辆,请通行", "Resident / staff vehicle, please proceed."
)
BADGE_UNKNOWN = Message(
    "badge_unknown", "此卡未登记,请联系岗亭", "Badge not registered. Please ask the guard."
)
GOODBYE = Message("goodbye", "谢谢,一路平安", "Thank you. Drive safely.")
PAID = Message("paid", "已收费,请通行", "Paid. Please proceed.")
OUT_OF_SERVICE = Message(
    "out_of_service",
    "道闸故障,暂停使用,请联系岗亭",
    "Barrier out of service. Please ask the guard.",
)
MANUAL_OPEN = Message("manual_open", "岗亭已放行,请通行", "Opened by the guard. Please proceed.")
REMOTE_OPEN = Message(
    "remote_open", "管理中心远程放行,请通行", "Opened remotely by the control room. Please proceed."
)
# Short on purpose: a pole display has two rows of 20 columns (10 Chinese characters each).
UNATTENDED_BADGES_ONLY = Message(
    "unattended_badges_only", "无人值守,仅限业主卡通行", "Unattended: residents' badges only"
)
UNATTENDED_CLOSED = Message(
    "unattended_closed",
    "无人值守,暂停通行,请按对讲",
    "Unattended: lane closed. Please use the intercom.",
)
OUTBOX_BACKLOG = Message(
    "outbox_backlog", "记录积压未上传,请检查网络", "Records piling up unsent: check the network"
)
STORAGE_FAULT = Message(
    "storage_fault",
    "记录故障,暂停发卡收费,请联系岗亭",
    "Records cannot be saved: no tickets or payments. Please ask the guard.",
)
"""The lane cannot write its records (disk full, read-only, I/O error): it starts no transit it cannot record."""


def fee_due_unattended(minutes: int, fee_minor: int, currency: str) -> Message:
    """The exit message when nobody is in the booth to take the money: call the guard."""
    amount = format_money(fee_minor, currency)
    return Message(
        "fee_due_unattended",
        f"停车{minutes}分钟应交{amount}元,无人值守请按对讲",
        f"{minutes} min, {amount} {currency} due. Unattended: please use the intercom.",
    )


_REJECTED: dict[str, tuple[str, str]] = {
    "malformed": ("无法识别此卡", "This card cannot be read"),
    "half_written": ("此卡数据不完整", "This card is incomplete"),
    "forged": ("此卡无效", "This card is not valid"),
    "wrong_site": ("此卡不属于本车场", "This card is from another car park"),
    "unknown_key": ("此卡无效", "This card is not valid"),
    "already_used": ("此卡已使用", "This card has already been used"),
    "from_future": ("卡内时间异常", "The time on this card is wrong"),
}


def fee_due(minutes: int, fee_minor: int, currency: str) -> Message:
    """The exit sentence, exactly as the site rules word it (DESIGN.md §1)."""
    amount = format_money(fee_minor, currency)
    return Message(
        "fee_due",
        f"您的车计费停车{minutes}分钟,请交停车费{amount}元",
        f"Parking time {minutes} min, please pay {amount} {currency}",
    )


def free_exit(minutes: int) -> Message:
    """A stay inside the grace period (or a zero tariff): no payment, the barrier rises."""
    return Message(
        "free_exit",
        f"您的车计费停车{minutes}分钟,免费,请通行",
        f"Parking time {minutes} min, no charge, please proceed",
    )


def ticket_rejected(reason: str) -> Message:
    """Why a card or paper ticket was refused, plus what to do next."""
    zh, en = _REJECTED.get(reason, ("此卡无效", "This card is not valid"))
    return Message(f"rejected_{reason}", f"{zh},请联系岗亭", f"{en}. Please ask the guard.")

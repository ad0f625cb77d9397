"""Fee receipts and shift reports, printed on the booth's ESC/POS printer.

A fee receipt shows the stay (entry, exit, minutes), the tariff's line items,
the total and the ticket serial, in zh-CN and English, and ends with a QR code
a property office can scan to check the receipt is genuine: the QR text is
``GPR1|site|serial|fee|currency|paid_at|mac`` with an HMAC-SHA256 tag (16 hex
digits) under the site's receipt key, so an altered amount fails
:func:`verify_receipt_qr`.

The shift report is the handover sheet (岗务交接单): counts, fees by method,
expected and declared cash, the variance, and both guards.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from edge.console.shift import ShiftClose
from edge.errors import GatepostError
from edge.tariff.money import format_money
from edge.wire import format_ts

QR_PREFIX = "GPR1"

COUNT_LABELS: dict[str, str] = {
    "cards_issued": "发卡 Cards issued",
    "entries": "入场 Entries",
    "exits": "出场 Exits",
    "payments": "收费笔数 Payments",
    "free_within_grace": "免费时段 Free (grace)",
    "exemptions": "免费放行 Exemptions",
    "badge_passes": "业主/员工 Badge passes",
    "lost_cards": "遗失卡 Lost cards",
    "manual_raises": "手动抬杆 Manual raises",
    "manual_closes": "手动落杆 Manual closes",
    "incidents": "事件报告 Incidents",
    "tickets_rejected": "拒绝卡 Cards refused",
}
METHOD_LABELS = {"cash": "现金 Cash", "epay": "电子支付 E-pay"}


class ReceiptError(GatepostError, ValueError):
    """A receipt cannot be made or verified (no payment to print, a forged QR)."""


@dataclass(slots=True, frozen=True)
class LineItem:
    label: str
    minutes: int
    amount_minor: int


@dataclass(slots=True, frozen=True)
class FeeReceipt:
    """Everything printed on a fee receipt."""

    site: str
    lane: str
    serial: str
    minutes: int
    fee_minor: int
    currency: str
    method: str
    paid_at: datetime
    guard: str | None = None
    reference: str = ""
    plate: str | None = None
    entry_at: datetime | None = None
    lines: Sequence[LineItem] = field(default_factory=tuple)


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:16]


def receipt_qr(receipt: FeeReceipt, key: bytes) -> str:
    body = "|".join(
        (
            QR_PREFIX,
            receipt.site,
            receipt.serial,
            str(receipt.fee_minor),
            receipt.currency,
            format_ts(receipt.paid_at),
        )
    )
    return f"{body}|{_mac(key, body)}"


def verify_receipt_qr(text: str, key: bytes) -> dict[str, str | int]:
    """The receipt's fields if its QR is genuine; :class:`ReceiptError` if not."""
    parts = (text or "").split("|")
    if len(parts) != 7 or parts[0] != QR_PREFIX:
        raise ReceiptError("not a Gatepost receipt code")
    body, tag = "|".join(parts[:6]), parts[6]
    if not hmac.compare_digest(_mac(key, body), tag):
        raise ReceiptError("receipt code does not verify (altered or from another site)")
    return {
        "site": parts[1],
        "serial": parts[2],
        "fee_minor": int(parts[3]),
        "currency": parts[4],
        "paid_at": parts[5],
    }


def receipt_lines(receipt: FeeReceipt) -> list[str]:
    """The receipt's text, zh-CN and English on each line (a 58 mm printer wraps them)."""
    cur = receipt.currency

    def local(moment: datetime) -> str:
        return f"{moment.astimezone():%Y-%m-%d %H:%M}"

    lines = [
        "停车收费凭证 Parking receipt",
        f"车道 Lane: {receipt.lane}",
        f"票号 Ticket: {receipt.serial}",
    ]
    if receipt.plate:
        lines.append(f"车牌 Plate: {receipt.plate}")
    if receipt.entry_at is not None:
        lines.append(f"入场 Entry: {local(receipt.entry_at)}")
    lines.append(f"出场 Exit: {local(receipt.paid_at)}")
    lines.append(f"停车时长 Stay: {receipt.minutes} 分钟 min")
    for item in receipt.lines:
        lines.append(f"  {item.label} {item.minutes}min {format_money(item.amount_minor, cur)}")
    lines.append(f"合计 Total: {format_money(receipt.fee_minor, cur)} {cur}")
    lines.append(
        f"支付 Paid by: {METHOD_LABELS.get(receipt.method, receipt.method)}"
        + (f" {receipt.reference}" if receipt.reference else "")
    )
    if receipt.guard:
        lines.append(f"收费员 Guard: {receipt.guard}")
    lines.append("扫码验证 Scan to verify")
    return lines


def shift_report_lines(close: ShiftClose) -> list[str]:
    """The handover sheet (岗务交接单)."""
    cur = close.currency
    lines = [
        "岗务交接单 Shift handover",
        f"岗亭 Post: {close.post}",
        f"班次 Shift: {close.shift_id}",
        f"交班 Outgoing: {close.guard}",
        f"接班 Incoming: {close.incoming_guard or '— (无人值守 unattended)'}",
        f"开始 From: {close.opened_at.astimezone():%Y-%m-%d %H:%M}",
        f"结束 To: {close.closed_at.astimezone():%Y-%m-%d %H:%M}",
    ]
    for key, value in close.totals.counts.items():
        lines.append(f"{COUNT_LABELS.get(key, key)}: {value}")
    for method, amount in close.totals.fees_by_method.items():
        lines.append(f"{METHOD_LABELS.get(method, method)}: {format_money(amount, cur)} {cur}")
    variance = close.variance_minor
    sign = "+" if variance > 0 else ""
    lines += [
        f"应有现金 Expected cash: {format_money(close.totals.expected_cash_minor, cur)} {cur}",
        f"实点现金 Declared cash: {format_money(close.declared_cash_minor, cur)} {cur}",
        f"差额 Variance: {sign}{format_money(variance, cur)} {cur}",
        "交班签字 Outgoing signature: ________",
        "接班签字 Incoming signature: ________",
    ]
    return lines

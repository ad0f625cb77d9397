"""Shift arithmetic, cash parsing and receipts: pure, with a stepped clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from escpos.printer import Dummy

from edge.console.booth import parse_cash
from edge.console.receipts import (
    FeeReceipt,
    LineItem,
    ReceiptError,
    receipt_lines,
    receipt_qr,
    verify_receipt_qr,
)
from edge.console.shift import (
    FREE_EXIT_REQUEST_PREFIX,
    MAX_CASH_MINOR,
    ShiftError,
    close_shift,
    tally,
)
from edge.hw.printer import TicketPrinter
from tests.lane.clock import StepClock

OPENED = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def shift_events() -> list[tuple[str, dict]]:
    return [
        ("ticket_issued", {"serial": "A"}),
        ("vehicle_entered", {}),
        ("fee_quoted", {"serial": "A", "fee_minor": 600}),
        ("payment_confirmed", {"serial": "A", "fee_minor": 600, "method": "cash"}),
        ("vehicle_exited", {}),
        ("lost_ticket", {"serial": "B", "fee_minor": 6000}),
        ("payment_confirmed", {"serial": "B", "fee_minor": 6000, "method": "epay"}),
        ("payment_confirmed", {"serial": "C", "fee_minor": 0, "method": "none"}),
        ("payment_confirmed", {"serial": "D", "fee_minor": 1250, "method": "cash"}),
        ("free_exit", {"serial": "E"}),
        ("manual_raise", {"request_id": FREE_EXIT_REQUEST_PREFIX + "x1"}),
        ("manual_raise", {"request_id": "abc"}),
        ("incident_reported", {"kind": "dispute"}),
        ("badge_accepted", {}),
        ("something_new", {"fee_minor": 99999}),
    ]


def test_tally_counts_each_thing_once_and_expects_only_cash():
    totals = tally(shift_events())
    c = totals.counts
    assert (c["cards_issued"], c["entries"], c["exits"], c["payments"]) == (1, 1, 1, 3)
    assert (c["free_within_grace"], c["lost_cards"], c["exemptions"], c["manual_raises"]) == (
        1,
        1,
        1,
        1,
    )
    assert (c["incidents"], c["badge_passes"]) == (1, 1)
    assert totals.fees_by_method == {"cash": 1850, "epay": 6000}
    assert totals.expected_cash_minor == 1850  # the quote and the lost fee are not counted again


def test_close_shift_variance_and_event():
    clock = StepClock(OPENED + timedelta(hours=8))
    close = close_shift(
        shift_id="s1",
        guard="g001 王强",
        post="booth-a",
        opened_at=OPENED,
        events=shift_events(),
        declared_cash_minor=1800,
        currency="CNY",
        clock=clock,
        incoming_guard="g002 李娜",
    )
    assert close.variance_minor == -50
    event = close.event()
    assert (event.expected_cash_minor, event.declared_cash_minor, event.incoming_guard) == (
        1850,
        1800,
        "g002 李娜",
    )
    assert event.closed_at == "2026-03-02T08:00:00.000Z"
    back = StepClock(
        OPENED - timedelta(minutes=5)
    )  # a clock stepped back never makes a negative shift
    assert (
        close_shift(
            shift_id="s2",
            guard="g",
            post="p",
            opened_at=OPENED,
            events=[],
            declared_cash_minor=0,
            currency="CNY",
            clock=back,
        ).closed_at
        == OPENED
    )


@pytest.mark.parametrize(
    "typed, minor",
    [("125.5", 12550), ("125.50", 12550), ("80", 8000), (" 0 ", 0), ("3,20", 320), (7, 700)],
)
def test_cash_typed_by_a_guard(typed, minor):
    assert parse_cash(typed) == minor


@pytest.mark.parametrize(
    "typed, zh",
    [
        ("-5", "负数"),
        ("1e5", "格式"),
        ("12.345", "格式"),
        ("", "格式"),
        (True, "格式"),
        (str(MAX_CASH_MINOR // 100 + 1), "不合理"),
        ("99999999999", "不合理"),
    ],
)
def test_absurd_or_malformed_cash_is_refused_with_a_reason(typed, zh):
    with pytest.raises(ShiftError) as err:
        parse_cash(typed)
    assert zh in err.value.zh


def receipt() -> FeeReceipt:
    return FeeReceipt(
        site="demo",
        lane="exit-1",
        serial="1M8DGK77W-HD8MFN5Z",
        minutes=95,
        fee_minor=600,
        currency="CNY",
        method="cash",
        paid_at=OPENED + timedelta(minutes=95),
        guard="g001 王强",
        entry_at=OPENED,
        lines=(LineItem("每小时 per hour", 95, 600),),
    )


def test_receipt_qr_verifies_and_an_altered_amount_fails():
    key = b"k" * 32
    qr = receipt_qr(receipt(), key)
    assert verify_receipt_qr(qr, key)["fee_minor"] == 600
    forged = qr.replace("|600|", "|60|")
    with pytest.raises(ReceiptError):
        verify_receipt_qr(forged, key)
    with pytest.raises(ReceiptError):
        verify_receipt_qr(qr, b"other-site-key")
    with pytest.raises(ReceiptError):
        verify_receipt_qr("not a receipt", key)


def test_receipt_prints_through_escpos_with_its_qr():
    lines = receipt_lines(receipt())
    assert "停车时长 Stay: 95 分钟 min" in lines and "合计 Total: 6.00 CNY" in lines
    printer = TicketPrinter(Dummy())
    qr = receipt_qr(receipt(), b"k" * 32)
    printer.print_receipt(lines, qr)
    out = printer.captured
    assert out.startswith(b"\x1b@") and "停车收费凭证".encode("gb18030") in out
    assert qr.encode() in out and b"\x1d(k" in out  # native QR carrying the verifiable text

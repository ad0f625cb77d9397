"""Pole display and ticket printer: the bytes a real device gets, read back as a device would."""

from __future__ import annotations

import time

import pytest

from edge.errors import ConfigError, DeviceError
from edge.hw.pole_display import CapturedDisplay, PoleDisplay, layout, render
from edge.hw.printer import PrintJobError, TicketPrinter
from edge.hw.textfit import text_width, wrap
from edge.sim.capture import VfdScreen, escpos_qr_payloads, escpos_text, screen_of
from edge.sim.pty import PtyPair

FEE_ZH = "您的车计费停车45分钟,请交停车费12元"
FEE_EN = "Parked 45 min, fee 12.00 yuan"


def read_all(pty: PtyPair, quiet: float = 0.2) -> bytes:
    data = b""
    while chunk := pty.read(4096, quiet):
        data += chunk
    return data


# ------------------------------------------------------------------ text fitting


def test_chinese_counts_two_columns_and_wraps_between_characters() -> None:
    assert text_width("停车ab") == 6
    rows = wrap(FEE_ZH, 20)
    assert "".join(rows) == FEE_ZH
    assert all(text_width(r) <= 20 for r in rows) and len(rows) == 2


def test_english_wraps_at_spaces() -> None:
    assert wrap(FEE_EN, 20) == ["Parked 45 min, fee", "12.00 yuan"]
    assert wrap("x" * 25, 20) == ["x" * 20, "x" * 5]


def test_layout_cuts_to_the_rows_there_are(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
    rows = layout([FEE_ZH, FEE_EN], 20, 2)
    assert rows == wrap(FEE_ZH, 20)
    assert "cut" in caplog.text


# ------------------------------------------------------------------ pole display


def test_captured_display_bytes_show_the_fee_in_both_languages() -> None:
    display = CapturedDisplay()
    display.show([FEE_ZH])
    assert display.delivered
    assert screen_of(display.captured) == wrap(FEE_ZH, 20)
    display.show(["请交费 Please pay", "¥12.00"])
    assert screen_of(display.captured) == ["请交费 Please pay", "¥12.00"]
    assert display.history == [wrap(FEE_ZH, 20), ["请交费 Please pay", "¥12.00"]]
    assert display.captured.startswith(b"\x1b@\x0c\x1f$\x01\x01")
    assert "停车".encode("gb18030") in display.captured


def test_hostile_text_cannot_send_display_commands() -> None:
    display = CapturedDisplay()
    display.show(["ok"])
    display.show(["A\x0c\x1b@B\x1f$\x05\x02C"])
    screen = VfdScreen()
    screen.feed(display.captured)
    assert screen.rows == ["A  @B $  C", ""]
    assert screen.unknown == 0
    assert display.captured.count(b"\x1b@") == 1
    assert display.captured.count(b"\x0c") == 2  # one clear per show, none from the text


def test_pole_display_over_a_serial_port() -> None:
    with PtyPair() as pty:
        display = PoleDisplay(pty.device_path)
        try:
            display.show(["欢迎 Welcome", "剩余车位 Free: 12"])
            assert display.delivered
            data = read_all(pty)
            assert data.startswith(b"\x1b@")
            assert screen_of(data) == ["欢迎 Welcome", "剩余车位 Free: 12"]
            assert display.status == "ok"
        finally:
            display.close()


def test_unplugged_display_reports_and_does_not_raise(tmp_path) -> None:
    display = PoleDisplay(str(tmp_path / "ttyVFD"))
    display.show(["hello"])
    assert not display.delivered
    assert display.status.startswith("error: ")
    assert display.rows == ["hello"]  # what the lane meant to show is still known


def test_display_vanishing_mid_use_is_reported_then_recovers_on_reopen(tmp_path) -> None:
    link = tmp_path / "ttyVFD"
    first = PtyPair()
    link.symlink_to(first.device_path)
    display = PoleDisplay(str(link))
    display.show(["one"])
    assert display.delivered
    first.close()
    link.unlink()
    display.show(["two"])
    assert not display.delivered
    assert display.status.startswith("error: ")
    with PtyPair() as second:
        link.symlink_to(second.device_path)
        display.show(["three"])
        assert display.delivered
        assert display.status == "ok"
        assert screen_of(read_all(second)) == ["three", ""]
    display.close()


def test_bad_display_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        PoleDisplay(None, cols=0)
    with pytest.raises(ConfigError):
        PoleDisplay(None, encoding="no-such-codec")


def test_render_is_plain_bytes_for_a_blank_screen() -> None:
    assert render([]) == b"\x0c"


# ------------------------------------------------------------------ printer


def test_ticket_bytes_carry_the_qr_and_the_chinese_lines() -> None:
    printer = TicketPrinter.open("dummy")
    qr = "GP1.I5IACQA3NKGQGAABAGRBU2P5FWBCWM5N"
    printer.print_ticket(
        qr, ["停车票 Parking ticket", "入场 Entry 2026-11-27 16:15", "车道 Lane entry-1"]
    )
    data = printer.captured
    assert escpos_qr_payloads(data) == [qr]
    assert b"\x1d(k" in data  # native ESC/POS QR, not a raster image
    assert data.startswith(b"\x1b@\x1c&")  # init, then Chinese character mode
    text = escpos_text(data)
    assert "入场 Entry 2026-11-27 16:15" in text and "车道 Lane entry-1" in text
    assert "停车票" in text
    assert data.rstrip(b"\x00").endswith(b"\x1dV\x00") or b"\x1dV" in data[-6:]  # cut


def test_receipt_wraps_long_lines_to_the_paper_width() -> None:
    printer = TicketPrinter.open("dummy", width=32)
    printer.print_receipt([FEE_ZH + " " + FEE_EN], qr_text=None)
    lines = [line for line in escpos_text(printer.captured).splitlines() if line]
    assert all(text_width(line) <= 32 for line in lines)
    assert "".join(lines).replace(" ", "") == (FEE_ZH + FEE_EN).replace(" ", "")
    assert escpos_qr_payloads(printer.captured) == []


def test_receipt_with_qr_and_without_chinese_mode() -> None:
    printer = TicketPrinter.open("dummy", chinese=False)
    printer.print_receipt(["Visitor pass", "Host: 12-301"], qr_text="VP1.ABCDEF")
    assert b"\x1c&" not in printer.captured
    assert escpos_qr_payloads(printer.captured) == ["VP1.ABCDEF"]
    assert "Host: 12-301" in escpos_text(printer.captured, encoding="cp437")


@pytest.mark.parametrize("qr", ["", "x" * 1001, "带中文", "line\nbreak"])
def test_bad_qr_text_is_refused_before_printing(qr: str) -> None:
    printer = TicketPrinter.open("dummy")
    with pytest.raises(PrintJobError):
        printer.print_ticket(qr, ["x"])
    assert printer.captured == b""


def test_printer_over_a_serial_port() -> None:
    with PtyPair() as pty:
        printer = TicketPrinter.open("serial", devfile=pty.device_path, baudrate=9600, dsrdtr=False)
        try:
            printer.print_ticket("GP1.ABC", ["停车票 Parking ticket"])
            deadline = time.monotonic() + 3
            data = b""
            while b"\x1dV" not in data and time.monotonic() < deadline:
                data += pty.read(4096, 0.2)
            assert escpos_qr_payloads(data) == ["GP1.ABC"]
            assert "停车票" in escpos_text(data)
        finally:
            printer.close()


def test_missing_serial_printer_raises_device_error(tmp_path) -> None:
    printer = TicketPrinter.open("serial", devfile=str(tmp_path / "ttyPRN"))
    with pytest.raises(DeviceError):
        printer.print_receipt(["x"])
    assert printer.status.startswith("error: ")


@pytest.mark.parametrize(
    "kind,settings",
    [("laser", {}), ("serial", {}), ("dummy", {"no_such_option": 1}), ("dummy", {"width": 4})],
)
def test_bad_printer_config_is_a_config_error(kind: str, settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        TicketPrinter.open(kind, **settings)  # type: ignore[arg-type]


def test_captured_needs_the_dummy_printer(tmp_path) -> None:
    printer = TicketPrinter.open("serial", devfile=str(tmp_path / "ttyPRN"))
    with pytest.raises(DeviceError):
        _ = printer.captured


def test_printer_replugged_after_failures_prints_again(tmp_path) -> None:
    link = tmp_path / "ttyPRN"
    printer = TicketPrinter.open("serial", devfile=str(link))
    for _ in range(2):
        with pytest.raises(DeviceError):
            printer.print_receipt(["x"])
    with PtyPair() as pty:
        link.symlink_to(pty.device_path)
        printer.print_receipt(["收据 Receipt"])
        assert printer.status == "ok"
        assert "收据 Receipt" in escpos_text(read_all(pty))
        printer.close()


def test_printer_vanishing_mid_use_is_a_device_error(tmp_path) -> None:
    pty = PtyPair()
    printer = TicketPrinter.open("serial", devfile=pty.device_path)
    printer.print_receipt(["one"])
    pty.close()
    with pytest.raises(DeviceError):
        printer.print_receipt(["two"] * 50)
    assert printer.status.startswith("error: ")
    printer.close()

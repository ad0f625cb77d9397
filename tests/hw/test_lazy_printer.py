"""An exit lane's receipt printer: built from the hardware profile, opened at the first receipt."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config.load import load_profile
from edge.errors import DeviceError
from edge.lane.assemble import LazyPrinter, assemble_lane

BOARDS = Path(__file__).resolve().parents[2] / "firmware_configs" / "boards"


def test_an_exit_lane_gets_the_profiles_printer_for_receipts_opened_on_first_use():
    assembly = assemble_lane(
        load_profile(BOARDS / "pi5_lane.toml"), role="exit", medium="card", simulate=True
    )
    try:
        printer = assembly.parts.printer
        assert isinstance(printer, LazyPrinter) and not printer.loaded and printer.captured == b""
        printer.print_receipt(["停车收费凭证", "¥ 6.00"], None)
        assert printer.loaded and "停车收费凭证".encode("gb18030") in printer.captured
    finally:
        assembly.close()


def test_a_card_entry_lane_has_no_printer_and_a_board_without_one_gives_an_exit_lane_none():
    entry = assemble_lane(
        load_profile(BOARDS / "pi5_lane.toml"), role="entry", medium="card", simulate=True
    )
    zero = assemble_lane(
        load_profile(BOARDS / "pi_zero_2w_lane.toml"), role="exit", medium="card", simulate=True
    )
    try:
        assert entry.parts.printer is None and zero.parts.printer is None
    finally:
        entry.close()
        zero.close()


def test_a_printer_library_missing_at_the_first_receipt_is_a_device_error():
    def missing() -> None:
        raise ImportError("No module named 'usb'", name="usb")

    with pytest.raises(DeviceError, match="python-escpos"):
        LazyPrinter(missing).print_receipt(["x"])

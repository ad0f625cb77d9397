"""The installer's wiring tables, made from the board profiles in ``firmware_configs/boards/``.

    python -m edge.config.wiring                 print the tables (Markdown)
    python -m edge.config.wiring --readme README.md   rewrite them between the README's markers

The README's table is this output, so it cannot drift from the profiles the
agent really loads (a test compares them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config.load import load_profile
from edge.config.profile import HardwareProfile, InputPin, OutputPin

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_configs"
BEGIN, END = "<!-- wiring:begin -->", "<!-- wiring:end -->"

HEADER_PIN = {
    2: 3,
    3: 5,
    4: 7,
    17: 11,
    27: 13,
    22: 15,
    10: 19,
    9: 21,
    11: 23,
    0: 27,
    5: 29,
    6: 31,
    13: 33,
    19: 35,
    26: 37,
    14: 8,
    15: 10,
    18: 12,
    23: 16,
    24: 18,
    25: 22,
    8: 24,
    7: 26,
    1: 28,
    12: 32,
    16: 36,
    20: 38,
    21: 40,
}
"""BCM GPIO → physical pin of the 40-pin header (the same on the Pi 4, Pi 5 and Zero 2 W)."""

SIGNALS = {
    "barrier_open": "barrier OPEN relay 抬杆继电器",
    "barrier_close": "barrier CLOSE relay 落杆继电器",
    "arming_loop": "arming loop 前地感",
    "safety_loop": "safety loop 防砸地感",
    "photo_eye": "photo-eye 红外对射",
    "opened_limit": "opened limit switch 开到位",
    "closed_limit": "closed limit switch 关到位",
    "confirm_payment": "button: payment received 收费确认",
    "manual_raise": "button: raise by hand 手动抬杆",
    "manual_close": "button: close by hand 手动落杆",
}


def _level(spec: InputPin | OutputPin | None) -> str:
    if isinstance(spec, OutputPin):
        return "relay on at HIGH" if spec.active_high else "relay on at LOW (low-trigger board)"
    if isinstance(spec, InputPin):
        if spec.pull == "up":
            return "dry contact to GND, pull-up (active LOW)"
        if spec.pull == "down":
            return "contact to 3.3 V, pull-down (active HIGH)"
        return f"external resistor, active {'HIGH' if spec.active_high else 'LOW'}"
    return "push button to GND, pull-up"


def board_table(path: Path) -> str:
    """One board's Markdown table: every GPIO and serial part the profile wires."""
    profile: HardwareProfile = load_profile(path)
    board, pins = profile.board, profile.board.pins
    rel = path.relative_to(FIRMWARE) if path.is_relative_to(FIRMWARE) else path
    lines = [
        f"#### {board.name} — `{rel}`",
        "",
        f"Pin factory `{board.pin_factory}`."
        + (
            f" Barrier controller: {profile.barrier.name} (`{profile.barrier.model}`)."
            if profile.barrier
            else ""
        ),
        "",
        "| signal | GPIO (BCM) | header pin | wiring |",
        "|---|---|---|---|",
    ]
    for field, pin in pins.used():
        name = field.split(".")[-1] if field.startswith("pins.buttons") else field.split(".")[1]
        spec = getattr(pins, name, None) if not field.startswith("pins.buttons") else None
        signal = SIGNALS[name]
        if (
            name == "barrier_open"
            and profile.barrier is not None
            and profile.barrier.model == "hold"
        ):
            signal = "barrier hold relay (energised = open) 抬杆继电器"
        lines.append(f"| {signal} | {pin} | {HEADER_PIN[pin]} | {_level(spec)} |")
    reader = profile.card_reader
    if reader is not None:
        where = "header UART" if reader.port == "/dev/serial0" else reader.port
        lines.append(
            f"| card reader {reader.name}: TX → PN532 RX | 14 | 8 | {where}, {reader.baudrate} 8N1 |"
        )
        lines.append(
            f"| card reader {reader.name}: RX ← PN532 TX | 15 | 10 | 3.3 V logic; PN532 in HSU mode |"
        )
    for label, part in (("badge reader", profile.badge_reader), ("fee display", profile.display)):
        if part is not None and getattr(part, "port", None):
            lines.append(
                f"| {label} {part.name} | — | USB | `{part.port}` (udev), {part.baudrate} baud |"
            )
    if profile.badge_reader is not None and profile.badge_reader.model == "pn532_uid":
        lines.append(f"| badge reader {profile.badge_reader.name} | — | — | on the card reader |")
    if profile.printer is not None:
        printer = profile.printer
        where = (
            f"`{printer.port}` (udev)"
            if printer.connection == "serial"
            else (
                f"USB {printer.usb_vendor_id:04x}:{printer.usb_product_id:04x}"
                if printer.usb_vendor_id is not None
                else printer.connection
            )
        )
        lines.append(
            f"| printer {printer.name} | — | {'USB' if printer.connection != 'serial' else 'USB-serial'} | {where} |"
        )
    return "\n".join(lines) + "\n"


def tables(root: Path = FIRMWARE) -> str:
    """Every board under ``root/boards``, in name order."""
    return "\n".join(board_table(path) for path in sorted((root / "boards").glob("*.toml")))


def replace_in(text: str, generated: str) -> str:
    """``text`` with the part between the wiring markers replaced by ``generated``."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"markers {BEGIN} … {END} not found")
    return f"{head}{BEGIN}\n{generated}{END}{tail}"


def between_markers(text: str) -> str:
    """What the README holds between the markers now."""
    rest = text.partition(BEGIN)[2]
    return rest.partition(END)[0].removeprefix("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge.config.wiring", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--readme", type=Path, help="rewrite the tables between the markers of this file"
    )
    parser.add_argument("--root", type=Path, default=FIRMWARE, help="the firmware_configs folder")
    args = parser.parse_args(argv)
    generated = tables(args.root)
    if args.readme is None:
        sys.stdout.write(generated)
        return 0
    args.readme.write_text(
        replace_in(args.readme.read_text(encoding="utf-8"), generated), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``gatepost tariff …``: check a tariff file and price a stay from the shell.

For the property manager writing a tariff and the installer checking it on a
Pi: ``gatepost tariff quote day_night_cn.toml --entry 2026-11-26T19:40+08:00
--exit 2026-11-27T08:30+08:00``. Errors print ``error: …`` and exit 2.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import IO, Any

import click

from edge.errors import GatepostError
from edge.tariff.engine import Quote, quote
from edge.tariff.loader import load_tariff
from edge.tariff.message import fee_message
from edge.tariff.model import Tariff
from edge.tariff.money import format_money

log = logging.getLogger(__name__)


class TariffCliError(click.ClickException):
    """A clean ``error: …`` on stderr and exit status 2, with or without ``edge.cli.main``."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def parse_instant(text: str, tariff: Tariff, what: str) -> datetime:
    """ISO 8601 → aware datetime; a time without an offset is the tariff's wall clock.

    A wall time the clocks skip or repeat (DST) is refused rather than guessed.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _bad_input(
            f"{what} {text!r} is not an ISO 8601 time, e.g. 2026-11-26T19:40+08:00"
        ) from None
    if moment.tzinfo is not None:
        return moment
    zone = tariff.tzinfo
    early, late = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        raise _bad_input(
            f"{what} {text} is ambiguous or does not exist in {tariff.zone} (a clock change); "
            "give an explicit offset such as +01:00"
        )
    return early


def _bad_input(message: str) -> TariffCliError:
    """The error to raise for bad command-line input, logged once here."""
    log.error("tariff cli: %s", message)
    return TariffCliError(message)


@click.group(name="tariff")
def tariff() -> None:
    """Check a tariff and price a stay."""


@tariff.command(name="check")
@click.argument("path", type=click.Path(dir_okay=False))
def check(path: str) -> None:
    """Validate a tariff file and summarise it."""
    loaded = _load(path)
    click.echo(f"ok: {loaded.name} ({loaded.currency}, {loaded.zone})")
    for name, pricing in loaded.classes.items():
        cap = (
            f", cap {format_money(pricing.cap.minor, loaded.currency)} per {pricing.cap.window}"
            if pricing.cap
            else ""
        )
        click.echo(f"  {name}: {len(pricing.bands)} band(s), band_mode {pricing.band_mode}{cap}")
    if loaded.exempt_classes:
        click.echo(f"  exempt: {', '.join(loaded.exempt_classes)}")


@tariff.command(name="quote")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--entry", required=True, help="Entry time, ISO 8601; no offset = the tariff's zone.")
@click.option("--exit", "exit_", required=True, help="Exit time, ISO 8601.")
@click.option("--class", "vehicle_class", default="car", show_default=True, help="Vehicle class.")
@click.option("--lost", is_flag=True, help="The driver lost the ticket.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a receipt.")
def quote_cmd(
    path: str, entry: str, exit_: str, vehicle_class: str, lost: bool, as_json: bool
) -> None:
    """Price a stay under the tariff in PATH."""
    loaded = _load(path)
    entry_at = parse_instant(entry, loaded, "entry")
    exit_at = parse_instant(exit_, loaded, "exit")
    try:
        result = quote(loaded, entry_at, exit_at, vehicle_class=vehicle_class, lost=lost)
    except GatepostError as exc:
        raise TariffCliError(str(exc)) from exc
    if as_json:
        doc = {
            "tariff": loaded.name,
            "entry": entry_at.isoformat(),
            "exit": exit_at.isoformat(),
            **result.to_json_dict(),
        }
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        click.echo(_receipt(loaded, result, entry_at, exit_at))


def _load(path: str) -> Tariff:
    try:
        return load_tariff(path)
    except GatepostError as exc:
        raise TariffCliError(str(exc)) from exc


def _receipt(loaded: Tariff, result: Quote, entry_at: datetime, exit_at: datetime) -> str:
    zone = loaded.tzinfo
    money = format_money(result.fee_minor, result.currency)
    rows = [
        f"{loaded.name} — {result.vehicle_class}",
        (
            f"entry {entry_at.astimezone(zone).isoformat(timespec='minutes')}  "
            f"exit {exit_at.astimezone(zone).isoformat(timespec='minutes')}"
        ),
    ]
    width = max((len(line.label) for line in result.lines), default=0)
    for line in result.lines:
        amount = format_money(line.amount_minor, result.currency)
        rows.append(f"  {line.label:<{width}}  {line.minutes:>6} min  {amount:>10}")
    rows.append(f"total {result.minutes} min, {money} {result.currency}")
    rows.append(fee_message(result, "zh"))
    rows.append(fee_message(result, "en"))
    return "\n".join(rows)

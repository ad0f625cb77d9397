"""The ``gatepost`` command line.

Subcommands live beside what they run and are loaded only when called, so a
central server never imports gpiozero or OpenCV, and an edge Pi never imports
SQLAlchemy:

    gatepost edge --config lane.toml     the lane / kiosk agent      (edge.agent)
    gatepost tariff quote …               price a stay                (edge.tariff.cli)
    gatepost central …                    ingest + API + dashboard    (central.cli)
    gatepost provision DEVICE --site S    device credentials and ACL  (central.provision)
    gatepost demo                         a whole simulated site      (edge.sim.demo)
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from edge import __version__
from edge.errors import GatepostError

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "edge": ("edge.agent", "edge", "Run a lane or kiosk agent from its TOML config."),
    "tariff": ("edge.tariff.cli", "tariff", "Check a tariff and price a stay."),
    "central": ("central.cli", "central", "Run central (ingest, API, dashboard); manage users."),
    "provision": (
        "central.provision",
        "provision",
        "Create a device's broker credentials and ACL.",
    ),
    "demo": ("edge.sim.demo", "demo", "Run a whole simulated site on this machine."),
    "config": ("edge.config.check", "config", "Check lane/kiosk configs and hardware profiles."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listed from the table, so --help imports none of the heavy parts.
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module_name, attr, _ = SUBCOMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise click.ClickException(
                f"'gatepost {name}' needs a part that is not installed ({exc.name}); "
                "install the matching extra, e.g. pip install 'gatepost[edge]' or 'gatepost[central]'"
            ) from exc
        return getattr(module, attr)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="gatepost")
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING, ERROR")
def cli(log_level: str) -> None:
    """Gatepost: car gates and lobby desk for a property."""
    from edge.logs import configure_logging

    configure_logging(log_level)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GatepostError as exc:
        logging.getLogger("gatepost").error("%s", exc)
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)

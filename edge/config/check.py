"""``gatepost config FILE…``: validate agent configs and hardware profiles before deploying.

Prints one summary line per good file and, for a bad one, the file, line, field
and what is wrong — never a traceback. Exit status 2 if any file is bad.
Also runnable as ``python -m edge.config.check FILE…``.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import click

from edge.config.load import load_config, load_part, load_profile
from edge.errors import ConfigError


def describe(path: Path) -> str:
    """Load ``path`` as whatever it is (agent config, board or part profile); a one-line summary."""
    try:
        kind = tomllib.loads(path.read_text(encoding="utf-8")).get("kind")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        kind = None  # let the loader report it with its line
    if kind is None:
        config = load_config(path)
        assert config.profile is not None
        board = config.profile.board
        return (
            f"{path}: ok — {config.device.role} {config.device.site}/{config.device.id}, "
            f"{board.name} ({board.pin_factory}{', simulated' if config.hardware.simulate else ''})"
        )
    if kind == "board":
        profile = load_profile(path)
        parts = [
            k
            for k in ("barrier", "card_reader", "badge_reader", "display", "printer")
            if getattr(profile, k)
        ]
        return f"{path}: ok — board {profile.board.name}; parts: {', '.join(parts) or 'none'}"
    part = load_part(path, str(kind))
    return f"{path}: ok — {kind} {getattr(part, 'name', '')}"


@click.command("config")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def config(paths: tuple[Path, ...]) -> None:
    """Check lane/kiosk configs and hardware profiles (firmware_configs/…)."""
    bad = 0
    for path in paths:
        try:
            click.echo(describe(path))
        except ConfigError as exc:
            bad += 1
            click.echo(f"error: {exc}", err=True)
    if bad:
        sys.exit(2)


if __name__ == "__main__":
    config()

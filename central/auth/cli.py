"""``gatepost central create-user``: the first admin (and any user) from the command line.

There is no default account and no default password: the password is typed
twice at a hidden prompt (or read from ``GATEPOST_NEW_PASSWORD`` for
provisioning scripts) and must meet the minimum rules.
"""

from __future__ import annotations

import os

import click

from central.auth.service import create_user
from central.db.session import make_engine, make_sessions, upgrade
from central.settings import load_settings
from edge.errors import GatepostError
from edge.wire import utc_now


@click.command("create-user")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["guard", "supervisor", "admin"]),
    required=True,
    help="What the user may do.",
)
@click.option("--name", "display_name", default="", help="Display name, e.g. 张三.")
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option(
    "--db-url",
    envvar="GATEPOST_DB_URL",
    default=None,
    help="Database URL (default: GATEPOST_DB_URL / settings).",
)
def create_user_command(
    username: str, role: str, display_name: str, language: str, db_url: str | None
) -> None:
    """Create a central user (the first admin, or any later one)."""
    password = os.environ.get("GATEPOST_NEW_PASSWORD")
    if password is None:
        password = click.prompt(
            "密码 / password", hide_input=True, confirmation_prompt="再次输入 / repeat"
        )
    url = db_url or load_settings().db_url
    engine = make_engine(url)
    try:
        upgrade(engine)
        with make_sessions(engine)() as db:
            try:
                create_user(
                    db,
                    username,
                    password,
                    role,
                    now=utc_now(),
                    display_name=display_name,
                    language=language,
                    by="cli",
                )
                db.commit()
            except GatepostError as exc:
                raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"created {role} {username}")

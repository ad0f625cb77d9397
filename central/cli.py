"""``gatepost central …``: run central, migrate its database.

    gatepost central run                  API + dashboard + ingest in one process
    gatepost central run --ingest-only    just ingest (scale out: several, with GATEPOST_INGEST_SHARED=true)
    gatepost central run --no-ingest      just the web app (ingest runs elsewhere)
    gatepost central migrate              upgrade the schema to the newest revision

Other parts add their subcommands to :data:`SUBCOMMANDS`; they load only when called.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading

import click

from central.settings import load_settings

log = logging.getLogger(__name__)

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "create-user": (
        "central.auth.cli",
        "create_user_command",
        "Create a user: guard, supervisor or admin (the first admin).",
    )
}
"""name → (module, attribute, one-line help) for subcommands defined elsewhere (e.g. user management)."""


class CentralGroup(click.Group):
    """Built-in commands plus lazily imported ones from :data:`SUBCOMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(SUBCOMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in SUBCOMMANDS:
            module_name, attr, _ = SUBCOMMANDS[name]
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, cmd.get_short_help_str()) for name, cmd in self.commands.items()]
        rows += [(name, help_text) for name, (_m, _a, help_text) in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


@click.group(cls=CentralGroup)
def central() -> None:
    """Central: ingest, storage, API and dashboard. Settings come from GATEPOST_* variables."""


@central.command()
@click.option(
    "--ingest/--no-ingest",
    "with_ingest",
    default=True,
    help="Run the ingest workers in this process.",
)
@click.option("--ingest-only", is_flag=True, help="Run ingest without the web app.")
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=None,
    help="Ingest workers (default GATEPOST_INGEST_WORKERS or 1).",
)
@click.option("--host", default=None, help="Listen address (default GATEPOST_HTTP_HOST).")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Listen port (default GATEPOST_HTTP_PORT).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="With --ingest-only: serve Prometheus /metrics on the listen address and this port.",
)
def run(
    with_ingest: bool,
    ingest_only: bool,
    workers: int | None,
    host: str | None,
    port: int | None,
    metrics_port: int | None,
) -> None:
    """Run central: the web app and the ingest worker(s), sharing one database."""
    from central.db.session import make_engine, make_sessions, upgrade
    from central.ingest.service import IngestService

    if ingest_only and not with_ingest:
        raise click.UsageError("--ingest-only and --no-ingest exclude each other")
    if metrics_port is not None and not ingest_only:
        raise click.UsageError(
            "--metrics-port is for --ingest-only; the web app serves /metrics on its own port"
        )
    overrides: dict[str, object] = {}
    if workers is not None:
        overrides["ingest_workers"] = workers
    if host is not None:
        overrides["http_host"] = host
    if port is not None:
        overrides["http_port"] = port
    settings = load_settings(**overrides)
    engine = make_engine(settings.db_url)
    if settings.auto_migrate:
        upgrade(engine)
    ingest = (
        IngestService(settings, engine, housekeeping=settings.housekeeping) if with_ingest else None
    )

    if ingest_only:
        assert ingest is not None
        stop_metrics = None
        if metrics_port is not None:
            from central.metrics import serve_beside_ingest

            try:
                stop_metrics = serve_beside_ingest(
                    ingest, make_sessions(engine), settings.http_host, metrics_port
                )
            except OSError as exc:
                raise click.ClickException(
                    f"cannot serve metrics on {settings.http_host}:{metrics_port}: {exc.strerror or exc}"
                ) from None
        try:
            _run_until_signal(ingest)
        finally:
            if stop_metrics is not None:
                stop_metrics()
        return

    import uvicorn

    from central.app import create_app, server_config

    app = create_app(settings, engine=engine, ingest=ingest)
    server = uvicorn.Server(
        server_config(app, settings.http_host, settings.http_port, log_config=None)
    )
    server.run()
    if not server.started:  # could not bind, or the app failed to start: as uvicorn.run does
        raise SystemExit(3)


def _run_until_signal(ingest: object) -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ingest.start(wait_s=None)  # type: ignore[attr-defined]
    try:
        stop.wait()
    finally:
        ingest.stop()  # type: ignore[attr-defined]


@central.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def migrate(revision: str) -> None:
    """Create or upgrade central's tables (GATEPOST_DB_URL)."""
    from central.db.session import current_revision, make_engine, upgrade

    engine = make_engine(load_settings().db_url)
    upgrade(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")

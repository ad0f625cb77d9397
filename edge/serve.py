"""Serve a Pi's local page (the booth console, the kiosk screen) with uvicorn on a thread of its own.

The agent keeps the main thread and its signal handling. "Ready" means the
page answers: :func:`serve_local` returns once uvicorn is listening, and a port
it cannot take stops the agent's start with a clear config error instead of
leaving a lane or kiosk whose screen silently never came up.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from edge.errors import ConfigError

log = logging.getLogger(__name__)

START_S = 30.0


@dataclass
class RunningApp:
    """A page served on a thread: where it answers and how to stop it."""

    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def serve_local(
    app: FastAPI,
    host: str,
    port: int,
    *,
    what: str,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> RunningApp:
    """Run ``app`` on ``host:port`` (0: a free port); ``what`` names it in logs and errors.

    With ``certfile``/``keyfile`` the page is served over TLS (a booth tablet on the network).
    ``url`` is built from the socket actually listening, so the log never shows a loopback
    address for a page that listens on every interface.
    """
    # Plain asyncio + h11, no websockets: a handful of JSON calls; the Pi's memory budget is small.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
    )

    def run() -> None:
        try:
            server.run()
        except (SystemExit, OSError) as exc:  # uvicorn exits its thread when it cannot bind
            log.error("%s on %s:%s stopped: %r", what, host, port, exc)

    thread = threading.Thread(target=run, name=what.replace(" ", "-"), daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(
                f"the {what} could not listen on {host}:{port} (port in use? TLS files readable?)",
                source="[console] bind/port/tls",
            )
        time.sleep(0.01)
    bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    scheme = "https" if certfile else "http"
    url = f"{scheme}://{shown}:{bound_port}/"
    log.info("%s listening on %s", what, url)
    return RunningApp(url=url, port=bound_port, server=server, thread=thread)

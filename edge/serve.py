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

START_S = 10.0


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


def serve_local(app: FastAPI, host: str, port: int, *, what: str) -> RunningApp:
    """Run ``app`` on ``host:port`` (0: a free port); ``what`` names it in logs and errors."""
    # Plain asyncio + h11, no websockets: a handful of JSON calls; the Pi's memory budget is small.
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                           loop="asyncio", http="h11", ws="none"))

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
            raise ConfigError(f"the {what} could not listen on {host}:{port} (port in use?)",
                              source="[console] bind/port")
        time.sleep(0.01)
    if port == 0:
        port = server.servers[0].sockets[0].getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return RunningApp(url=f"http://{shown}:{port}/", port=port, server=server, thread=thread)

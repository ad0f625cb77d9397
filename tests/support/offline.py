"""Browser pages on a site network without Internet: abort every request that leaves the server under test."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def only_local(page: Any, base_url: str) -> tuple[list[str], list[str]]:
    """Route ``page`` so that only ``base_url``'s host:port is reached; returns the (asked, blocked) URL lists.

    The lists fill as the page loads: assert ``blocked == []`` once the page has shown what it should.
    """
    local = urlsplit(base_url).netloc
    asked: list[str] = []
    blocked: list[str] = []

    def route(route: Any, request: Any) -> None:
        asked.append(request.url)
        if urlsplit(request.url).netloc == local:
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    page.route("**/*", route)
    return asked, blocked

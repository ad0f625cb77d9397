"""The booth console's and a lane's API docs load on a Pi without Internet: every file comes from the Pi."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from edge.console.app import serve_console
from edge.lane.api import create_booth_api
from tests.support.offline import only_local
from tests.support.services import free_port, wait_for_port

pytestmark = pytest.mark.browser


def operations_shown(page, url: str) -> set[str]:
    asked, blocked = only_local(page, url)
    page.goto(url)
    page.wait_for_selector(".opblock-summary-path", timeout=20000)
    assert blocked == [], f"the docs page asked for outside files: {blocked}"
    assert all(urlsplit(u).netloc == urlsplit(url).netloc for u in asked)
    return {
        p.strip().replace("\u200b", "")
        for p in page.locator(".opblock-summary-path").all_inner_texts()
    }


def test_console_docs_list_its_operations_with_the_network_blocked(page, make_post):
    post = make_post()
    paths = operations_shown(page, f"{post.url}/api/console/docs")
    assert "/api/console/sign-on" in paths and "/api/console/lanes/{lane}/confirm-payment" in paths


def test_lane_api_docs_list_its_operations_with_the_network_blocked(page, make_post):
    post = make_post(serve=False)
    port = free_port()
    running = serve_console(create_booth_api(post.lanes["exit-1"].lane), "127.0.0.1", port)
    try:
        wait_for_port(port)
        assert "/api/lane" in operations_shown(page, f"http://127.0.0.1:{port}/api/docs")
    finally:
        running.stop()

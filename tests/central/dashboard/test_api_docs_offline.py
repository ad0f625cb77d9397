"""The API docs pages work on a site network without Internet: every file they need comes from central."""

from __future__ import annotations

import httpx
import pytest

from tests.support.offline import only_local

pytestmark = pytest.mark.browser


def test_swagger_ui_lists_the_operations_with_everything_but_central_blocked(page, central):
    asked, blocked = only_local(page, central.url)
    page.goto(f"{central.url}/docs")
    # Swagger UI draws one block per operation once its script and the schema have loaded.
    page.wait_for_selector(".opblock-summary-path", timeout=20000)
    paths = {
        p.strip().replace("\u200b", "")
        for p in page.locator(".opblock-summary-path").all_inner_texts()
    }
    assert "/healthz" in paths and len(paths) > 10, paths
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Gatepost central")
    assert blocked == [], f"the docs page asked for outside files: {blocked}"
    assert any(u.endswith("/static-api-docs/swagger-ui-bundle.js") for u in asked)
    assert any(u.endswith("/openapi.json") for u in asked)


def test_no_redoc_page_because_it_would_fetch_from_a_cdn(central):
    assert httpx.get(f"{central.url}/redoc", timeout=10).status_code == 404

"""A browser at a Pi's local page, as tests drive it: its own cookies, the page's CSRF token on every POST.

Wraps an ``httpx.Client`` (a real uvicorn) or a FastAPI ``TestClient``; each
instance is one browser, so two instances are two browsers with two sessions.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Self

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from edge.lane.api import create_booth_api
from edge.lane.lane import Lane
from edge.localpage import CSRF_HEADER, MachineToken, PageRules, Refusals, install

_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


class Browser:
    """One browser: opens the page (cookie + token), then GETs and POSTs like the page's script."""

    def __init__(self, client: httpx.Client | TestClient) -> None:
        self.client = client
        self.csrf = ""

    @classmethod
    def of_app(cls, app: FastAPI) -> Self:
        """A browser at an app without a server (a Host the page accepts: 127.0.0.1)."""
        return cls(TestClient(app, base_url="http://127.0.0.1"))

    @classmethod
    def at(cls, url: str, **kwargs: Any) -> Self:
        """A browser at a served page (``url`` as the server printed it)."""
        return cls(httpx.Client(base_url=url.rstrip("/"), timeout=10, **kwargs))

    def open(self, path: str = "/") -> Self:
        page = self.client.get(path)
        page.raise_for_status()
        match = _META.search(page.text)
        assert match, "the page carries no CSRF token"
        self.csrf = match.group(1)
        return self

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(
        self, path: str, json: Any = None, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        answer = self.client.post(
            path, json=json, headers={CSRF_HEADER: self.csrf} | (headers or {}), **kwargs
        )
        if answer.headers.get("content-type", "").startswith("application/json"):
            body = answer.json()
            if isinstance(body, dict) and isinstance(body.get("csrf"), str):
                self.csrf = body["csrf"]  # a sign-on renews the session and its token
        return answer

    def sign_on(self, staff_id: str, pin: str) -> httpx.Response:
        """Open the page if not yet, sign on with ID + PIN; raises unless it worked."""
        if not self.csrf:
            self.open()
        answer = self.post(
            "/api/console/sign-on",
            json={"request_id": uuid.uuid4().hex, "staff_id": staff_id, "pin": pin},
        )
        answer.raise_for_status()
        return answer


SCRIPT_TOKEN = "test-machine-token-0123456789abcdef"
"""The lane API's machine token in tests (what ``[console] machine_token_env`` names in a real config)."""
LANE_ACTIONS = frozenset(
    {"confirm-payment", "lost-ticket", "manual-raise", "manual-close", "override-full"}
)


def lane_script(lane: Lane, scopes: frozenset[str] = LANE_ACTIONS) -> TestClient:
    """A script at a lane's ``/api/lane`` holding the machine token (``token:script`` in events)."""
    api = create_booth_api(lane, token=MachineToken("script", SCRIPT_TOKEN, scopes))
    install(api, Refusals("lane_api"), PageRules.local())
    return TestClient(
        api, base_url="http://127.0.0.1", headers={"Authorization": f"Bearer {SCRIPT_TOKEN}"}
    )

"""Schemathesis against the live OpenAPI spec: no 5xx, and every response fits the schema.

Runs signed in as an admin (so every operation gets past the role guard and
its input handling is exercised) with the CSRF header set. The SSE stream
(never ends) and logout (would end the fuzzing session) are left out.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.central.api.harness import PASSWORD


@pytest.fixture(scope="module")
def fuzz_auth(central):
    admin = central.client("admin")
    admin.post(
        "/api/users", json={"username": "fuzzer", "password": PASSWORD, "role": "admin"}
    ).raise_for_status()
    c = central.client("fuzzer")
    return {
        "Cookie": f"gp_session={c.cookies['gp_session']}",
        "X-CSRF-Token": c.headers["X-CSRF-Token"],
    }


@pytest.fixture(scope="module")
def api_schema(central):
    schema = schemathesis.openapi.from_url(f"{central.url}/openapi.json")
    return schema.exclude(path="/api/live").exclude(path="/api/auth/logout")


def test_api_conforms_to_its_schema(central, fuzz_auth, api_schema):
    """Each operation in turn (schemathesis' pytest plugin does not load under this pytest)."""
    excluded = [schemathesis.checks.positive_data_acceptance, schemathesis.checks.ignored_auth]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case):
            case.call_and_validate(headers=fuzz_auth, excluded_checks=excluded)

        run()

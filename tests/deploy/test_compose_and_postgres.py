"""deploy/compose and deploy/postgresql: the central stack's files are valid and the database setup works.

``docker compose config`` needs the compose plugin, which this machine's docker
CLI lacks (and no daemon runs), so the compose file is validated against the
Compose Specification's JSON schema instead: tests/deploy/compose_spec.json,
the schema docker-compose 1.29.2 ships (Debian package docker-compose
1.29.2-3, Apache-2.0). Structural checks add what a schema cannot see: the
files it mounts and builds from exist, and only TLS and the dashboard are
published.

The PostgreSQL setup script runs for real with psql against the test server,
then central's migrations run as the role it created.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import jsonschema_rs
import pytest
import yaml
from sqlalchemy import inspect, text

from central.db.session import make_engine, upgrade
from tests.support.services import PG_ADMIN_URL, _pg_available, require

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose"
SCHEMA = json.loads((Path(__file__).with_name("compose_spec.json")).read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def test_compose_file_follows_the_compose_spec(compose):
    errors = [
        f"{e.instance_path}: {e.message}"
        for e in jsonschema_rs.validator_for(SCHEMA).iter_errors(compose)
    ]
    assert not errors, errors


def test_the_schema_would_catch_a_typo(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["central"]["restrat"] = "always"
    assert not jsonschema_rs.validator_for(SCHEMA).is_valid(broken)


def test_compose_stack_shape(compose):
    services = compose["services"]
    assert set(services) == {"mosquitto", "postgres", "central"}
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        for net in service.get("networks", []):
            assert net in compose["networks"]
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                if source in (
                    "./tls",
                    "./gatepost/mosquitto",
                ):  # made by make-certs.sh / gatepost provision
                    continue
                assert (COMPOSE / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} not declared"
    published = sorted(p for s in services.values() for p in s.get("ports", []))
    assert published == ["8080:8080", "8883:8883"]  # never 1883 (plain MQTT) nor 5432
    assert compose["networks"]["backend"]["internal"] is True
    assert services["postgres"]["networks"] == ["backend"]
    central = services["central"]
    assert central["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert central["environment"]["GATEPOST_BROKER_HOST"] == "mosquitto"
    assert central["environment"]["GATEPOST_DB_URL"].startswith("postgresql+psycopg://")
    assert central["read_only"] is True and central["cap_drop"] == ["ALL"]
    build = central["build"]
    dockerfile = (COMPOSE / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile == COMPOSE / "Dockerfile"
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
    assert re.search(r"^USER gatepost$", dockerfile.read_text(), re.MULTILINE)


def test_compose_broker_keeps_the_shipped_broker_settings():
    def settings(path: Path) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition(" ")
                out.setdefault(key, value)
        return out

    shipped = settings(ROOT / "deploy/mosquitto/gatepost.conf")
    stack = settings(COMPOSE / "mosquitto.conf")
    for key in (
        "allow_anonymous",
        "max_queued_messages",
        "max_queued_bytes",
        "persistence",
        "persistent_client_expiration",
        "tls_version",
        "password_file",
        "acl_file",
    ):
        assert stack[key] == shipped[key], key


def test_postgres_setup_script_creates_a_role_that_can_migrate():
    require(
        _pg_available() and shutil.which("psql") is not None,
        f"PostgreSQL at {PG_ADMIN_URL} and psql",
    )
    suffix = uuid.uuid4().hex[:8]
    role, db, password = f"gp_role_{suffix}", f"gp_db_{suffix}", uuid.uuid4().hex
    admin = PG_ADMIN_URL
    try:
        done = subprocess.run(
            [
                "psql",
                admin,
                "-q",
                "-v",
                f"role={role}",
                "-v",
                f"db={db}",
                "-v",
                f"password={password}",
                "-f",
                str(ROOT / "deploy/postgresql/setup.sql"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        base = admin.split("://", 1)[1].split("@", 1)[1].rsplit("/", 1)[0]
        engine = make_engine(f"postgresql+psycopg://{role}:{password}@{base}/{db}")
        try:
            upgrade(engine)
            with engine.connect() as conn:
                assert conn.execute(text("SELECT current_user")).scalar() == role
                assert conn.execute(text("SHOW timezone")).scalar() == "UTC"
                owner = conn.execute(
                    text("SELECT tableowner FROM pg_tables WHERE tablename = 'events'")
                ).scalar()
            assert owner == role
            assert {"events", "quarantine", "alarms"} <= set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
        # Running it twice fails loudly instead of half-applying (ON_ERROR_STOP).
        again = subprocess.run(
            [
                "psql",
                admin,
                "-q",
                "-v",
                f"role={role}",
                "-v",
                f"db={db}",
                "-v",
                f"password={password}",
                "-f",
                str(ROOT / "deploy/postgresql/setup.sql"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert again.returncode != 0 and "already exists" in again.stderr
    finally:
        subprocess.run(
            ["psql", admin, "-q", "-c", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'],
            capture_output=True,
            timeout=60,
            check=False,
        )
        subprocess.run(
            ["psql", admin, "-q", "-c", f'DROP ROLE IF EXISTS "{role}"'],
            capture_output=True,
            timeout=60,
            check=False,
        )

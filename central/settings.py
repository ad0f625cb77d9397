"""Central's settings, from the environment (``GATEPOST_…``) or a ``.env`` file.

Every field has a default that runs a single-box install; a typo in a
variable name under the ``GATEPOST_`` prefix is not an error (the environment
is shared with other programs), but a bad value is, with the variable named.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge.errors import ConfigError


class Settings(BaseSettings):
    """What ``gatepost central run`` needs to reach its database and broker."""

    model_config = SettingsConfigDict(
        env_prefix="GATEPOST_", env_file=".env", extra="ignore", frozen=True
    )

    db_url: str = Field(
        default="sqlite:///var/central.db",
        description="SQLAlchemy URL: sqlite:///path (WAL, the embedded default) or postgresql://user@host/db",
    )
    auto_migrate: bool = Field(
        default=True, description="Upgrade the schema to head when central starts."
    )

    broker_host: str = Field(
        default="127.0.0.1", min_length=1, description="MQTT broker host name."
    )
    broker_port: int = Field(
        default=1883, ge=1, le=65535, description="MQTT broker port (8883 for TLS)."
    )
    broker_username: str | None = Field(
        default=None,
        description=(
            "This process's broker login name, as `gatepost provision NAME --central` wrote it: each connection "
            "logs in as '<name>.ingest-<i>', '<name>.house' or '<name>.ops' and uses that as its client id "
            "(the shipped broker forces client id = login; see deploy/mosquitto/gatepost.conf)."
        ),
    )
    broker_password: SecretStr | None = Field(
        default=None, description="The password of this process's broker logins."
    )
    broker_tls_ca: Path | None = Field(
        default=None, description="CA file; set it to connect with TLS."
    )
    broker_keepalive_s: int = Field(default=30, ge=5, le=600, description="MQTT keepalive.")

    client_id: str = Field(
        default="gatepost-central",
        min_length=1,
        max_length=64,
        description=(
            "Base MQTT client id when there is no broker login (embedded broker, tests); ingest worker i uses "
            "'<client_id>-ingest-<i>' (a persistent session, so keep it stable across restarts). With "
            "GATEPOST_BROKER_USERNAME the client ids are the logins instead. Every central process needs its "
            "own: two processes with one id would keep disconnecting each other."
        ),
    )
    housekeeping: bool = Field(
        default=True,
        description=(
            "Run the occupancy republish/sample/reconcile and the time beacon in this process. "
            "With several central processes, leave it on in exactly one."
        ),
    )
    ingest_workers: int = Field(
        default=1, ge=1, le=32, description="Ingest workers (MQTT clients) in this process."
    )
    ingest_shared: bool | None = Field(
        default=None,
        description=(
            "Subscribe through the shared group $share/<ingest_group>/… so several workers or processes split "
            "the stream. Default: on when ingest_workers > 1. Leave off for the embedded amqtt broker, which "
            "has no shared subscriptions."
        ),
    )
    ingest_group: str = Field(default="gatepost-ingest", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    batch_max: int = Field(
        default=500, ge=1, le=10_000, description="Most messages committed in one transaction."
    )
    batch_linger_ms: int = Field(
        default=0,
        ge=0,
        le=1000,
        description=(
            "Extra wait for a batch to fill. 0 batches whatever arrived during the last commit, which is "
            "fastest: the broker holds back messages until earlier ones are acknowledged anyway."
        ),
    )

    time_beacon_s: float = Field(
        default=10.0, gt=0, description="Period of the time beacon, if the wire has one."
    )
    occupancy_publish_s: float = Field(
        default=60.0, gt=0, description="Republish, sample and reconcile occupancy."
    )
    occupancy_samples_keep_days: int = Field(default=8, ge=1, le=400)

    http_host: str = Field(default="127.0.0.1", description="Dashboard/API listen address.")
    http_port: int = Field(default=8080, ge=1, le=65535, description="Dashboard/API port.")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if (self.broker_username is None) != (self.broker_password is None):
            raise ValueError(
                "set both GATEPOST_BROKER_USERNAME and GATEPOST_BROKER_PASSWORD, or neither"
            )
        return self

    @property
    def shared_subscription(self) -> bool:
        return self.ingest_shared if self.ingest_shared is not None else self.ingest_workers > 1


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; raises :class:`ConfigError` naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        raise ConfigError(f"{err['msg']}", f"GATEPOST_{field.upper()}") from exc

"""Visitor-log settings (``GATEPOST_…``), beside central's own."""

from __future__ import annotations

import json

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge.errors import ConfigError


class VisitorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEPOST_", env_file=".env", extra="ignore", frozen=True
    )

    visitor_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Personal fields of a visit are purged after this many days.",
    )
    visitor_purge_hour: int = Field(
        default=3, ge=0, le=23, description="Local hour of the nightly purge."
    )
    visitor_invite_keys: SecretStr | None = Field(
        default=None,
        description='Invite signing keys, "1=hex,2=hex" or JSON; the kiosks hold the same [keys].',
    )
    visitor_invite_key_id: int | None = Field(
        default=None, ge=0, le=255, description="Default: the highest id."
    )
    visitor_webhook_url: str | None = Field(
        default=None,
        max_length=500,
        description="POSTed a HostNotice JSON when a visitor checks in.",
    )
    site_tz: str = Field(
        default="Asia/Shanghai", description="The property's zone (days, invites)."
    )

    def keys(self) -> dict[int, bytes]:
        """The invite keys; :class:`ConfigError` when unset or unreadable."""
        if self.visitor_invite_keys is None:
            raise ConfigError("GATEPOST_VISITOR_INVITE_KEYS is not set: invites are disabled")
        raw = self.visitor_invite_keys.get_secret_value().strip()
        try:
            pairs = (
                json.loads(raw).items()
                if raw.startswith("{")
                else (p.split("=", 1) for p in raw.split(",") if p.strip())
            )
            return {int(k): bytes.fromhex(v.strip()) for k, v in pairs}
        except (ValueError, AttributeError) as exc:
            raise ConfigError(
                f"GATEPOST_VISITOR_INVITE_KEYS unreadable: {type(exc).__name__}"
            ) from None

    def signing_key(self) -> tuple[int, bytes]:
        keys = self.keys()
        key_id = self.visitor_invite_key_id if self.visitor_invite_key_id is not None else max(keys)
        if key_id not in keys:
            raise ConfigError(f"GATEPOST_VISITOR_INVITE_KEY_ID {key_id} is not among the keys")
        return key_id, keys[key_id]

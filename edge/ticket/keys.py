"""The site's ticket-signing keys, with rotation.

Every ticket carries the id of the key that signed it. A site adds a new key
(a higher id) to rotate: the newest key signs from then on, older keys keep
verifying tickets already in drivers' hands until the installer removes them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from edge.errors import ConfigError

MIN_KEY_BYTES = 16
TAG_BYTES = 12
"""96-bit tags: well above the 64-bit floor, and small enough for an NTAG213 card."""


class KeyRing:
    """HMAC-SHA256 keys by id; the signing key defaults to the newest (highest id).

    The keys never appear in ``repr`` or logs.
    """

    def __init__(
        self,
        keys: Mapping[int, bytes],
        signing_key_id: int | None = None,
    ) -> None:
        if not keys:
            raise ConfigError("ticket key ring is empty: configure at least one site key")
        checked: dict[int, bytes] = {}
        for key_id, key in keys.items():
            if isinstance(key_id, bool) or not isinstance(key_id, int) or not 0 <= key_id <= 0xFFFF:
                raise ConfigError(f"ticket key id must be an integer 0–65535, got {key_id!r}")
            if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_KEY_BYTES:
                raise ConfigError(
                    f"ticket key {key_id} must be at least {MIN_KEY_BYTES} bytes "
                    f"(got {len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__})"
                )
            checked[key_id] = bytes(key)
        if signing_key_id is None:
            signing_key_id = max(checked)
        if signing_key_id not in checked:
            raise ConfigError(
                f"signing key id {signing_key_id} is not in the key ring {sorted(checked)}"
            )
        self._keys = checked
        self.signing_key_id: int = signing_key_id
        self.tag_bytes: int = TAG_BYTES

    @classmethod
    def from_hex(cls, keys: Mapping[int | str, str], signing_key_id: int | None = None) -> KeyRing:
        """Build from hex strings as they appear in a config file or environment variable.

        Ids may be given as strings (``{"1": "…"}``), as JSON object keys always are.
        """
        parsed: dict[int, bytes] = {}
        for key_id, text in keys.items():
            try:
                kid = int(key_id)
            except (TypeError, ValueError):
                raise ConfigError(f"ticket key id must be an integer, got {key_id!r}") from None
            try:
                parsed[kid] = bytes.fromhex(text)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"ticket key {kid} is not valid hex: {exc}") from exc
        return cls(parsed, signing_key_id)

    @property
    def key_ids(self) -> frozenset[int]:
        """Ids that verify."""
        return frozenset(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={sorted(self._keys)}, signing_key_id={self.signing_key_id})"

    def _mac(self, key_id: int, msg: bytes) -> bytes:
        return hmac.new(self._keys[key_id], msg, hashlib.sha256).digest()[: self.tag_bytes]

    def sign(self, msg: bytes) -> tuple[int, bytes]:
        """Sign with the current signing key: ``(key_id, tag)``."""
        return self.signing_key_id, self._mac(self.signing_key_id, msg)

    def sign_with(self, key_id: int, msg: bytes) -> bytes:
        """Tag ``msg`` with a named key (the codec signs a message that already holds the id)."""
        if key_id not in self._keys:
            raise ConfigError(f"no ticket key with id {key_id}")
        return self._mac(key_id, msg)

    def verify(self, key_id: int, msg: bytes, tag: bytes) -> bool:
        """True only if ``tag`` is this ring's tag for ``msg`` under ``key_id`` (constant time).

        An unknown key id or a tag of the wrong length is simply ``False``; the
        codec checks :meth:`__contains__` first to tell "unknown key" from "forged".
        """
        if key_id not in self._keys or len(tag) != self.tag_bytes:
            return False
        return hmac.compare_digest(self._mac(key_id, msg), bytes(tag))

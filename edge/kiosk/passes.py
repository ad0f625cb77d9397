"""The QR on a printed visitor pass: which visit it is, signed so nobody checks out someone else.

``GPP1.<key id>.<visit id>.<mac>``: printable ASCII, short enough for a
58 mm pass. The MAC binds the site too, so a pass from another property's
kiosk is refused as surely as a made-up one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from edge.errors import GatepostError

PREFIX = "GPP1."
_RE = re.compile(r"^GPP1\.(\d{1,3})\.([A-Za-z0-9-]{8,64})\.([A-Za-z0-9_-]{16,32})$")


class PassError(GatepostError, ValueError):
    """Not a genuine visitor pass of this site."""


def _mac(key: bytes, site: str, key_id: int, visit_id: str) -> str:
    digest = hmac.new(key, f"{PREFIX}{site}.{key_id}.{visit_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:15]).decode()


def sign_pass(visit_id: str, site: str, key_id: int, key: bytes) -> str:
    return f"{PREFIX}{key_id}.{visit_id}.{_mac(key, site, key_id, visit_id)}"


def verify_pass(text: str, site: str, keys: dict[int, bytes]) -> str:
    """The visit id of a genuine pass; :class:`PassError` otherwise."""
    match = _RE.match(text or "")
    if match is None:
        raise PassError("not a visitor pass")
    key_id, visit_id, mac = int(match.group(1)), match.group(2), match.group(3)
    key = keys.get(key_id)
    if key is None or not hmac.compare_digest(mac, _mac(key, site, key_id, visit_id)):
        raise PassError("visitor pass signature does not match")
    return visit_id

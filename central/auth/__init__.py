"""Central's users, roles, sessions and machine tokens.

Roles: guard < supervisor < admin (:mod:`central.auth.roles`). Browsers use a
server-side session cookie plus a CSRF token; lanes and kiosks use bearer
tokens. Use :func:`central.auth.deps.require` on any endpoint that changes
something.
"""

from central.auth.roles import Role, allows

__all__ = ["Role", "allows"]

"""Who may do what on central.

Three roles, each including the one below it. The booth guard watches; the
supervisor acts on the site (remote raise, alarm acknowledgement, capacity,
tariff and whitelist pushes, report exports); the admin also manages users.
Every check goes through :func:`allows`, so the page and the API refuse the
same things.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    GUARD = "guard"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.GUARD: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


def allows(have: Role | str, need: Role | str) -> bool:
    """True when a user holding ``have`` may do what needs ``need``."""
    try:
        return Role(have).rank >= Role(need).rank
    except ValueError:
        return False

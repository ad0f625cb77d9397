"""Errors of central's auth layer, under the project's one exception root."""

from __future__ import annotations

from edge.errors import GatepostError


class AuthError(GatepostError, PermissionError):
    """Not signed in, wrong credentials, or an expired session."""


class Throttled(AuthError):
    """Too many failed sign-ins; ``retry_after`` seconds until the next try."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"登录失败次数过多,请 {retry_after} 秒后再试 / too many failed sign-ins, retry in {retry_after} s"
        )


class WeakPassword(GatepostError, ValueError):
    """A password that does not meet the minimum rules."""


class UserError(GatepostError, ValueError):
    """A user record cannot be created or changed as asked (duplicate name, bad role, last admin)."""

"""Users, sign-in, sessions and machine tokens: the database side of auth.

Everything here takes a SQLAlchemy ``Session`` and a ``now``; the caller owns
the transaction. Errors are :mod:`central.auth.errors` with zh/en messages.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from central import audit
from central.auth.errors import AuthError, Throttled, UserError
from central.auth.models import ApiToken, AuthSession, User
from central.auth.passwords import hash_password, needs_rehash, verify_password
from central.auth.roles import Role
from central.auth.throttle import LoginThrottle
from edge.wire import ID_RE

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
SESSION_TTL = timedelta(hours=12)
"""A supervisor's shift, plus slack; after that, sign in again."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True, frozen=True)
class Principal:
    """Who is calling: a user (from a session) or a machine (from a token)."""

    name: str
    role: str
    kind: str = "user"  # "user" | "device" | "kiosk"
    user_id: int | None = None
    site: str | None = None
    device: str | None = None
    csrf_token: str | None = None
    language: str = "zh-CN"


# --------------------------------------------------------------------------- users


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise UserError(
            "用户名只能用字母、数字、. _ -(2-64 位) / username: 2-64 of letters, digits, . _ -"
        )
    return username


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UserError(
            f"未知角色 {role!r} / unknown role {role!r}: guard, supervisor, admin"
        ) from None


def create_user(
    db: Session,
    username: str,
    password: str,
    role: str,
    *,
    now: datetime,
    display_name: str = "",
    language: str = "zh-CN",
    by: str = "cli",
) -> User:
    check_username(username)
    role_value = check_role(role)
    if db.scalar(select(User).where(func.lower(User.username) == username.lower())):
        raise UserError(f"用户 {username} 已存在 / user {username} already exists")
    user = User(
        username=username,
        display_name=display_name[:100],
        role=role_value.value,
        password_hash=hash_password(password),
        active=True,
        language=language if language in ("zh-CN", "en") else "zh-CN",
        created_at=now,
        updated_at=now,
    )
    db.add(user)
    db.flush()
    audit.record(
        db,
        actor=by,
        action="user.create",
        target=username,
        detail={"role": role_value.value},
        at=now,
    )
    return user


def get_user(db: Session, username: str) -> User | None:
    return db.scalar(select(User).where(User.username == username))


def active_admins(db: Session) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN, User.active.is_(True))
        )
        or 0
    )


def update_user(
    db: Session,
    user: User,
    *,
    now: datetime,
    by: str,
    by_role: str = "",
    role: str | None = None,
    active: bool | None = None,
    password: str | None = None,
    display_name: str | None = None,
) -> User:
    """Change a user; refuses to remove or disable the last active admin."""
    changes: dict[str, object] = {}
    demoting = role is not None and Role(check_role(role)) != Role.ADMIN
    disabling = active is False
    if (
        user.role == Role.ADMIN
        and user.active
        and (demoting or disabling)
        and active_admins(db) <= 1
    ):
        raise UserError("不能移除最后一个管理员 / cannot demote or disable the last admin")
    if role is not None:
        user.role = check_role(role).value
        changes["role"] = user.role
    if active is not None:
        user.active = active
        changes["active"] = active
        if not active:
            db.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    if password is not None:
        user.password_hash = hash_password(password)
        changes["password"] = "changed"
        db.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
    if display_name is not None:
        user.display_name = display_name[:100]
        changes["display_name"] = user.display_name
    user.updated_at = now
    audit.record(
        db,
        actor=by,
        actor_role=by_role,
        action="user.update",
        target=user.username,
        detail=changes,
        at=now,
    )
    return user


# --------------------------------------------------------------------------- sign-in and sessions


def authenticate(
    db: Session,
    throttle: LoginThrottle,
    username: str,
    password: str,
    *,
    now: datetime,
    client: str = "",
) -> User:
    """Check credentials, throttled per account, per client address and per both.

    A client's failures delay that client (see :mod:`central.auth.throttle`):
    a stranger guessing a name never refuses its owner signing in from
    elsewhere. Failures and refusals are audited; the message never says
    whether the username exists.
    """
    keys = ((username or "")[:64], client)
    wait = throttle.retry_after(*keys)
    if wait:
        audit.record(
            db,
            actor=(username or "?")[:64],
            action="auth.login",
            outcome="throttled",
            client=client,
            at=now,
        )
        raise Throttled(wait)
    user = get_user(db, username) if isinstance(username, str) and len(username) <= 64 else None
    ok = verify_password(
        user.password_hash if user else None, password if isinstance(password, str) else ""
    )
    if not ok or user is None or not user.active:
        throttle.failure(*keys)
        audit.record(
            db,
            actor=(username or "?")[:64],
            action="auth.login",
            outcome="failed",
            client=client,
            at=now,
        )
        raise AuthError("用户名或密码错误 / wrong username or password")
    throttle.success(*keys)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    audit.record(
        db, actor=user.username, actor_role=user.role, action="auth.login", client=client, at=now
    )
    return user


def open_session(
    db: Session, user: User, *, now: datetime, client: str = ""
) -> tuple[str, AuthSession]:
    """Create a session; returns the cookie token (shown once) and the row."""
    token = secrets.token_urlsafe(32)
    row = AuthSession(
        id=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + SESSION_TTL,
        last_seen_at=now,
        client=client[:64],
    )
    db.add(row)
    db.execute(delete(AuthSession).where(AuthSession.expires_at < now))
    return token, row


def resolve_session(db: Session, token: str, *, now: datetime) -> Principal | None:
    """The principal behind a session cookie, or ``None`` if it is unknown, expired or disabled."""
    if not token or len(token) > 128:
        return None
    row = db.get(AuthSession, _digest(token))
    if row is None or row.expires_at <= now:
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if (now - row.last_seen_at).total_seconds() > 60:
        row.last_seen_at = now
    return Principal(
        name=user.username,
        role=user.role,
        user_id=user.id,
        csrf_token=row.csrf_token,
        language=user.language,
    )


def close_session(db: Session, token: str) -> None:
    if token:
        db.execute(delete(AuthSession).where(AuthSession.id == _digest(token)))


# --------------------------------------------------------------------------- machine tokens


def issue_token(db: Session, kind: str, site: str, device: str, *, now: datetime, by: str) -> str:
    """A new bearer token for a lane device or kiosk; returns the token (shown once)."""
    if kind not in ("device", "kiosk"):
        raise UserError(f"token kind must be device or kiosk, not {kind!r}")
    for value, what in ((site, "site"), (device, "device")):
        if not isinstance(value, str) or not ID_RE.match(value):
            raise UserError(f"invalid {what} id {value!r}")
    token = "gpt_" + secrets.token_urlsafe(32)
    db.add(
        ApiToken(
            token_hash=_digest(token),
            kind=kind,
            site=site,
            device=device,
            created_by=by,
            created_at=now,
        )
    )
    audit.record(db, actor=by, action="token.issue", target=f"{kind}:{site}/{device}", at=now)
    return token


def revoke_token(db: Session, site: str, device: str, *, now: datetime, by: str) -> int:
    rows = list(
        db.scalars(
            select(ApiToken).where(
                ApiToken.site == site, ApiToken.device == device, ApiToken.revoked_at.is_(None)
            )
        )
    )
    for row in rows:
        row.revoked_at = now
    audit.record(
        db,
        actor=by,
        action="token.revoke",
        target=f"{site}/{device}",
        detail={"count": len(rows)},
        at=now,
    )
    return len(rows)


def resolve_token(db: Session, token: str) -> Principal | None:
    if not token or len(token) > 128:
        return None
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(
        name=f"{row.kind}:{row.device}",
        role=row.kind,
        kind=row.kind,
        site=row.site,
        device=row.device,
    )

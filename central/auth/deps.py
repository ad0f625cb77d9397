"""FastAPI dependencies: the database session, who is calling, and what they may do.

A browser authenticates with the ``gp_session`` cookie and must echo the
session's CSRF token in ``X-CSRF-Token`` on every state-changing request; a
lane or kiosk authenticates with ``Authorization: Bearer gpt_…`` (no cookie,
so no CSRF). :func:`require` refuses a role too low for the action — and
audits the refusal — for the page and the API alike, since the page only
calls the API.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from typing import NoReturn

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from central import audit
from central.api.context import Ops
from central.auth.proxies import client_address
from central.auth.roles import Role, allows
from central.auth.service import Principal, resolve_session, resolve_token

log = logging.getLogger(__name__)

COOKIE = "gp_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_ops(request: Request) -> Ops:
    return request.app.state.ops


def get_db(ops: Ops = Depends(get_ops)) -> Iterator[Session]:
    """One session per request; committed by the endpoint, rolled back if it raised."""
    db = ops.sessions()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


def client_of(request: Request) -> str:
    """The caller's address: the socket's peer, or the client a trusted proxy names (:mod:`central.auth.proxies`)."""
    peer = request.client.host if request.client else ""
    ops = getattr(request.app.state, "ops", None)
    proxies = ops.trusted_proxies if ops is not None else ()
    return client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)[:64]


def _principal(request: Request, db: Session, ops: Ops) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return resolve_token(db, header[7:].strip())
    token = request.cookies.get(COOKIE, "")
    principal = resolve_session(db, token, now=ops.clock()) if token else None
    if principal is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, principal.csrf_token or ""):
            log.warning(
                "csrf token missing or wrong for %s %s by %s",
                request.method,
                request.url.path,
                principal.name,
            )
            raise HTTPException(
                403,
                "缺少或错误的 CSRF 令牌,请刷新页面 / missing or wrong CSRF token: reload the page",
            )
    if principal is not None:
        db.commit()  # last_seen_at
    return principal


def current_principal(
    request: Request, db: Session = Depends(get_db), ops: Ops = Depends(get_ops)
) -> Principal:
    principal = _principal(request, db, ops)
    if principal is None:
        raise HTTPException(
            401, "请先登录 / please sign in", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


def optional_principal(
    request: Request, db: Session = Depends(get_db), ops: Ops = Depends(get_ops)
) -> Principal | None:
    try:
        return _principal(request, db, ops)
    except HTTPException:
        return None


def require(need: Role, action: str = "") -> Callable[..., Principal]:
    """Dependency factory: the caller must be a *user* holding at least ``need``."""

    def dependency(
        request: Request,
        principal: Principal = Depends(current_principal),
        db: Session = Depends(get_db),
        ops: Ops = Depends(get_ops),
    ) -> Principal:
        if principal.kind != "user" or not allows(principal.role, need):
            _refuse(
                request,
                principal,
                db,
                ops,
                action,
                f"需要{_ROLE_ZH[need]}权限 / needs the {need.value} role",
            )
        return principal

    return dependency


def require_machine(
    request: Request,
    principal: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Principal:
    """Dependency: the caller must be a lane or kiosk with its own bearer token."""
    if principal.kind not in ("device", "kiosk") or not principal.site or not principal.device:
        _refuse(
            request,
            principal,
            db,
            ops,
            "machine",
            "只供设备令牌使用 / needs a device or kiosk token",
        )
    return principal


def _refuse(
    request: Request, principal: Principal, db: Session, ops: Ops, action: str, message: str
) -> NoReturn:
    """Audit the refusal, log it, and answer 403."""
    audit.record(
        db,
        actor=principal.name,
        actor_role=principal.role,
        action=action or f"{request.method} {request.url.path}"[:64],
        target=request.url.path[:200],
        outcome="denied",
        client=client_of(request),
        at=ops.clock(),
    )
    db.commit()
    log.warning(
        "%s (%s) refused %s %s", principal.name, principal.role, request.method, request.url.path
    )
    raise HTTPException(403, message)


_ROLE_ZH = {Role.GUARD: "岗亭", Role.SUPERVISOR: "主管", Role.ADMIN: "管理员"}

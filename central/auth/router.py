"""Sign-in, sign-out and "who am I" for the dashboard."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from central.api.context import Ops
from central.auth.deps import COOKIE, client_of, current_principal, get_db, get_ops
from central.auth.errors import AuthError, Throttled
from central.auth.proxies import is_trusted
from central.auth.service import SESSION_TTL, Principal, authenticate, close_session, open_session

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class Me(BaseModel):
    name: str
    role: str
    kind: str
    csrf_token: str | None
    language: Literal["zh-CN", "en"] | str


def _plain_http(request: Request, ops: Ops) -> bool:
    """The browser reached us without TLS: no HTTPS here and no trusted proxy in front."""
    peer = request.client.host if request.client else ""
    return request.url.scheme == "http" and not is_trusted(peer, ops.trusted_proxies)


def _same_origin(request: Request) -> bool:
    """Login CSRF guard: a browser always sends Origin on a POST; it must be us."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.post("/login", response_model=Me, responses={401: {}, 403: {}, 429: {}})
def login(
    body: LoginIn,
    request: Request,
    response: Response,
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Me:
    if not _same_origin(request):
        raise HTTPException(403, "跨站登录被拒绝 / cross-site sign-in refused")
    now = ops.clock()
    client = client_of(request)
    try:
        user = authenticate(db, ops.throttle, body.username, body.password, now=now, client=client)
    except Throttled as exc:
        db.commit()
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from exc
    except AuthError as exc:
        db.commit()
        raise HTTPException(401, str(exc)) from exc
    token, row = open_session(db, user, now=now, client=client)
    db.commit()
    if ops.cookie_secure and _plain_http(request, ops):
        log.warning(
            "%s signed in over plain http: the browser will not send the Secure session cookie back; "
            "serve central over HTTPS (a TLS proxy), or set GATEPOST_COOKIE_SECURE=false for a localhost demo",
            user.username,
        )
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=ops.cookie_secure,
        path="/",
    )
    return Me(
        name=user.username,
        role=user.role,
        kind="user",
        csrf_token=row.csrf_token,
        language=user.language,
    )


@router.post("/logout", status_code=204, responses={401: {}, 403: {}})
def logout(
    request: Request,
    response: Response,
    _: Principal = Depends(current_principal),
    db: Session = Depends(get_db),
) -> Response:
    close_session(db, request.cookies.get(COOKIE, ""))
    db.commit()
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/me", response_model=Me, responses={401: {}})
def me(principal: Principal = Depends(current_principal)) -> Me:
    return Me(
        name=principal.name,
        role=principal.role,
        kind=principal.kind,
        csrf_token=principal.csrf_token,
        language=principal.language,
    )

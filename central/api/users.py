"""User and machine-token management (admin only, audited). The first admin comes from ``gatepost central create-user``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.api.common import ERRORS, ts
from central.api.context import Ops
from central.auth.deps import get_db, get_ops, require
from central.auth.errors import UserError, WeakPassword
from central.auth.models import User
from central.auth.roles import Role
from central.auth.service import (
    Principal,
    create_user,
    get_user,
    issue_token,
    revoke_token,
    update_user,
)

router = APIRouter(prefix="/api/users", tags=["users"], responses=ERRORS)
tokens_router = APIRouter(prefix="/api/tokens", tags=["users"], responses=ERRORS)

AS_ADMIN_TOKEN_ISSUE = require(Role.ADMIN, "token.issue")
AS_ADMIN_TOKEN_REVOKE = require(Role.ADMIN, "token.revoke")
AS_ADMIN_USER_CREATE = require(Role.ADMIN, "user.create")
AS_ADMIN_USER_LIST = require(Role.ADMIN, "user.list")
AS_ADMIN_USER_UPDATE = require(Role.ADMIN, "user.update")

RoleName = Literal["guard", "supervisor", "admin"]


def user_dict(u: User) -> dict[str, Any]:
    return {
        "username": u.username,
        "display_name": u.display_name,
        "role": u.role,
        "active": u.active,
        "language": u.language,
        "created_at": ts(u.created_at),
        "last_login_at": ts(u.last_login_at),
    }


class UserList(BaseModel):
    items: list[dict[str, Any]]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
    password: str = Field(min_length=10, max_length=256)
    role: RoleName
    display_name: str = Field(default="", max_length=100)
    language: Literal["zh-CN", "en"] = "zh-CN"


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleName | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=10, max_length=256)
    display_name: str | None = Field(default=None, max_length=100)


@router.get("", response_model=UserList)
def list_users(
    _: Principal = Depends(AS_ADMIN_USER_LIST), db: Session = Depends(get_db)
) -> UserList:
    return UserList(items=[user_dict(u) for u in db.scalars(select(User).order_by(User.username))])


@router.post("", response_model=dict[str, Any], status_code=201, responses={409: {}})
def add_user(
    body: UserIn,
    principal: Principal = Depends(AS_ADMIN_USER_CREATE),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    try:
        user = create_user(
            db,
            body.username,
            body.password,
            body.role,
            now=ops.clock(),
            display_name=body.display_name,
            language=body.language,
            by=principal.name,
        )
    except WeakPassword as exc:
        raise HTTPException(422, str(exc)) from exc
    except UserError as exc:
        raise HTTPException(409, str(exc)) from exc
    db.commit()
    return user_dict(user)


@router.patch("/{username}", response_model=dict[str, Any], responses={404: {}, 409: {}})
def change_user(
    username: str,
    body: UserPatch,
    principal: Principal = Depends(AS_ADMIN_USER_UPDATE),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> dict[str, Any]:
    user = get_user(db, username[:64])
    if user is None:
        raise HTTPException(404, "用户不存在 / no such user")
    try:
        update_user(
            db,
            user,
            now=ops.clock(),
            by=principal.name,
            by_role=principal.role,
            role=body.role,
            active=body.active,
            password=body.password,
            display_name=body.display_name,
        )
    except WeakPassword as exc:
        raise HTTPException(422, str(exc)) from exc
    except UserError as exc:
        raise HTTPException(409, str(exc)) from exc
    db.commit()
    return user_dict(user)


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["device", "kiosk"]
    site: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")
    device: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")


class TokenOut(BaseModel):
    kind: str
    site: str
    device: str
    token: str
    """Shown once; only its hash is stored."""


class Revoked(BaseModel):
    revoked: int


@tokens_router.post("", response_model=TokenOut, status_code=201)
def issue(
    body: TokenIn,
    principal: Principal = Depends(AS_ADMIN_TOKEN_ISSUE),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> TokenOut:
    """A bearer token for a lane device or a lobby kiosk calling central's API."""
    token = issue_token(db, body.kind, body.site, body.device, now=ops.clock(), by=principal.name)
    db.commit()
    return TokenOut(kind=body.kind, site=body.site, device=body.device, token=token)


@tokens_router.delete("/{site}/{device}", response_model=Revoked)
def revoke(
    site: str,
    device: str,
    principal: Principal = Depends(AS_ADMIN_TOKEN_REVOKE),
    db: Session = Depends(get_db),
    ops: Ops = Depends(get_ops),
) -> Revoked:
    count = revoke_token(db, site[:48], device[:48], now=ops.clock(), by=principal.name)
    db.commit()
    return Revoked(revoked=count)

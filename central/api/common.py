"""Small helpers every router shares: time parameters, paging, ids, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Path, Query
from pydantic import AfterValidator, BaseModel, Field

from edge.wire import ID_RE, format_ts

T = TypeVar("T")

SiteId = Annotated[str, Field(pattern=ID_RE.pattern, max_length=48)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
"""A table row id in a path: bounded, so a huge number is a 422 and not a driver overflow."""

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def business_day(value: date) -> date:
    # Day 1 or 9999 overflows once combined with a site's zone; no record is that old or new.
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"日期超出范围 / date out of range ({FIRST_DAY}..{LAST_DAY})")
    return value


Day = Annotated[date, AfterValidator(business_day)]
"""A site-local calendar day the records can have (routes and bodies that take a day use this)."""


class Error(BaseModel):
    detail: Any


def json_error(description: str) -> dict[str, Any]:
    """An error response documented as JSON even on routes that answer HTML or CSV."""
    return {
        "description": description,
        "content": {"application/json": {"schema": Error.model_json_schema()}},
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    401: json_error("not signed in"),
    403: json_error("role too low, or CSRF token missing"),
    422: json_error("invalid request"),
}


def check_id(value: str, what: str) -> str:
    if not ID_RE.match(value):
        raise HTTPException(422, f"无效的{what}编号 / invalid {what} id {value[:60]!r}")
    return value


def utc(value: datetime | None) -> datetime | None:
    """Query times: a naive value is taken as UTC (the wire's zone)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts(value: datetime | None) -> str | None:
    return format_ts(value) if value is not None else None


class PageOf(BaseModel):
    """A page of results; ``next_offset`` is null on the last page."""

    items: list[dict[str, Any]]
    limit: int
    offset: int
    next_offset: int | None = None


def page(items: list[dict[str, Any]], limit: int, offset: int, fetched_extra: bool) -> PageOf:
    return PageOf(
        items=items,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if fetched_extra else None,
    )

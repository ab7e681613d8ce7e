"""Lists: page/page_size with next/previous, or an opaque keyset cursor for deep lists.

Ids are time-ordered, so `sort=created_at` is ordering by id; the cursor is the last id
seen, which keeps a deep page as cheap as the first one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from tortoise.queryset import QuerySet

from .context import Site
from .errors import BadInput
from .registry import Input
from .settings import Limits

_ID = re.compile(r"[0-9a-z]{26}")
_DEFAULTS = Limits()  # outside a site (OpenAPI, direct validation): the default limits

__all__ = ["ListInput", "PagedInput", "Page", "paginate", "encode_cursor", "decode_cursor"]


def _site(info: ValidationInfo) -> Site | None:
    """The instance whose limits apply: the registry passes it as the validation context."""
    context = info.context if isinstance(info.context, dict) else {}
    site = context.get("site")
    return site if isinstance(site, Site) else None


class PagedInput(Input):
    """page/page_size; the default and the largest page come from the site's limits settings."""

    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(
        _DEFAULTS.default_page_size,
        ge=1,
        le=1000,
        description="default limits.default_page_size, at most limits.max_page_size (settings)",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_page_size(cls, data: Any, info: ValidationInfo) -> Any:
        site = _site(info)
        if site is not None and isinstance(data, dict) and data.get("page_size") in (None, ""):
            data = {**data, "page_size": site.limits.default_page_size}
        return data

    @field_validator("page_size")
    @classmethod
    def _at_most_max_page_size(cls, value: int, info: ValidationInfo) -> int:
        site = _site(info)
        largest = site.limits.max_page_size if site is not None else _DEFAULTS.max_page_size
        if value > largest:
            raise ValueError(f"Input should be less than or equal to {largest} (this server's largest page)")
        return value


class ListInput(PagedInput):
    cursor: str | None = Field(None, max_length=200)
    sort: Literal["created_at", "-created_at"] = "-created_at"


@dataclass
class Page:
    items: list[Any]
    page: int
    page_size: int
    has_next: bool
    next_cursor: str | None
    sort: str
    using_cursor: bool

    def map(self, render: Callable[[Any], Any]) -> Page:
        """The same page with each row rendered (rows -> JSON-ready dicts)."""
        self.items = [render(item) for item in self.items]
        return self


def encode_cursor(last_id: str, sort: str) -> str:
    return base64.urlsafe_b64encode(f"{sort}|{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, last_id = base64.urlsafe_b64decode(padded).decode().split("|", 1)
    except (ValueError, UnicodeDecodeError):
        raise BadInput("cursor is not one this server issued", code="invalid-cursor") from None
    if cursor_sort != sort or not _ID.fullmatch(last_id):
        raise BadInput("cursor does not match this list's sort order", code="invalid-cursor")
    return last_id


async def paginate(query: QuerySet[Any], params: ListInput) -> Page:
    """Fetch one page plus one row to learn whether another page follows."""
    descending = params.sort.startswith("-")
    if params.cursor:
        last_id = decode_cursor(params.cursor, params.sort)
        query = query.filter(id__lt=last_id) if descending else query.filter(id__gt=last_id)
        offset = 0
    else:
        offset = (params.page - 1) * params.page_size
    rows = await query.order_by("-id" if descending else "id").offset(offset).limit(params.page_size + 1)
    has_next = len(rows) > params.page_size
    rows = rows[: params.page_size]
    next_cursor = encode_cursor(rows[-1].id, params.sort) if has_next and rows else None
    return Page(
        items=rows,
        page=params.page,
        page_size=params.page_size,
        has_next=has_next,
        next_cursor=next_cursor,
        sort=params.sort,
        using_cursor=bool(params.cursor),
    )

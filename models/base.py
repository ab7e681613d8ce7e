"""Shared columns: opaque time-ordered id, created/updated times (UTC)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypeVar, cast

from tortoise import fields
from tortoise.models import Model
from tortoise.queryset import ValuesListQuery

from .ids import new_id

__all__ = ["Entity", "column", "iso", "APP"]

_T = TypeVar("_T")

APP = "tallystick"


class Entity(Model):
    id = fields.CharField(max_length=26, primary_key=True, default=new_id)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, as the API conventions ask."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


async def column(query: ValuesListQuery[Any], kind: type[_T]) -> list[_T]:
    """The values of the one column a `values_list(name, flat=True)` query selects.

    tortoise types every values_list result as tuples; with flat=True it is the bare values.
    """
    return cast(list[_T], await query)

"""Shared columns: opaque time-ordered id, created/updated times (UTC)."""

from __future__ import annotations

from datetime import datetime, timezone

from tortoise import fields
from tortoise.models import Model

from .ids import new_id

__all__ = ["Entity", "iso", "APP"]

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

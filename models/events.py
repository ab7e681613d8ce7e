"""The transactional outbox: domain events written in the same transaction as the change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity

if TYPE_CHECKING:  # relation annotations only (the models refer to each other by name)
    from .actors import Actor

__all__ = ["Event"]


class Event(Entity):
    name = fields.CharField(max_length=64)  # e.g. "ledger.give", "token.updated"
    actor_id: str | None
    actor: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    object_type = fields.CharField(max_length=32)
    object_id = fields.CharField(max_length=64)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        app = APP
        table = "events"
        indexes = (("object_type", "object_id"),)

"""Token sets: a named, owned collection of tokens with a parent set and linked sets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity

if TYPE_CHECKING:  # relation annotations only (the models refer to each other by name)
    from .actors import Actor
    from .tokens import Token

__all__ = ["TokenSet", "SetMember", "SetLink"]


class TokenSet(Entity):
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="sets", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    parent_id: str | None
    parent: fields.ForeignKeyNullableRelation[TokenSet] = fields.ForeignKeyField(
        f"{APP}.TokenSet", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    version = fields.IntField(default=1)
    is_deleted = fields.BooleanField(default=False)

    class Meta:
        app = APP
        table = "token_sets"
        unique_together = (("owner", "name"),)


class SetMember(Entity):
    set_id: str
    set: fields.ForeignKeyRelation[TokenSet] = fields.ForeignKeyField(
        f"{APP}.TokenSet", related_name="members", on_delete=fields.CASCADE
    )
    token_id: str
    token: fields.ForeignKeyRelation[Token] = fields.ForeignKeyField(
        f"{APP}.Token", related_name="memberships", on_delete=fields.CASCADE
    )
    added_by_id: str
    added_by: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="set_additions", on_delete=fields.RESTRICT
    )

    class Meta:
        app = APP
        table = "set_members"
        unique_together = (("set", "token"),)


class SetLink(Entity):
    set_id: str
    set: fields.ForeignKeyRelation[TokenSet] = fields.ForeignKeyField(
        f"{APP}.TokenSet", related_name="links", on_delete=fields.CASCADE
    )
    linked_id: str
    linked: fields.ForeignKeyRelation[TokenSet] = fields.ForeignKeyField(
        f"{APP}.TokenSet", related_name="linked_from", on_delete=fields.CASCADE
    )

    class Meta:
        app = APP
        table = "set_links"
        unique_together = (("set", "linked"),)

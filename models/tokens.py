"""Token types, tokens and media uploads (tables only; rules live in operations)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity
from .commitments import SEED_KEY, new_salt

if TYPE_CHECKING:  # relation annotations only (the models refer to each other by name)
    from .actors import Actor
    from .contracts import Contract

__all__ = ["TokenType", "TypeParent", "RemoteTypeParent", "Token", "Media", "new_salts"]


def new_salts() -> dict[str, str]:
    """A new token's salt seed (models/commitments.py); per-attribute salts are added beside it."""
    return {SEED_KEY: new_salt()}


class TokenType(Entity):
    parent_links: fields.ReverseRelation[TypeParent]  # the links to its parents (TypeParent.child)
    remote_parent_links: fields.ReverseRelation[RemoteTypeParent]  # its parents on other servers
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="token_types", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    symbol = fields.CharField(max_length=32)
    description = fields.TextField(default="")
    fungible = fields.BooleanField(default=True)
    smallest_unit = fields.SmallIntField(default=0)  # decimal places
    supply_limit = fields.BigIntField(null=True)  # minor units
    minted = fields.BigIntField(default=0)  # minor units ever created; checked against the limit
    attributes: fields.JSONField[Any] = fields.JSONField(default=list)  # list of attribute definitions
    version = fields.IntField(default=1)
    is_deleted = fields.BooleanField(default=False)
    # who may use it as a parent (models/contracts.py Licensing): open, contract or closed
    licensing = fields.CharField(max_length=10, default="contract", db_default="contract")

    class Meta:
        app = APP
        table = "token_types"


class TypeParent(Entity):
    child_id: str
    child: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="parent_links", on_delete=fields.CASCADE
    )
    parent_id: str
    parent: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="child_links", on_delete=fields.RESTRICT
    )
    position = fields.SmallIntField(default=0)
    # on what basis the child names the parent (models/contracts.py LinkBasis): own, open, contract, grandfathered
    basis = fields.CharField(max_length=16, default="own", db_default="own")
    contract_id: str | None
    contract: fields.ForeignKeyNullableRelation[Contract] = fields.ForeignKeyField(
        f"{APP}.Contract", related_name="links", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        app = APP
        table = "type_parents"
        unique_together = (("child", "parent"),)


class RemoteTypeParent(Entity):
    """A parent that lives on another server (its URL), used under a contract held there (its
    URL): the type's document names both, so whoever checks a copy can ask that server."""

    child_id: str
    child: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="remote_parent_links", on_delete=fields.CASCADE
    )
    parent_uri = fields.CharField(max_length=2048)
    contract_uri = fields.CharField(max_length=2048)
    position = fields.SmallIntField(default=0)  # among all the type's parents, local and remote

    class Meta:
        app = APP
        table = "remote_type_parents"
        indexes = (("child_id",),)


class Token(Entity):
    type_id: str
    type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="tokens", on_delete=fields.RESTRICT
    )
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="tokens", on_delete=fields.RESTRICT
    )
    parent_id: str | None
    parent: fields.ForeignKeyNullableRelation[Token] = fields.ForeignKeyField(
        f"{APP}.Token", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    attributes: fields.JSONField[Any] = fields.JSONField(default=dict)  # own values only; the rest is inherited
    shareable = fields.BooleanField(default=False)  # may be put in other owners' sets
    version = fields.IntField(default=1)
    content_hash = fields.CharField(max_length=71, default="")
    # secret salts of the commitments to private values; never in a view or document
    salts: fields.JSONField[dict[str, str]] = fields.JSONField(default=new_salts, db_default="{}")
    is_deleted = fields.BooleanField(default=False)

    class Meta:
        app = APP
        table = "tokens"


class Media(Entity):
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="media", on_delete=fields.RESTRICT
    )
    token_id: str | None
    token: fields.ForeignKeyNullableRelation[Token] = fields.ForeignKeyField(
        f"{APP}.Token", related_name="media", null=True, on_delete=fields.SET_NULL
    )
    attribute = fields.CharField(max_length=100)
    content_type = fields.CharField(max_length=100)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)

    class Meta:
        app = APP
        table = "media"

"""Moderation (issue 19, item 6): moderator assignments, the feed of attribute changes, the audit log.

An assignment gives a local user dominion over a token type and its descendant types (TypeParent
links, child to parent), or over a set's tokens; over all attributes or named ones; to see them
only, or to edit them as well. It is set up by an admin or by the owner of the type or set
(company moderators), and revoked by either.

The feed is a table of attribute changes (`AttributeChange`) written in the same transaction as
the token update (models/operations/tokens.py apply_token_update), not read back from events:
`token.updated` names the changed fields but not their values before and after, and the values
are what a moderator reviews.

`ModerationAction` is the audit log: a moderator's edit or an admin's change of ownership, who,
when, before and after, why. The owner of the thing sees it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor
    from .sets import TokenSet
    from .tokens import Token, TokenType

__all__ = ["ActionKind", "AttributeChange", "ModerationAction", "ModeratorAssignment"]


class ActionKind(StrEnum):
    EDIT = "edit"  # a moderator changed a token's values
    OWNER = "owner"  # an admin changed who owns a token, type or set


class ModeratorAssignment(Entity):
    """A moderator's dominion: a type (and its descendants) or a set, attributes, see or edit."""

    moderator_id: str
    moderator: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="moderations", on_delete=fields.CASCADE
    )
    type_id: str | None
    type: fields.ForeignKeyNullableRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="moderator_assignments", null=True, on_delete=fields.CASCADE
    )
    set_id: str | None
    set: fields.ForeignKeyNullableRelation[TokenSet] = fields.ForeignKeyField(
        f"{APP}.TokenSet", related_name="moderator_assignments", null=True, on_delete=fields.CASCADE
    )
    attributes: fields.JSONField[list[str]] = fields.JSONField(default=list)  # empty: every attribute
    can_edit = fields.BooleanField(default=False)
    set_up_by_id: str | None
    set_up_by: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="moderations_set_up", null=True, on_delete=fields.SET_NULL
    )
    by_admin = fields.BooleanField(default=False)  # set up in the admin's role, not as the owner
    revoked_at = fields.DatetimeField(null=True)
    revoked_by_id: str | None
    revoked_by: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="moderations_revoked", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        app = APP
        table = "moderator_assignments"
        indexes = (("moderator_id", "revoked_at"), ("set_up_by_id",))

    def covers(self, name: str) -> bool:
        return not self.attributes or name in self.attributes


class AttributeChange(Entity):
    """One token update's changed values, before and after: a row of moderators' feeds."""

    token_id: str
    token: fields.ForeignKeyRelation[Token] = fields.ForeignKeyField(
        f"{APP}.Token", related_name="attribute_changes", on_delete=fields.CASCADE
    )
    type_id: str
    type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="attribute_changes", on_delete=fields.CASCADE
    )
    changed_by_id: str | None
    changed_by: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="attribute_changes", null=True, on_delete=fields.SET_NULL
    )
    version = fields.IntField()  # the token's version after the change
    # {name: [before, after]} (effective values)
    values: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        app = APP
        table = "attribute_changes"
        indexes = (("type_id", "id"), ("token_id", "id"))


class ModerationAction(Entity):
    """The audit log: who did what to whose thing, when, the values before and after, and why."""

    actor_id: str | None
    actor: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="moderation_actions", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharField(max_length=8)  # ActionKind
    object_type = fields.CharField(max_length=8)  # token, type, set
    object_id = fields.CharField(max_length=64)
    owner_id: str | None  # the owner of the thing (before an ownership change)
    owner: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="moderation_actions_on", null=True, on_delete=fields.SET_NULL
    )
    new_owner_id: str | None
    new_owner: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="moderation_actions_to", null=True, on_delete=fields.SET_NULL
    )
    assignment_id: str | None
    assignment: fields.ForeignKeyNullableRelation[ModeratorAssignment] = fields.ForeignKeyField(
        f"{APP}.ModeratorAssignment", related_name="actions", null=True, on_delete=fields.SET_NULL
    )
    reason = fields.CharField(max_length=500)
    before: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    after: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        app = APP
        table = "moderation_actions"
        indexes = (("owner_id", "id"), ("new_owner_id", "id"), ("actor_id", "id"), ("object_type", "object_id"))

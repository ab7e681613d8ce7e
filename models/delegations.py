"""Delegations: a user's consent that another local user may act for them (`X-On-Behalf-Of`).

A delegation names who grants it, who may act, the scopes it covers (the OAuth scope names
`read` and `write`, so an operation needs the scope an app's token would need for it), an
optional expiry, and when it was revoked. Rows are kept after revocation or expiry so both
users can still see what was allowed and when it ended.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity

if TYPE_CHECKING:  # relation annotations only (the models refer to each other by name)
    from .actors import User

__all__ = ["DELEGATION_SCOPES", "Delegation", "DelegationState"]

# A delegation lends a user's own rights, never admin ones (an admin acts for anyone anyway).
DELEGATION_SCOPES = ("read", "write")


class DelegationState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Delegation(Entity):
    """A user lets another local user act for them, within scopes, until revoked or expired."""

    grantor_id: str
    grantor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="delegations_given", on_delete=fields.CASCADE
    )
    delegate_id: str
    delegate: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="delegations_received", on_delete=fields.CASCADE
    )
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    expires_at = fields.DatetimeField(null=True)  # null: until revoked
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "delegations"
        indexes = (("delegate_id", "grantor_id"),)

    def state(self, now: datetime | None = None) -> DelegationState:
        if self.revoked_at is not None:
            return DelegationState.REVOKED
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(timezone.utc)):
            return DelegationState.EXPIRED
        return DelegationState.ACTIVE

"""Agents: grants that let an outside program report token changes, and the reports it made."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity

if TYPE_CHECKING:  # relation annotations only (the models refer to each other by name)
    from .actors import Actor
    from .sets import TokenSet
    from .tokens import Token

__all__ = ["AgentGrant", "AgentReport", "ReportState", "SentReport", "SentState"]


class ReportState(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"


class AgentGrant(Entity):
    """An owner lets an agent actor report changes to one token or to the tokens of one set"""

    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="agent_grants_given", on_delete=fields.CASCADE
    )
    agent_id: str
    agent: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="agent_grants", on_delete=fields.CASCADE
    )
    token_id: str | None
    token: fields.ForeignKeyNullableRelation[Token] = fields.ForeignKeyField(
        f"{APP}.Token", related_name="agent_grants", null=True, on_delete=fields.CASCADE
    )
    set_id: str | None
    set: fields.ForeignKeyNullableRelation[TokenSet] = fields.ForeignKeyField(
        f"{APP}.TokenSet", related_name="agent_grants", null=True, on_delete=fields.CASCADE
    )
    attributes: fields.JSONField[Any] = fields.JSONField(default=list)  # empty: every attribute
    needs_approval = fields.BooleanField(default=False)

    class Meta:
        app = APP
        table = "agent_grants"
        indexes = (("agent_id", "token_id"), ("agent_id", "set_id"))


class AgentReport(Entity):
    """An off-server change an agent reported, applied at once or held for the owner"""

    grant_id: str | None
    grant: fields.ForeignKeyNullableRelation[AgentGrant] = fields.ForeignKeyField(
        f"{APP}.AgentGrant", related_name="reports", null=True, on_delete=fields.SET_NULL
    )
    agent_id: str
    agent: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="agent_reports", on_delete=fields.CASCADE
    )
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="agent_reports_received", on_delete=fields.CASCADE
    )
    token_id: str
    token: fields.ForeignKeyRelation[Token] = fields.ForeignKeyField(
        f"{APP}.Token", related_name="agent_reports", on_delete=fields.CASCADE
    )
    attributes: fields.JSONField[Any] = fields.JSONField(default=dict)
    base_version = fields.IntField()
    applied_version = fields.IntField(null=True)
    note = fields.TextField(default="")
    state = fields.CharField(max_length=16, default=ReportState.PENDING.value)
    decided_at = fields.DatetimeField(null=True)
    activity_uri = fields.CharField(max_length=2048, null=True)  # a remote agent's Update, answered when decided

    class Meta:
        app = APP
        table = "agent_reports"
        indexes = (("owner_id", "state"), ("agent_id", "state"))


class SentState(StrEnum):
    SENT = "sent"
    APPLIED = "applied"
    REJECTED = "rejected"
    REFUSED = "refused"  # the owner's server turned the delivery away (a 4xx: no grant, say)
    UNDELIVERABLE = "undeliverable"  # it never answered within the delivery's tries


class SentReport(Entity):
    """A report one of our agents sent to the server of a remote token, and that server's answer"""

    agent_id: str
    agent: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="sent_reports", on_delete=fields.CASCADE
    )
    token_uri = fields.CharField(max_length=2048)
    owner_uri = fields.CharField(max_length=2048)
    activity_uri = fields.CharField(max_length=2048, unique=True)
    attributes: fields.JSONField[Any] = fields.JSONField(default=dict)
    base_version = fields.IntField(null=True)
    note = fields.TextField(default="")
    state = fields.CharField(max_length=16, default=SentState.SENT.value)
    detail = fields.TextField(default="")
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        app = APP
        table = "agent_sent_reports"
        indexes = (("agent_id", "state"),)

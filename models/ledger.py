"""Ledger tables: every create/give/burn is an entry; gives and burns consume sources.

An entry with a recipient is an output; `remaining` is its unspent part. Spending is a
conditional decrement (`remaining >= x`), so two spends of the same units cannot both win.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity

if TYPE_CHECKING:  # relation annotations only (the models refer to each other by name)
    from .actors import Actor
    from .tokens import Token, TokenType

__all__ = ["EntryKind", "LedgerEntry", "LedgerFlag", "LedgerRequest", "LedgerSource"]


class EntryKind(StrEnum):
    CREATE = "create"
    GIVE = "give"
    BURN = "burn"


class LedgerEntry(Entity):
    kind = fields.CharField(max_length=8)
    type_id: str
    type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="entries", on_delete=fields.RESTRICT
    )
    token_id: str | None
    token: fields.ForeignKeyNullableRelation[Token] = fields.ForeignKeyField(
        f"{APP}.Token", related_name="entries", null=True, on_delete=fields.RESTRICT
    )
    author_id: str
    author: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="authored_entries", on_delete=fields.RESTRICT
    )
    recipient_id: str | None
    recipient: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="received_entries", null=True, on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField()  # minor units
    remaining = fields.BigIntField(default=0)  # unspent minor units of this output
    description = fields.TextField(default="")
    # the distinct labels of its LedgerFlag rows, sorted (what views list)
    flags: fields.JSONField[list[str]] = fields.JSONField(default=list)

    class Meta:
        app = APP
        table = "ledger_entries"
        indexes = (("recipient_id", "type_id", "remaining"), ("token_id",))


class LedgerSource(Entity):
    entry_id: str
    entry: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        f"{APP}.LedgerEntry", related_name="sources", on_delete=fields.CASCADE
    )
    source_id: str
    source: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        f"{APP}.LedgerEntry", related_name="spent_by", on_delete=fields.RESTRICT
    )
    amount = fields.BigIntField()

    class Meta:
        app = APP
        table = "ledger_sources"
        indexes = (("entry_id",), ("source_id",))


class LedgerFlag(Entity):
    """One label set on an entry by one actor: each party owns the flags they set."""

    entry_id: str
    entry: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        f"{APP}.LedgerEntry", related_name="flag_rows", on_delete=fields.CASCADE
    )
    label = fields.CharField(max_length=50)
    # None: set before flags were attributed (migration 0005); either party of the entry, who
    # alone could set flags then, or a moderator may remove it.
    author_id: str | None
    author: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="ledger_flags", on_delete=fields.RESTRICT, null=True
    )

    class Meta:
        app = APP
        table = "ledger_flags"
        unique_together = (("entry", "label", "author"),)


class LedgerRequest(Entity):
    """A remote holder's signed request this origin carried out, by the request's id: a repeat
    (the holder's server retrying after a lost answer) gets the same entry, and nothing moves."""

    request_uri = fields.CharField(max_length=2048, unique=True)
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="ledger_requests", on_delete=fields.CASCADE
    )
    entry_id: str
    entry: fields.ForeignKeyRelation[LedgerEntry] = fields.ForeignKeyField(
        f"{APP}.LedgerEntry", related_name="requests", on_delete=fields.CASCADE
    )

    class Meta:
        app = APP
        table = "ledger_requests"

"""Distribution tables (issue 21, item 5): units allocated to people who are not users yet.

A **distribution** gives `amount` of a fungible type to every entry of a network (or
subnetwork). Creating it holds the whole quantity (amount x the network's entries then) in the
distribution's own escrow actor (kind "escrow", no user, as a market lot's) by one ordinary
ledger give; its run (the machine distributions.runs) then writes one **allocation** per entry,
chunk by chunk, counting its progress. Each allocation waits for its external identity (the
entry's actor URL): `claim_for_identity` (models/distributions.py) gives it to the user who
proved that identity, and the machine distributions.expiries gives it back to the distributor
at the distribution's `expires_at`. Every movement is a ledger entry naming the distribution.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity
from .engine import Durable

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor
    from .networks import Network
    from .tokens import TokenType

__all__ = [
    "Allocation", "AllocationState", "Distribution", "RunState", "distribution_escrow_username",
]

_ESCROW_PREFIX = "escrow.distribution."


def distribution_escrow_username(distribution_id: str) -> str:
    """The escrow's username: dots, which no user's name may have, and the distribution's id."""
    return f"{_ESCROW_PREFIX}{distribution_id}"


class RunState(StrEnum):
    PENDING = "pending"  # allocations still to write
    RUNNING = "running"
    ALLOCATED = "allocated"  # every allocation written; they wait for claims or the expiry
    FAILED = "failed"


class Distribution(Durable, Entity):
    """A distribution and its run (the machine distributions.runs): state, progress, note."""

    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="distributions", on_delete=fields.RESTRICT
    )
    network_id: str
    network: fields.ForeignKeyRelation[Network] = fields.ForeignKeyField(
        f"{APP}.Network", related_name="distributions", on_delete=fields.RESTRICT
    )
    escrow_id: str
    escrow: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="escrow_distributions", on_delete=fields.RESTRICT
    )
    type_id: str
    type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="distributions", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    amount = fields.BigIntField()  # minor units per entry
    entries = fields.IntField()  # the network's entries when it was made: what was held
    entry_cursor = fields.CharField(max_length=26, default="")  # the last network entry allocated
    max_entry_id = fields.CharField(max_length=26)  # entries added later are not part of it
    allocated = fields.IntField(default=0)
    claimed = fields.IntField(default=0)
    expired = fields.IntField(default=0)
    hold_id = fields.CharField(max_length=26)  # the give of everything into the escrow
    expires_at = fields.DatetimeField()
    note = fields.CharField(max_length=500, null=True)

    class Meta:
        app = APP
        table = "distributions"
        indexes = (("owner_id",), ("state", "next_at"), ("network_id",))


class AllocationState(StrEnum):
    HELD = "held"  # in the escrow, waiting for its identity until the expiry (next_at)
    CLAIMED = "claimed"  # given to the user who proved the identity
    EXPIRED = "expired"  # given back to the distributor
    FAILED = "failed"  # the expiry kept failing (last_error); still held


class Allocation(Durable, Entity):
    """What one external identity (an actor URL) is owed by a distribution: a distributions.expiries row."""

    distribution_id: str
    distribution: fields.ForeignKeyRelation[Distribution] = fields.ForeignKeyField(
        f"{APP}.Distribution", related_name="allocations", on_delete=fields.RESTRICT
    )
    actor_url = fields.CharField(max_length=2048)
    handle = fields.CharField(max_length=300, default="")
    entry_token_id = fields.CharField(max_length=26)
    amount = fields.BigIntField()
    claimed_by_id = fields.CharField(max_length=26, null=True)  # the local actor it went to
    entry_id = fields.CharField(max_length=26, null=True)  # the ledger give that claimed or expired it

    class Meta:
        app = APP
        table = "distribution_allocations"
        unique_together = (("distribution", "actor_url"),)
        indexes = (("actor_url", "state"), ("state", "next_at"))

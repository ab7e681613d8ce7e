"""Contracts (issue 18): licensed use of another owner's type as a parent.

A type's owner sets its `licensing` policy (models/tokens.py): `open` (anyone may derive),
`contract` (only holders of a contract; the default for new types) or `closed`. Under
`contract` the owner publishes offers; a user who accepts one holds a contract. Every parent
link (TypeParent) records on what basis it was made (`LinkBasis`); links made before contracts
existed are `grandfathered` and keep working.

A contract's life is a small declared graph (`MOVES`, checked at import): active ->
in_arrears -> suspended -> ended, and cancelled. Its clock runs on the engine: each thing due
on a contract (a payment, the end of a grace period, the end of a notice, the expiry) is a row
of the CONTRACT_STEPS machine (models/machines.py), due at its time. The engine claims rows of
one ready state, so the steps, not the contract, are the machine's rows; a step's handler moves
the contract along MOVES. The steps are also the contract's payment timeline.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields

from .base import APP, Entity
from .engine import Durable

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor, UserGroup
    from .ledger import LedgerEntry
    from .tokens import TokenType

__all__ = [
    "CancelBy", "Contract", "ContractChange", "ContractOffer", "ContractState", "ContractStep", "LinkBasis",
    "Licensing", "MINTING", "MOVES", "OfferGroup", "OfferState", "OfferTaker", "RemoteContract", "StepKind", "StepState",
    "Takers",
]


class Licensing(StrEnum):
    """Who may use a type as a parent."""

    OPEN = "open"  # anyone
    CONTRACT = "contract"  # holders of an active contract (the default for new types)
    CLOSED = "closed"  # its owner only


class LinkBasis(StrEnum):
    """On what basis a type names a parent (TypeParent.basis)."""

    OWN = "own"  # both types have the same owner
    OPEN = "open"  # the parent was open when the link was made
    CONTRACT = "contract"  # under a contract (TypeParent.contract_id)
    GRANDFATHERED = "grandfathered"  # made before licensing existed (migration 0017): kept working


class Takers(StrEnum):
    ANYONE = "anyone"
    LISTED = "listed"  # the users the offer lists, and the members of the groups it lists


class CancelBy(StrEnum):
    LICENSEE = "licensee"
    LICENSOR = "licensor"
    EITHER = "either"


class OfferState(StrEnum):
    OPEN = "open"
    WITHDRAWN = "withdrawn"  # no new contracts; existing ones go on


class ContractState(StrEnum):
    ACTIVE = "active"
    IN_ARREARS = "in_arrears"  # a payment failed; minting goes on until the grace period ends
    SUSPENDED = "suspended"  # arrears past the grace period: minting derived types is refused
    ENDED = "ended"  # expired, or ended by an admin
    CANCELLED = "cancelled"  # a party cancelled and the notice period passed


# The contract's declared life: a move not listed here is a bug (refused by `check_move`).
MOVES: dict[str, frozenset[str]] = {
    ContractState.ACTIVE: frozenset({ContractState.IN_ARREARS, ContractState.ENDED, ContractState.CANCELLED}),
    ContractState.IN_ARREARS: frozenset({
        ContractState.ACTIVE, ContractState.SUSPENDED, ContractState.ENDED, ContractState.CANCELLED,
    }),
    ContractState.SUSPENDED: frozenset({ContractState.ACTIVE, ContractState.ENDED, ContractState.CANCELLED}),
    ContractState.ENDED: frozenset(),
    ContractState.CANCELLED: frozenset(),
}
LIVE = frozenset({ContractState.ACTIVE.value, ContractState.IN_ARREARS.value, ContractState.SUSPENDED.value})
MINTING = frozenset({ContractState.ACTIVE.value, ContractState.IN_ARREARS.value})  # may derive and mint


def _check_moves() -> None:
    states = {state.value for state in ContractState}
    for source, targets in MOVES.items():
        if source not in states or not targets <= states:
            raise RuntimeError(f"contract moves name an unknown state: {source} -> {sorted(targets)}")


_check_moves()


class _Terms(Entity):
    """The terms an offer publishes and a contract copies (an admin may change a contract's).

    Money is in minor units of `payment_type` (a fungible type of this server)."""

    payment_type_id: str | None
    price_per_type = fields.BigIntField(default=0)  # owed when a derived type is made
    rate_per_unit = fields.BigIntField(default=0)  # owed per whole unit minted of derived types
    fee = fields.BigIntField(default=0)  # taken every period
    period_seconds = fields.IntField()  # payments fall due every period; the unit limit counts per period
    max_types = fields.IntField(null=True)  # derived types the contract covers
    max_units_per_period = fields.BigIntField(null=True)  # whole units of derived types minted per period
    expires_at = fields.DatetimeField(null=True)  # contracts end then
    notice_seconds = fields.IntField(default=0)  # a cancellation takes effect this long after it is given
    cancel_by = fields.CharField(max_length=10, default=CancelBy.LICENSEE.value)
    penalty = fields.BigIntField(default=0)  # added to the arrears for each missed payment
    grace_seconds = fields.IntField(default=0)  # in arrears this long, then suspended

    class Meta:
        abstract = True


class ContractOffer(_Terms):
    type_id: str
    type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="contract_offers", on_delete=fields.RESTRICT
    )
    licensor_id: str
    licensor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="contract_offers", on_delete=fields.RESTRICT
    )
    payment_type: fields.ForeignKeyNullableRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="offers_paid_in", null=True, on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=200, default="")
    takers = fields.CharField(max_length=10, default=Takers.ANYONE.value)
    state = fields.CharField(max_length=12, default=OfferState.OPEN.value)

    class Meta:
        app = APP
        table = "contract_offers"
        indexes = (("type_id", "state"),)


class OfferTaker(Entity):
    """One user a `listed` offer is made to."""

    offer_id: str
    offer: fields.ForeignKeyRelation[ContractOffer] = fields.ForeignKeyField(
        f"{APP}.ContractOffer", related_name="taker_rows", on_delete=fields.CASCADE
    )
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="contract_offers_to", on_delete=fields.CASCADE
    )

    class Meta:
        app = APP
        table = "contract_offer_takers"
        unique_together = (("offer", "actor"),)
        indexes = (("actor_id",),)


class OfferGroup(Entity):
    """One group a `listed` offer is made to: whoever is in it when they accept (its owner too)."""

    offer_id: str
    offer: fields.ForeignKeyRelation[ContractOffer] = fields.ForeignKeyField(
        f"{APP}.ContractOffer", related_name="group_rows", on_delete=fields.CASCADE
    )
    group_id: str
    group: fields.ForeignKeyRelation[UserGroup] = fields.ForeignKeyField(
        f"{APP}.UserGroup", related_name="contract_offers_to", on_delete=fields.CASCADE
    )

    class Meta:
        app = APP
        table = "contract_offer_groups"
        unique_together = (("offer", "group"),)
        indexes = (("group_id",),)


class Contract(_Terms):
    offer_id: str
    offer: fields.ForeignKeyRelation[ContractOffer] = fields.ForeignKeyField(
        f"{APP}.ContractOffer", related_name="contracts", on_delete=fields.RESTRICT
    )
    type_id: str
    type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="contracts", on_delete=fields.RESTRICT
    )
    licensor_id: str
    licensor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="contracts_granted", on_delete=fields.RESTRICT
    )
    licensee_id: str
    licensee: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="contracts_held", on_delete=fields.RESTRICT
    )
    payment_type: fields.ForeignKeyNullableRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="contracts_paid_in", null=True, on_delete=fields.RESTRICT
    )
    state = fields.CharField(max_length=12, default=ContractState.ACTIVE.value)
    started_at = fields.DatetimeField()
    owed = fields.BigIntField(default=0)  # rates and type prices accrued since the last payment
    arrears = fields.BigIntField(default=0)  # missed payments and their penalties
    paid = fields.BigIntField(default=0)  # everything paid so far
    period_index = fields.IntField(default=0)  # periods whose payment fell due (each resets period_units)
    period_units = fields.DecimalField(max_digits=40, decimal_places=18, default=0)
    derived_types = fields.IntField(default=0)
    cancel_at = fields.DatetimeField(null=True)  # a cancellation given takes effect then
    cancelled_by_id: str | None
    cancelled_by: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="contracts_cancelled", null=True, on_delete=fields.SET_NULL
    )
    ended_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)  # bumped first by every change: the row's lock
    # a licensee of another server accepted by this signed request (its id): a repeat answers this contract
    request_uri = fields.CharField(max_length=2048, null=True)

    class Meta:
        app = APP
        table = "contracts"
        indexes = (("licensee_id", "state"), ("licensor_id", "state"), ("type_id", "licensee_id"))


class StepKind(StrEnum):
    PAYMENT = "payment"  # the period's fee and what is owed (and arrears) are taken
    GRACE_END = "grace_end"  # still in arrears: suspended
    NOTICE_END = "notice_end"  # a cancellation takes effect
    EXPIRY = "expiry"  # the contract's term ends


class StepState(StrEnum):
    PENDING = "pending"  # due at next_at (due_at)
    DONE = "done"  # ran (outcome says what it did), or was skipped because the contract ended
    FAILED = "failed"  # kept failing (last_error)


class ContractStep(Durable, Entity):
    """One thing due on a contract at `due_at`: a row of the CONTRACT_STEPS machine."""

    contract_id: str
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        f"{APP}.Contract", related_name="steps", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=12)
    due_at = fields.DatetimeField()
    outcome = fields.CharField(max_length=16, null=True)  # paid, missed, suspended, cancelled, ended, skipped ...
    amount = fields.BigIntField(null=True)  # a payment: what was asked
    entry_id: str | None
    entry: fields.ForeignKeyNullableRelation[LedgerEntry] = fields.ForeignKeyField(
        f"{APP}.LedgerEntry", related_name="contract_payments", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        app = APP
        table = "contract_steps"
        indexes = (("state", "next_at"), ("contract_id", "due_at"))


class ContractChange(Entity):
    """The audit trail of an admin's change to a contract: who, why, the terms before and after."""

    contract_id: str
    contract: fields.ForeignKeyRelation[Contract] = fields.ForeignKeyField(
        f"{APP}.Contract", related_name="changes", on_delete=fields.CASCADE
    )
    admin_id: str | None
    admin: fields.ForeignKeyNullableRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="contract_changes", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=12)  # terms, end
    reason = fields.CharField(max_length=500)
    before: fields.JSONField[dict[str, object]] = fields.JSONField(default=dict)
    after: fields.JSONField[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        app = APP
        table = "contract_changes"
        indexes = (("contract_id",),)


class RemoteContract(Entity):
    """A contract one of our users holds on another server (the licensee's side): its URL, the
    type it licenses there, and the contract's document as that server last answered. The
    contract lives there; this row only says which contract covers a remote parent."""

    licensee_id: str
    licensee: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="remote_contracts", on_delete=fields.CASCADE
    )
    uri = fields.CharField(max_length=2048, unique=True)
    type_uri = fields.CharField(max_length=2048)
    offer_uri = fields.CharField(max_length=2048, default="")
    state = fields.CharField(max_length=12)
    document: fields.JSONField[dict[str, object]] = fields.JSONField(default=dict)

    class Meta:
        app = APP
        table = "remote_contracts"
        indexes = (("licensee_id", "type_uri"),)

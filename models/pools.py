"""Pool tables (issue 18): resources that generate future units or tokens of a type, in batches.

A **pool** belongs to its type's owner and will generate at most `capacity` (minor units; a
unique token counts one whole unit) of the type. A **sub-pool** is a row of the same table with
a `parent`: a named part of its pool's remaining capacity with its own owner and rules. Every
part keeps three counters, and `generated + reserved + allotted <= capacity` always holds:

- `generated`: made already (ledger create entries, or tokens with their create entries);
- `reserved`: promised but not made yet: active reservations, and the rest of scheduled batches;
- `allotted` (a pool only): split off into its sub-pools, which count their own use.

Every change to the counters is one conditional UPDATE on the part's row (`... WHERE
generated + reserved + allotted + ? <= capacity`), so racing reservations, batches and splits
cannot pass the capacity, on SQLite or PostgreSQL. A part's per-user limit is the same kind of
update on the user's PoolMember row (`taken + ? <= max_per_user`).

**No resale** (the rule `check_resale` applies; docs in README "Pools"): the outputs a
no-resale pool generates for anyone but the pool's owner are recorded in `pool_outputs`. Such
an output may be burnt, or given back to the pool's owner, and nothing else: not given to
anyone else, not listed on the market. Units are fungible, so a give or a listing that does
not name the outputs it spends (an amount, oldest first, or `all`) is refused while the
holder still holds any no-resale output of that type; naming other outputs (sources,
from_operation, a unique token) is checked output by output. The restriction ends at the pool
owner: a give back makes a fresh output, the owner's, which is free like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from tortoise import fields

from . import sql
from .base import APP, Entity
from .engine import Durable
from .errors import Forbidden

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor
    from .ledger import LedgerEntry
    from .tokens import TokenType

__all__ = [
    "Batch", "BatchState", "Generation", "GenerationState", "Pool", "PoolMember", "PoolOutput", "Reservation",
    "ReservationState", "Reservers", "check_resale", "refuse_resale", "resale_lookup",
]


class Reservers(StrEnum):
    """Who may reserve from a part: any signed-in user, or the users its owner listed."""

    ANYONE = "anyone"
    LISTED = "listed"


class Pool(Entity):
    parent_id: str | None  # set on a sub-pool: the pool whose capacity it was split from
    parent: fields.ForeignKeyNullableRelation[Pool] = fields.ForeignKeyField(
        f"{APP}.Pool", related_name="subpools", null=True, on_delete=fields.RESTRICT
    )
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="pools", on_delete=fields.RESTRICT
    )
    type_id: str
    type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="pools", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=200)
    capacity = fields.BigIntField()  # minor units
    generated = fields.BigIntField(default=0)
    reserved = fields.BigIntField(default=0)
    allotted = fields.BigIntField(default=0)
    no_resale = fields.BooleanField(default=False)  # a sub-pool copies its pool's
    # unique types: the own attribute values every generated token gets
    template: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    max_per_user = fields.BigIntField(null=True)  # minor units one user may reserve or be assigned here
    reservers = fields.CharField(max_length=8, default=Reservers.ANYONE.value)

    class Meta:
        app = APP
        table = "pools"
        indexes = (("type_id",), ("owner_id",), ("parent_id",))


class PoolMember(Entity):
    """A user's standing in one part: listed or not, and what they took from it.

    Listed: may reserve from a `listed` part. Taken: reserved or assigned, less what an expiry
    or a cancel gave back (counted only where the part has a per-user limit)."""

    pool_id: str
    pool: fields.ForeignKeyRelation[Pool] = fields.ForeignKeyField(
        f"{APP}.Pool", related_name="members", on_delete=fields.CASCADE
    )
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="pool_memberships", on_delete=fields.CASCADE
    )
    listed = fields.BooleanField(default=False)
    taken = fields.BigIntField(default=0)

    class Meta:
        app = APP
        table = "pool_members"
        unique_together = (("pool", "actor"),)
        indexes = (("actor_id",),)


class BatchState(StrEnum):
    SCHEDULED = "scheduled"  # generated slice by slice (its Generation rows)
    DONE = "done"  # all of it generated
    FAILED = "failed"  # a slice kept failing (the generation row says why); the rest stays reserved


class Batch(Entity):
    """A quantity of a part assigned to one owner: generated at once, or `size` every `period` seconds."""

    pool_id: str
    pool: fields.ForeignKeyRelation[Pool] = fields.ForeignKeyField(
        f"{APP}.Pool", related_name="batches", on_delete=fields.RESTRICT
    )
    owner_id: str
    owner: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="pool_batches", on_delete=fields.RESTRICT
    )
    quantity = fields.BigIntField()
    generated = fields.BigIntField(default=0)
    size = fields.BigIntField(null=True)  # per slice; None: all at once
    period = fields.IntField(null=True)  # seconds between slices
    state = fields.CharField(max_length=12, default=BatchState.DONE.value)
    reservation_id = fields.CharField(max_length=26, null=True)  # the reservation it claimed, if any

    class Meta:
        app = APP
        table = "pool_batches"
        indexes = (("pool_id",), ("owner_id",))


class GenerationState(StrEnum):
    PENDING = "pending"  # due at next_at
    DONE = "done"
    FAILED = "failed"


class Generation(Durable, Entity):
    """One slice of a scheduled batch: a row of the POOL_GENERATIONS machine, due at its time.
    Its handler generates the slice and writes the next slice's row, due a period later."""

    batch_id: str
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        f"{APP}.Batch", related_name="generations", on_delete=fields.CASCADE
    )
    quantity = fields.BigIntField()

    class Meta:
        app = APP
        table = "pool_generations"
        indexes = (("state", "next_at"),)


class ReservationState(StrEnum):
    ACTIVE = "active"  # holds capacity until it is claimed, cancelled or expires (next_at)
    CLAIMED = "claimed"  # turned into a batch for the reserver
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"  # the expiry kept failing (last_error); it still holds its capacity


class Reservation(Durable, Entity):
    """A quantity a user reserved from a part until it expires: a POOL_RESERVATIONS row.

    Its next_at is expires_at; the machine's handler gives the capacity back if nobody claimed it."""

    pool_id: str
    pool: fields.ForeignKeyRelation[Pool] = fields.ForeignKeyField(
        f"{APP}.Pool", related_name="reservations", on_delete=fields.RESTRICT
    )
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="pool_reservations", on_delete=fields.RESTRICT
    )
    quantity = fields.BigIntField()
    expires_at = fields.DatetimeField()
    batch_id = fields.CharField(max_length=26, null=True)  # the batch its claim made

    class Meta:
        app = APP
        table = "pool_reservations"
        indexes = (("pool_id", "state"), ("actor_id", "state"), ("state", "next_at"))


class PoolOutput(Entity):
    """An output a pool generated (a create entry), and whether it may be resold (see the module)."""

    entry_id: str
    entry: fields.OneToOneRelation[LedgerEntry] = fields.OneToOneField(
        f"{APP}.LedgerEntry", related_name="pool_output", on_delete=fields.CASCADE
    )
    pool_id: str  # the part that generated it
    pool: fields.ForeignKeyRelation[Pool] = fields.ForeignKeyField(
        f"{APP}.Pool", related_name="outputs", on_delete=fields.RESTRICT
    )
    batch_id: str
    batch: fields.ForeignKeyRelation[Batch] = fields.ForeignKeyField(
        f"{APP}.Batch", related_name="outputs", on_delete=fields.RESTRICT
    )
    holder_id = fields.CharField(max_length=26)  # the entry's recipient (the batch owner)
    type_id = fields.CharField(max_length=26)
    pool_owner_id = fields.CharField(max_length=26)  # the whole pool's owner: the one it may go back to
    no_resale = fields.BooleanField(default=False)

    class Meta:
        app = APP
        table = "pool_outputs"
        indexes = (("holder_id", "type_id"),)


class Spending(Protocol):
    """What a give names to spend (models/operations/ledger.py GiveInput)."""

    sources: list[tuple[str, str]] | None
    from_operation: str | None
    token: str | None


_HELD = (
    "SELECT po.entry_id, po.pool_owner_id FROM pool_outputs po JOIN ledger_entries e ON e.id = po.entry_id"
    " WHERE po.holder_id = ? AND po.type_id = ? AND po.no_resale = ? AND e.remaining > 0"
)


def resale_lookup(
    holder_id: str, type_id: str, *, spends: Spending | None = None, tokens: Sequence[str] = (),
) -> tuple[Any, ...]:
    """The read `check_resale` makes, as `(query, *params)`: the no-resale outputs of the type
    `holder_id` holds, narrowed to those the spend names. A give runs it in the batch of reads
    it makes anyway (sql.fetch_together), so the rule costs no trip of its own."""
    query, params = _HELD, [holder_id, type_id, True]
    token_ids = _named_tokens(spends, tokens)
    named = _named_outputs(spends)
    if token_ids:
        query += f" AND e.token_id IN ({', '.join('?' for _ in token_ids)})"
        params += token_ids
    elif named:
        query += f" AND po.entry_id IN ({', '.join('?' for _ in named)})"
        params += named
    return (query + " LIMIT 20", *params)


def _named_tokens(spends: Spending | None, tokens: Sequence[str]) -> list[str]:
    return [*tokens, *([spends.token] if spends is not None and spends.token else [])]


def _named_outputs(spends: Spending | None) -> list[str]:
    named = [source for _, source in (spends.sources or [])] if spends is not None else []
    if spends is not None and spends.from_operation is not None:
        named.append(spends.from_operation)
    return named


def refuse_resale(
    rows: Sequence[dict[str, Any]], token_type: TokenType, recipient: Actor | None, *,
    spends: Spending | None = None, tokens: Sequence[str] = (),
) -> None:
    """403 no-resale when `rows` (what `resale_lookup` read) hold an output that may not go to
    `recipient` (None: a market listing): only the pool's owner may receive it."""
    bound = [row for row in rows if recipient is None or row["pool_owner_id"] != recipient.id]
    if not bound:
        return
    where = "listed on the market" if recipient is None else "given to anyone but the pool's owner"
    hint = "" if _named_tokens(spends, tokens) or _named_outputs(spends) else (
        "; name the other outputs to spend (sources or from_operation), or give these back to the pool's owner"
    )
    raise Forbidden(
        f"{token_type.symbol} from a no-resale pool (operation {bound[0]['entry_id']}) cannot be {where}{hint}",
        code="no-resale",
    )


async def check_resale(
    holder: Actor, token_type: TokenType, recipient: Actor | None, *, spends: Spending | None = None,
    tokens: Sequence[str] = (),
) -> None:
    """403 no-resale when a give to `recipient` (None: a market listing) would spend an output of
    a no-resale pool held by `holder`, unless it goes back to that pool's owner. The outputs
    named (sources, from_operation, tokens) are checked one by one; a spend that names none
    (an amount, oldest first, or all) is refused while any such output is held (module doc)."""
    rows = await sql.fetch(*resale_lookup(holder.id, token_type.id, spends=spends, tokens=tokens))
    refuse_resale(rows, token_type, recipient, spends=spends, tokens=tokens)

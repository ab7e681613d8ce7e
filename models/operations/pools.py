"""Pools (issue 18): a type owner's resource that generates up to N units or unique tokens in
batches, reservations ahead of generation, sub-pools with their own owners and rules, and the
no-resale rule (the tables, the capacity rule and the resale check: models/pools.py).

Capacity is never exceeded, under any concurrency: every quantity a part promises (a
reservation, a batch) is first added to its `reserved` by one conditional UPDATE on the part's
row, which refuses it when `generated + reserved + allotted` would pass `capacity`; generating
moves it from `reserved` to `generated` (`... WHERE reserved >= ?`). Nothing is minted that was
not reserved first. A part's per-user limit is the same update on the user's member row.

Lock order, for PostgreSQL (SQLite runs one writing transaction at a time): a reservation row,
then the member row, then the part's row. The expiry handler locks its reservation first (a
domain write under its lease), as a claim or a cancel does by moving it.

Generation writes as the whole pool's owner (the type's owner, the only one who may mint it):
ledger create entries with the batch's owner as recipient, or, for a unique type, tokens made
from the pool's template and owned by the batch's owner, each with its create entry.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from .. import sql
from ..actors import Actor
from ..amounts import to_minor
from ..base import iso
from ..context import Context, Site
from ..engine import MACHINES, GiveUp, Go, Lease, Outcome, move
from ..errors import Conflict, DomainError, Forbidden, NotFound, Unprocessable
from ..ids import new_id
from ..ledger import EntryKind
from ..machines import POOL_GENERATIONS, POOL_RESERVATIONS
from ..outputs import Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..pools import (
    Batch,
    BatchState,
    Generation,
    GenerationState,
    Pool,
    PoolMember,
    PoolOutput,
    Reservation,
    ReservationState,
    Reservers,
)
from ..registry import REGISTRY, Access, Input
from ..tokens import TokenType
from .entries import amount_text, record_entry, reserve_supply, unit
from .ledger import resolve_actor
from .tokens import Resolver, check_token_values, mint_token

__all__ = ["expire_reservation", "generate_slice", "pool_view"]

ID = Field(min_length=1, max_length=64)
QUANTITY = Field(min_length=1, max_length=40, description='decimal string of the type\'s units, e.g. "50"; a unique token counts 1')
MAX_LISTED = 100  # users one part may list
MAX_AT_ONCE = 100  # unique tokens one generation makes: a larger batch goes on a schedule
MAX_SECONDS = 366 * 86400  # the longest period or reservation
DEFAULT_HOLD = 86400  # a reservation's default life: a day
SHOWN = 50  # batches and reservations a pool's view lists, newest first


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- inputs


class RulesMixin(Input):
    max_per_user: str | None = Field(
        None, min_length=1, max_length=40, description="the most one user may reserve or be assigned from this part",
    )
    reservers: Reservers = Field(Reservers.ANYONE, description="anyone (signed in) may reserve, or only the listed users")
    listed: list[str] | None = Field(None, min_length=1, max_length=MAX_LISTED, description="listed: the users, by handle")

    @model_validator(mode="after")
    def _listed_only_when_listed(self) -> RulesMixin:
        if (self.reservers is Reservers.LISTED) != (self.listed is not None):
            raise ValueError("reservers=listed names its users in `listed`, and only then")
        return self


class PoolCreateInput(RulesMixin):
    type: str = ID
    name: str = Field(min_length=1, max_length=200)
    capacity: str = QUANTITY
    no_resale: bool = Field(False, description="what it generates may be burnt or given back to you, nothing else")
    template: dict[str, Any] | None = Field(
        None, max_length=1000, description="unique types: the attribute values every generated token gets",
    )


class PoolIdInput(Input):
    id: str = ID


class SubpoolInput(RulesMixin):
    id: str = ID
    name: str = Field(min_length=1, max_length=200)
    capacity: str = QUANTITY
    owner: str = Field(min_length=1, max_length=320, description="the sub-pool's owner: a username of this server")


class ScheduleMixin(Input):
    batch_size: str | None = Field(None, min_length=1, max_length=40, description="generate this much each period")
    period: int | None = Field(None, ge=1, le=MAX_SECONDS, description="seconds between two slices")

    @model_validator(mode="after")
    def _both_or_neither(self) -> ScheduleMixin:
        if (self.batch_size is None) != (self.period is None):
            raise ValueError("a schedule needs both batch_size and period (or neither: all at once)")
        return self


class BatchInput(ScheduleMixin):
    id: str = ID
    to: str = Field(min_length=1, max_length=320, description="the batch's owner: a username of this server")
    quantity: str = QUANTITY


class ReserveInput(Input):
    id: str = ID
    quantity: str = QUANTITY
    expires_in: int | None = Field(None, ge=60, le=MAX_SECONDS, description="seconds (default a day)")
    expires_at: datetime | None = Field(None, description="instead of expires_in")

    @model_validator(mode="after")
    def _one_expiry(self) -> ReserveInput:
        if self.expires_in is not None and self.expires_at is not None:
            raise ValueError("give expires_in or expires_at, not both")
        return self


class ReservationIdInput(Input):
    id: str = ID
    reservation: str = ID


class ClaimInput(ReservationIdInput, ScheduleMixin):
    pass


class PoolListInput(ListInput):
    type: str | None = Field(None, min_length=1, max_length=64)
    owner: str | None = Field(None, min_length=1, max_length=320, description="username")


class PoolReservationsInput(ListInput):
    id: str = ID


class MyReservationsInput(ListInput):
    state: Literal["active", "claimed", "cancelled", "expired", "all"] = "all"


# ---------------------------------------------------------------- outputs


class PoolOut(Output):
    id: str
    name: str
    parent: str | None = Field(description="a sub-pool's pool")
    type: str
    symbol: str
    fungible: bool
    owner: str = Field(description="handle")
    capacity: str
    generated: str
    reserved: str = Field(description="active reservations and the rest of scheduled batches")
    allotted: str = Field(description="split off into sub-pools")
    free: str
    totals: dict[str, str] = Field(description="generated, reserved and free of the pool with its sub-pools")
    no_resale: bool
    template: dict[str, Any]
    max_per_user: str | None
    reservers: str
    created_at: Timestamp
    updated_at: Timestamp


class BatchOut(Output):
    id: str
    pool: str
    owner: str = Field(description="handle")
    quantity: str
    generated: str
    batch_size: str | None
    period: int | None
    state: str
    next_at: Timestamp = Field(description="when the next slice is due (scheduled)")
    reservation: str | None
    created_at: Timestamp


class ReservationOut(Output):
    id: str
    pool: str
    pool_name: str
    reserver: str = Field(description="handle")
    quantity: str
    state: str
    expires_at: Timestamp
    batch: str | None
    created_at: Timestamp


class PoolDetailOut(PoolOut):
    subpools: list[PoolOut]
    batches: list[BatchOut]
    reservations: list[ReservationOut] = Field(description="all for the pool's owners; a user's own otherwise")
    listed: list[str] = Field(description="who may reserve (reservers=listed); shown to the pool's owners")
    manager: bool = Field(description="the caller owns this part or its pool")


# ---------------------------------------------------------------- lookups and rules


async def _part(pool_id: str) -> Pool:
    pool = await Pool.get_or_none(id=pool_id)
    if pool is None:
        raise NotFound(f"there is no pool {pool_id!r}", code="pool-not-found")
    return pool


async def _root(part: Pool) -> Pool:
    return part if part.parent_id is None else await Pool.get(id=part.parent_id)


def _manages(actor: Actor | None, part: Pool, root: Pool) -> bool:
    return actor is not None and actor.id in (part.owner_id, root.owner_id)


def _require_manager(actor: Actor, part: Pool, root: Pool) -> None:
    if not _manages(actor, part, root):
        raise Forbidden("only the owner of this pool (or of its pool) may do this", code="not-pool-owner")


def _quantity(value: str, token_type: TokenType, field: str) -> int:
    """Minor units; a unique type counts whole tokens."""
    minor = to_minor(value, token_type.smallest_unit, field=field)
    if not token_type.fungible and minor % unit(token_type):
        raise Unprocessable(f"{field} counts whole tokens of a unique type", code="whole-tokens",
                            errors=[{"field": field, "message": "must be a whole number"}])
    return minor


def _schedule(params: ScheduleMixin, token_type: TokenType, quantity: int) -> int | None:
    """The slice size, or None for all at once; a unique type makes at most MAX_AT_ONCE tokens at a time."""
    size = None if params.batch_size is None else _quantity(params.batch_size, token_type, "batch_size")
    if size is not None and size > quantity:
        raise Unprocessable("batch_size is more than the quantity", code="invalid-schedule",
                            errors=[{"field": "batch_size", "message": "at most the quantity"}])
    at_once = size if size is not None else quantity
    if not token_type.fungible and at_once > MAX_AT_ONCE * unit(token_type):
        raise Unprocessable(
            f"at most {MAX_AT_ONCE} tokens are made at once: give a schedule (batch_size and period)",
            code="batch-too-large", errors=[{"field": "batch_size" if size else "quantity", "message": f"at most {MAX_AT_ONCE}"}],
        )
    return size


async def _local_user(ctx: Context, handle: str, field: str) -> Actor:
    actor = await resolve_actor(handle, ctx, field=field)
    if actor.domain:
        raise Unprocessable("pools make units for users of this server", code="local-users-only",
                            errors=[{"field": field, "message": "a user of this server"}])
    return actor


async def _list_users(ctx: Context, part: Pool, handles: list[str] | None) -> None:
    for handle in handles or []:
        actor = await _local_user(ctx, handle, "listed")
        member, _ = await PoolMember.get_or_create(pool_id=part.id, actor_id=actor.id)
        if not member.listed:
            await PoolMember.filter(id=member.id).update(listed=True)


def _limit(params: RulesMixin, token_type: TokenType) -> int | None:
    return None if params.max_per_user is None else _quantity(params.max_per_user, token_type, "max_per_user")


# ---------------------------------------------------------------- the counters


async def _take(part: Pool, token_type: TokenType, actor_id: str, amount: int) -> None:
    """Promise `amount` of the part to a user: their per-user allowance, then the capacity (409)."""
    if part.max_per_user is not None:
        moment = sql.now()
        await sql.execute(
            "INSERT INTO pool_members (id, pool_id, actor_id, listed, taken, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (pool_id, actor_id) DO NOTHING",
            new_id(), part.id, actor_id, False, moment, moment,
        )
        taken = await sql.execute(
            "UPDATE pool_members SET taken = taken + ? WHERE pool_id = ? AND actor_id = ? AND taken + ? <= ?",
            amount, part.id, actor_id, amount, part.max_per_user,
        )
        if taken != 1:
            raise Conflict(
                f"one user may have at most {amount_text(part.max_per_user, token_type)} {token_type.symbol} from {part.name!r}",
                code="per-user-limit",
            )
    promised = await sql.execute(
        "UPDATE pools SET reserved = reserved + ? WHERE id = ? AND generated + reserved + allotted + ? <= capacity",
        amount, part.id, amount,
    )
    if promised != 1:
        raise Conflict(f"{part.name!r} has less than {amount_text(amount, token_type)} {token_type.symbol} free", code="pool-full")


async def _give_back(part: Pool, actor_id: str, amount: int) -> None:
    """An expired or cancelled reservation's capacity (and the user's allowance) back to the part."""
    if part.max_per_user is not None:
        await sql.execute(
            "UPDATE pool_members SET taken = taken - ? WHERE pool_id = ? AND actor_id = ? AND taken >= ?",
            amount, part.id, actor_id, amount,
        )
    await sql.execute("UPDATE pools SET reserved = reserved - ? WHERE id = ? AND reserved >= ?", amount, part.id, amount)


async def _generate(ctx: Context, part: Pool, batch: Batch, amount: int) -> list[str]:
    """Make `amount` of the batch for its owner, out of what the part reserved; the create entries."""
    moved = await sql.execute(
        "UPDATE pools SET reserved = reserved - ?, generated = generated + ? WHERE id = ? AND reserved >= ?",
        amount, amount, part.id, amount,
    )
    if moved != 1:  # never: every batch reserved its quantity first
        raise Conflict(f"{part.name!r} has not {amount} reserved for this batch", code="pool-inconsistent")
    root = await _root(part)
    token_type = await TokenType.get(id=root.type_id)
    pool_owner = await Actor.get(id=root.owner_id)
    recipient = await Actor.get(id=batch.owner_id)
    as_owner = replace(ctx, actor=pool_owner, user=None, remote=True)  # the type's owner mints
    description = f"generated by pool {root.name!r} (batch {batch.id})"
    if token_type.fungible:
        await reserve_supply(token_type, amount)
        entries = [str((await record_entry(as_owner, EntryKind.CREATE, token_type, amount, recipient, [], description))["id"])]
    else:
        resolver = Resolver()
        entries = []
        for _ in range(amount // unit(token_type)):
            _, entry = await mint_token(as_owner, token_type, recipient, dict(root.template), resolver, description=description)
            entries.append(str(entry["id"]))
    no_resale = root.no_resale and recipient.id != root.owner_id
    moment = sql.now()
    await sql.insert_many(PoolOutput._meta.db_table, [
        {"id": new_id(), "entry_id": entry_id, "pool_id": part.id, "batch_id": batch.id, "holder_id": recipient.id,
         "type_id": token_type.id, "pool_owner_id": root.owner_id, "no_resale": no_resale,
         "created_at": moment, "updated_at": moment}
        for entry_id in entries
    ])
    batch.generated += amount
    done = batch.generated >= batch.quantity
    await Batch.filter(id=batch.id).update(
        generated=batch.generated, state=BatchState.DONE.value if done else batch.state, updated_at=moment,
    )
    if done:
        batch.state = BatchState.DONE.value
    await ctx.emit("pool.batch.generated", "pool_batch", batch.id, _batch_payload(batch, token_type, amount, entries))
    return entries


def _batch_payload(batch: Batch, token_type: TokenType, amount: int, entries: list[str]) -> dict[str, Any]:
    return {"pool": batch.pool_id, "batch": batch.id, "owner": batch.owner_id,
            "quantity": amount_text(amount, token_type), "entries": entries}


def _reservation_payload(row: Reservation, token_type: TokenType) -> dict[str, Any]:
    payload = {"pool": row.pool_id, "reservation": row.id, "actor": row.actor_id, "quantity": amount_text(row.quantity, token_type)}
    return payload | ({"batch": row.batch_id} if row.batch_id else {})


async def _start_batch(
    ctx: Context, part: Pool, token_type: TokenType, owner: Actor, quantity: int, size: int | None, period: int | None,
    reservation: str | None = None,
) -> Batch:
    """A batch of what the part reserved for `owner`: generated now, or its first slice due now."""
    batch = await Batch.create(
        pool_id=part.id, owner_id=owner.id, quantity=quantity, size=size, period=period, reservation_id=reservation,
        state=BatchState.SCHEDULED.value if size is not None else BatchState.DONE.value,
    )
    await ctx.emit("pool.batch.assigned", "pool_batch", batch.id, _batch_payload(batch, token_type, quantity, []))
    if size is None:
        await _generate(ctx, part, batch, quantity)
    else:
        await Generation.create(batch_id=batch.id, quantity=size, state=GenerationState.PENDING.value, next_at=_now())
        MACHINES.wake(POOL_GENERATIONS.name)
    return batch


# ---------------------------------------------------------------- views


def _text(minor: int | None, token_type: TokenType) -> str | None:
    return None if minor is None else amount_text(minor, token_type)


def _part_view(part: Pool, token_type: TokenType, owner: str, subpools: list[Pool]) -> dict[str, Any]:
    free = part.capacity - part.generated - part.reserved - part.allotted
    generated = part.generated + sum(sub.generated for sub in subpools)
    reserved = part.reserved + sum(sub.reserved for sub in subpools)
    return {
        "id": part.id, "name": part.name, "parent": part.parent_id, "type": token_type.id, "symbol": token_type.symbol,
        "fungible": token_type.fungible, "owner": owner, "capacity": amount_text(part.capacity, token_type),
        "generated": amount_text(part.generated, token_type), "reserved": amount_text(part.reserved, token_type),
        "allotted": amount_text(part.allotted, token_type), "free": amount_text(free, token_type),
        "totals": {
            "generated": amount_text(generated, token_type), "reserved": amount_text(reserved, token_type),
            "free": amount_text(part.capacity - generated - reserved, token_type),
        },
        "no_resale": part.no_resale, "template": part.template, "max_per_user": _text(part.max_per_user, token_type),
        "reservers": part.reservers, "created_at": iso(part.created_at), "updated_at": iso(part.updated_at),
    }


async def _handles(ids: set[str], ctx: Context) -> dict[str, str]:
    return {actor.id: actor.handle(ctx.site.domain) for actor in await Actor.filter(id__in=list(ids))}


async def pool_views(ctx: Context, parts: list[Pool]) -> list[dict[str, Any]]:
    """Views of pools and sub-pools (a pool's totals count its sub-pools)."""
    types = {t.id: t for t in await TokenType.filter(id__in=list({part.type_id for part in parts}))}
    subs: dict[str, list[Pool]] = {}
    for sub in await Pool.filter(parent_id__in=[part.id for part in parts if part.parent_id is None]).order_by("id"):
        subs.setdefault(str(sub.parent_id), []).append(sub)
    handles = await _handles({part.owner_id for part in parts}, ctx)
    return [_part_view(part, types[part.type_id], handles[part.owner_id], subs.get(part.id, [])) for part in parts]


async def pool_view(ctx: Context, part: Pool) -> dict[str, Any]:
    [view] = await pool_views(ctx, [part])
    return view


async def batch_views(ctx: Context, batches: list[Batch], token_type: TokenType) -> list[dict[str, Any]]:
    handles = await _handles({batch.owner_id for batch in batches}, ctx)
    due = {
        row.batch_id: iso(row.next_at)
        for row in await Generation.filter(batch_id__in=[b.id for b in batches], state=GenerationState.PENDING.value)
    }
    return [
        {"id": batch.id, "pool": batch.pool_id, "owner": handles[batch.owner_id], "quantity": amount_text(batch.quantity, token_type),
         "generated": amount_text(batch.generated, token_type), "batch_size": _text(batch.size, token_type),
         "period": batch.period, "state": batch.state, "next_at": due.get(batch.id), "reservation": batch.reservation_id,
         "created_at": iso(batch.created_at)}
        for batch in batches
    ]


async def reservation_views(ctx: Context, rows: list[Reservation]) -> list[dict[str, Any]]:
    parts = {part.id: part for part in await Pool.filter(id__in=list({row.pool_id for row in rows}))}
    types = {t.id: t for t in await TokenType.filter(id__in=list({part.type_id for part in parts.values()}))}
    handles = await _handles({row.actor_id for row in rows}, ctx)
    return [
        {"id": row.id, "pool": row.pool_id, "pool_name": parts[row.pool_id].name, "reserver": handles[row.actor_id],
         "quantity": amount_text(row.quantity, types[parts[row.pool_id].type_id]), "state": row.state,
         "expires_at": iso(row.expires_at), "batch": row.batch_id, "created_at": iso(row.created_at)}
        for row in rows
    ]


def _seen_reservations(actor: Actor | None, manager: bool) -> Q:
    if manager:
        return Q()
    return Q(actor_id=actor.id) if actor is not None else Q(id__in=[])


async def _detail(ctx: Context, part: Pool) -> dict[str, Any]:
    root = await _root(part)
    manager = _manages(ctx.actor, part, root)
    token_type = await TokenType.get(id=part.type_id)
    view = await pool_view(ctx, part)
    subpools = await Pool.filter(parent_id=part.id).order_by("id")
    batches = await Batch.filter(pool_id=part.id).order_by("-id").limit(SHOWN)
    reservations = await Reservation.filter(_seen_reservations(ctx.actor, manager), pool_id=part.id).order_by("-id").limit(SHOWN)
    listed: list[str] = []
    if manager and part.reservers == Reservers.LISTED.value:
        ids = await PoolMember.filter(pool_id=part.id, listed=True).values_list("actor_id", flat=True)
        listed = sorted((await _handles({str(actor_id) for actor_id in ids}, ctx)).values())
    return view | {
        "subpools": await pool_views(ctx, subpools) if subpools else [],
        "batches": await batch_views(ctx, batches, token_type),
        "reservations": await reservation_views(ctx, reservations),
        "listed": listed,
        "manager": manager,
    }


# ---------------------------------------------------------------- operations


@REGISTRY.operation("pools.create", PoolCreateInput, output=PoolDetailOut)
async def create_pool(ctx: Context, params: PoolCreateInput) -> dict[str, Any]:
    """Make a pool of a type you own: it will generate up to `capacity`, in batches you assign."""
    owner = ctx.require_actor()
    token_type = await TokenType.get_or_none(id=params.type, is_deleted=False)
    if token_type is None:
        raise NotFound(f"there is no token type {params.type!r}", code="type-not-found")
    if token_type.owner_id != owner.id:
        raise Forbidden("only the owner of a token type may make a pool of it", code="not-owner")
    if token_type.fungible and params.template is not None:
        raise Unprocessable("a template is for unique types: units of a fungible type have no attributes",
                            code="fungible-type", errors=[{"field": "template", "message": "only for unique types"}])
    template = {} if token_type.fungible else await check_token_values(ctx, token_type, params.template or {})
    pool = await Pool.create(
        owner_id=owner.id, type_id=token_type.id, name=params.name, capacity=_quantity(params.capacity, token_type, "capacity"),
        no_resale=params.no_resale, template=template, max_per_user=_limit(params, token_type), reservers=params.reservers.value,
    )
    await _list_users(ctx, pool, params.listed)
    await ctx.emit("pool.created", "pool", pool.id, {
        "pool": pool.id, "parent": None, "owner": owner.id, "type": token_type.id, "capacity": amount_text(pool.capacity, token_type),
    })
    return await _detail(ctx, pool)


@REGISTRY.operation("pools.get", PoolIdInput, output=PoolDetailOut, access=Access.PUBLIC)
async def get_pool(ctx: Context, params: PoolIdInput) -> dict[str, Any]:
    """A pool (or sub-pool): its capacity, sub-pools, batches and the reservations you may see."""
    return await _detail(ctx, await _part(params.id))


@REGISTRY.operation("pools.list", PoolListInput, output=Paged[PoolOut], access=Access.PUBLIC)
async def list_pools(ctx: Context, params: PoolListInput) -> Any:
    """Pools (not their sub-pools), by type or owner."""
    query = Pool.filter(parent_id__isnull=True)
    if params.type:
        query = query.filter(type_id=params.type)
    if params.owner:
        query = query.filter(owner_id=(await resolve_actor(params.owner, ctx, field="owner")).id)
    page = await paginate(query, params)
    page.items = await pool_views(ctx, page.items) if page.items else []
    return page


@REGISTRY.operation("pools.subpools.create", SubpoolInput, output=PoolDetailOut)
async def create_subpool(ctx: Context, params: SubpoolInput) -> dict[str, Any]:
    """Split part of your pool's free capacity into a named sub-pool with its own owner and rules."""
    actor = ctx.require_actor()
    pool = await _part(params.id)
    if pool.parent_id is not None:
        raise Unprocessable("a sub-pool is split from a pool, not from another sub-pool", code="nested-subpool")
    if pool.owner_id != actor.id:
        raise Forbidden("only the pool's owner may split it", code="not-pool-owner")
    token_type = await TokenType.get(id=pool.type_id)
    capacity = _quantity(params.capacity, token_type, "capacity")
    owner = await _local_user(ctx, params.owner, "owner")
    limit = _limit(params, token_type)
    split = await sql.execute(
        "UPDATE pools SET allotted = allotted + ? WHERE id = ? AND generated + reserved + allotted + ? <= capacity",
        capacity, pool.id, capacity,
    )
    if split != 1:
        raise Conflict(f"{pool.name!r} has less than {amount_text(capacity, token_type)} {token_type.symbol} free", code="pool-full")
    sub = await Pool.create(
        parent_id=pool.id, owner_id=owner.id, type_id=pool.type_id, name=params.name, capacity=capacity,
        no_resale=pool.no_resale, template=pool.template, max_per_user=limit, reservers=params.reservers.value,
    )
    await _list_users(ctx, sub, params.listed)
    await ctx.emit("pool.subpool_created", "pool", sub.id, {
        "pool": sub.id, "parent": pool.id, "owner": owner.id, "type": pool.type_id, "capacity": amount_text(capacity, token_type),
    })
    return await _detail(ctx, sub)


@REGISTRY.operation("pools.batches.create", BatchInput, output=BatchOut)
async def assign_batch(ctx: Context, params: BatchInput) -> dict[str, Any]:
    """Assign a batch of the pool to a user: generated for them now, or `batch_size` every `period` seconds."""
    actor = ctx.require_actor()
    part = await _part(params.id)
    _require_manager(actor, part, await _root(part))
    token_type = await TokenType.get(id=part.type_id)
    quantity = _quantity(params.quantity, token_type, "quantity")
    size = _schedule(params, token_type, quantity)
    owner = await _local_user(ctx, params.to, "to")
    await _take(part, token_type, owner.id, quantity)
    batch = await _start_batch(ctx, part, token_type, owner, quantity, size, params.period)
    [view] = await batch_views(ctx, [batch], token_type)
    return view


@REGISTRY.operation("pools.reservations.create", ReserveInput, output=ReservationOut)
async def reserve(ctx: Context, params: ReserveInput) -> dict[str, Any]:
    """Reserve a quantity of a pool ahead of generation, until it expires (a day by default)."""
    actor = ctx.require_actor()
    part = await _part(params.id)
    token_type = await TokenType.get(id=part.type_id)
    quantity = _quantity(params.quantity, token_type, "quantity")
    now = _now()
    expires_at = params.expires_at or now + timedelta(seconds=params.expires_in or DEFAULT_HOLD)
    expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
    if not now + timedelta(seconds=60) <= expires_at <= now + timedelta(seconds=MAX_SECONDS):
        raise Unprocessable("a reservation lasts from a minute to a year", code="invalid-expiry",
                            errors=[{"field": "expires_at", "message": "from a minute to a year from now"}])
    if part.reservers == Reservers.LISTED.value and not await PoolMember.exists(pool_id=part.id, actor_id=actor.id, listed=True):
        raise Forbidden(f"only the users its owner listed may reserve from {part.name!r}", code="not-listed")
    await _take(part, token_type, actor.id, quantity)
    row = await Reservation.create(
        pool_id=part.id, actor_id=actor.id, quantity=quantity, expires_at=expires_at,
        state=ReservationState.ACTIVE.value, next_at=expires_at,
    )
    await ctx.emit("pool.reservation.created", "pool_reservation", row.id, _reservation_payload(row, token_type))
    [view] = await reservation_views(ctx, [row])
    return view


async def _reservation(part: Pool, reservation_id: str) -> Reservation:
    row = await Reservation.get_or_none(id=reservation_id, pool_id=part.id)
    if row is None:
        raise NotFound(f"there is no reservation {reservation_id!r} in this pool", code="reservation-not-found")
    return row


@REGISTRY.operation("pools.reservations.claim", ClaimInput, output=BatchOut)
async def claim(ctx: Context, params: ClaimInput) -> dict[str, Any]:
    """Generate a reservation for its reserver (now, or on a schedule): it becomes their batch."""
    actor = ctx.require_actor()
    part = await _part(params.id)
    row = await _reservation(part, params.reservation)
    root = await _root(part)
    if not _manages(actor, part, root):
        if row.actor_id != actor.id:
            raise NotFound(f"there is no reservation {row.id!r} in this pool", code="reservation-not-found")
        raise Forbidden("the pool's owner generates a reservation, not its reserver", code="not-pool-owner")
    token_type = await TokenType.get(id=part.type_id)
    size = _schedule(params, token_type, row.quantity)
    if not await move(POOL_RESERVATIONS, row.id, ReservationState.ACTIVE.value, ReservationState.CLAIMED.value):
        current = await Reservation.get(id=row.id)
        raise Conflict(f"reservation {row.id} is {current.state}", code="reservation-not-active")
    expires_at = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires_at <= _now():
        raise Conflict(f"reservation {row.id} expired at {iso(expires_at)}", code="reservation-expired")
    reserver = await Actor.get(id=row.actor_id)
    batch = await _start_batch(ctx, part, token_type, reserver, row.quantity, size, params.period, reservation=row.id)
    row.batch_id = batch.id
    await Reservation.filter(id=row.id).update(batch_id=batch.id)
    await ctx.emit("pool.reservation.claimed", "pool_reservation", row.id, _reservation_payload(row, token_type))
    [view] = await batch_views(ctx, [batch], token_type)
    return view


@REGISTRY.operation("pools.reservations.cancel", ReservationIdInput, output=ReservationOut)
async def cancel(ctx: Context, params: ReservationIdInput) -> dict[str, Any]:
    """Cancel an active reservation (its reserver or the pool's owner): its capacity goes back."""
    actor = ctx.require_actor()
    part = await _part(params.id)
    row = await _reservation(part, params.reservation)
    if row.actor_id != actor.id and not _manages(actor, part, await _root(part)):
        raise NotFound(f"there is no reservation {row.id!r} in this pool", code="reservation-not-found")
    if not await move(POOL_RESERVATIONS, row.id, ReservationState.ACTIVE.value, ReservationState.CANCELLED.value):
        current = await Reservation.get(id=row.id)
        raise Conflict(f"reservation {row.id} is {current.state}", code="reservation-not-active")
    await _give_back(part, row.actor_id, row.quantity)
    token_type = await TokenType.get(id=part.type_id)
    await ctx.emit("pool.reservation.cancelled", "pool_reservation", row.id, _reservation_payload(row, token_type))
    row.state = ReservationState.CANCELLED.value
    [view] = await reservation_views(ctx, [row])
    return view


@REGISTRY.operation("pools.reservations.list", PoolReservationsInput, output=Paged[ReservationOut], access=Access.USER)
async def list_pool_reservations(ctx: Context, params: PoolReservationsInput) -> Any:
    """A pool's reservations: all of them for its owners, your own otherwise."""
    part = await _part(params.id)
    manager = _manages(ctx.actor, part, await _root(part))
    page = await paginate(Reservation.filter(_seen_reservations(ctx.actor, manager), pool_id=part.id), params)
    page.items = await reservation_views(ctx, page.items)
    return page


@REGISTRY.operation("pools.reservations.mine", MyReservationsInput, output=Paged[ReservationOut], access=Access.USER)
async def my_reservations(ctx: Context, params: MyReservationsInput) -> Any:
    """Your reservations in every pool."""
    query = Reservation.filter(actor_id=ctx.require_actor().id)
    if params.state != "all":
        query = query.filter(state=params.state)
    page = await paginate(query, params)
    page.items = await reservation_views(ctx, page.items)
    return page


# ---------------------------------------------------------------- the machines' handlers


@POOL_GENERATIONS.handler(may={GenerationState.DONE.value})
async def generate_slice(site: Site, row: Generation, lease: Lease) -> Outcome:
    """One slice of a scheduled batch, and the next slice's row a period later, in one transaction.
    A rule that refuses it (the type's supply limit) will refuse it again: the batch fails."""
    ctx = Context(site=site, system=True)
    batch = await Batch.get(id=row.batch_id)
    part = await Pool.get(id=batch.pool_id)
    try:
        async with in_transaction():
            await _generate(ctx, part, batch, int(row.quantity))
            left = batch.quantity - batch.generated
            if left > 0:
                assert batch.size is not None and batch.period is not None
                await Generation.create(
                    batch_id=batch.id, quantity=min(batch.size, left), state=GenerationState.PENDING.value,
                    next_at=lease.now() + timedelta(seconds=batch.period),
                )
            return await lease.commit(row, Go(GenerationState.DONE.value))
    except DomainError as error:
        async with in_transaction():
            token_type = await TokenType.get(id=part.type_id)
            await Batch.filter(id=batch.id).update(state=BatchState.FAILED.value)
            await ctx.emit("pool.batch.failed", "pool_batch", batch.id, _batch_payload(batch, token_type, int(row.quantity), []))
            return await lease.commit(row, GiveUp(error.detail))


@POOL_RESERVATIONS.handler(may={ReservationState.EXPIRED.value})
async def expire_reservation(site: Site, row: Reservation, lease: Lease) -> Outcome:
    """An unclaimed reservation at its expiry: its capacity goes back to the pool."""
    ctx = Context(site=site, system=True)
    async with in_transaction():
        await lease.save(row, batch_id=None)  # locks the row first, as a claim or a cancel does (LostLease if moved)
        part = await Pool.get(id=row.pool_id)
        await _give_back(part, row.actor_id, int(row.quantity))
        token_type = await TokenType.get(id=part.type_id)
        await ctx.emit("pool.reservation.expired", "pool_reservation", row.id, _reservation_payload(row, token_type))
        return await lease.commit(row, Go(ReservationState.EXPIRED.value))


async def generate_into(ctx: Context, pool_id: str, recipient: Actor, quantity: int) -> tuple[TokenType, Batch]:
    """Generate `quantity` (minor units) of a pool at once for `recipient`, as the caller, who must
    manage the pool: what a distribution from a pool (models/operations/distributions.py) holds in
    its escrow. 409 pool-full as a batch would be; a no-resale pool's units could not be handed
    on, so such a pool is refused (422)."""
    part = await _part(pool_id)
    _require_manager(ctx.require_actor(), part, await _root(part))
    if part.no_resale:
        raise Unprocessable("what a no-resale pool makes cannot be handed on to others", code="no-resale")
    token_type = await TokenType.get(id=part.type_id)
    await _take(part, token_type, recipient.id, quantity)
    return token_type, await _start_batch(ctx, part, token_type, recipient, quantity, None, None)

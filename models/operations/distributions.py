"""Distributions (issue 21, item 5): allocate units of a type to every entry of a network.

`distributions.create` holds the whole quantity in the distribution's escrow at once (409 when
the distributor has not that much), then the machine distributions.runs writes one allocation
per entry, a chunk per transaction, counting `allocated` (its page shows the progress). The
machine distributions.expiries gives each allocation nobody claimed back at `expires_at`;
claims: models/distributions.py. A distribution, its allocations and its page are the
distributor's: anyone else gets the 404 of one that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator
from tortoise.expressions import F, Subquery
from tortoise.transactions import in_transaction

from ..actors import Actor
from ..allocations import Allocation, AllocationState, Distribution, RunState, distribution_escrow_username
from ..amounts import to_minor
from ..base import iso
from ..context import Context, Site
from ..distributions import release_from_escrow
from ..engine import MACHINES, Go, Lease, Outcome
from ..errors import NotFound, Unprocessable
from ..ids import new_id
from ..ledger import LedgerEntry
from ..machines import DISTRIBUTION_EXPIRIES, DISTRIBUTION_RUNS
from ..market import ESCROW_KIND
from ..names import Name
from ..networks import Network, NetworkEntry
from ..outputs import Output, Paged, Timestamp
from ..paging import ListInput, Page, paginate
from ..pools import Pool
from ..registry import REGISTRY, Access, Input
from ..sets import SetMember
from ..tokens import TokenType
from .entries import amount_text
from .market_escrow import hold
from .networks import owner_context
from .pools import generate_into
from .types import get_type

__all__ = ["allocate", "expire_allocation"]

CHUNK = 200  # allocations per transaction of a run
MAX_SECONDS = 5 * 366 * 86_400
DEFAULT_SECONDS = 30 * 86_400


class DistributionCreateInput(Input):
    network: str = Field(min_length=1, max_length=64, description="a network or subnetwork of yours")
    type: str | None = Field(None, min_length=1, max_length=64, description="a fungible type you hold units of")
    pool: str | None = Field(
        None, min_length=1, max_length=64, description="instead of type: a pool of yours (of a fungible type) generates the units",
    )
    amount: str = Field(min_length=1, max_length=60, description="per entry, a decimal string")
    name: Name = Field("", max_length=200)
    expires_in: int | None = Field(None, ge=60, le=MAX_SECONDS, description="seconds (default 30 days)")
    expires_at: datetime | None = Field(None, description="instead of expires_in")

    @model_validator(mode="after")
    def _one_each(self) -> DistributionCreateInput:
        if self.expires_in is not None and self.expires_at is not None:
            raise ValueError("give expires_in or expires_at, not both")
        if (self.type is None) == (self.pool is None):
            raise ValueError("give type or pool (one of them)")
        return self


class DistributionIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


class AllocationsInput(ListInput):
    id: str = Field(min_length=1, max_length=64)
    state: Literal["all", "held", "claimed", "expired", "failed"] = "all"


class DistributionOut(Output):
    """A distribution and its run's progress (distribution_views)."""

    id: str
    name: str
    network: str
    type: str
    symbol: str
    amount: str = Field(description="per entry")
    total: str = Field(description="held in its escrow when it was made")
    entries: int = Field(description="the network's entries then")
    allocated: int
    claimed: int
    expired: int
    state: str = Field(description="pending, running, allocated (waiting for claims) or failed")
    expires_at: Timestamp
    escrow: str = Field(description="the escrow actor's id")
    hold: str = Field(description="the ledger give into the escrow")
    note: str | None
    last_error: str | None
    created_at: Timestamp
    updated_at: Timestamp


class AllocationOut(Output):
    id: str
    distribution: str
    actor_url: str
    handle: str
    amount: str
    state: str = Field(description="held, claimed, expired or failed")
    claimed_by: str | None = Field(description="the actor it went to")
    entry: str | None = Field(description="the ledger give that claimed it or gave it back")
    updated_at: Timestamp


def _now() -> datetime:
    return datetime.now(UTC)


async def distribution_views(rows: list[Distribution]) -> list[dict[str, Any]]:
    types = {t.id: t for t in await TokenType.filter(id__in=list({row.type_id for row in rows}))}
    return [
        {
            "id": row.id, "name": row.name, "network": row.network_id, "type": row.type_id,
            "symbol": types[row.type_id].symbol, "amount": amount_text(int(row.amount), types[row.type_id]),
            "total": amount_text(int(row.amount) * row.entries, types[row.type_id]), "entries": row.entries,
            "allocated": row.allocated, "claimed": row.claimed, "expired": row.expired, "state": row.state,
            "expires_at": iso(row.expires_at), "escrow": row.escrow_id, "hold": row.hold_id, "note": row.note,
            "last_error": row.last_error, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        }
        for row in rows
    ]


async def _mine(ctx: Context, distribution_id: str) -> Distribution:
    row = await Distribution.get_or_none(id=distribution_id)
    if row is None or row.owner_id != ctx.require_actor().id:
        raise NotFound(f"there is no distribution {distribution_id!r}", code="distribution-not-found")
    return row


def _live_entries(network: Network) -> Any:
    """A network's entries whose token is still in its set."""
    return NetworkEntry.filter(
        network_id=network.id, token__is_deleted=False,
        token_id__in=Subquery(SetMember.filter(set_id=network.set_id).values("token_id")),
    )


@REGISTRY.operation("distributions.create", DistributionCreateInput, output=DistributionOut)
async def create_distribution(ctx: Context, params: DistributionCreateInput) -> dict[str, Any]:
    """Allocate an amount of a type (or of a pool's) to every entry of one of your networks, held until claimed or expired."""
    actor = ctx.require_actor()
    network = await Network.get_or_none(id=params.network).select_related("set")
    if network is None or network.owner_id != actor.id or network.set.is_deleted:
        raise NotFound(f"there is no network {params.network!r}", code="network-not-found")
    pool = None
    if params.pool is not None:
        pool = await Pool.get_or_none(id=params.pool)
        if pool is None:
            raise NotFound(f"there is no pool {params.pool!r}", code="pool-not-found")
    token_type = await get_type(pool.type_id if pool is not None else str(params.type))
    if not token_type.fungible:
        raise Unprocessable("only fungible types can be distributed by amount", code="unique-type")
    amount = to_minor(params.amount, token_type.smallest_unit)
    if amount <= 0:
        raise Unprocessable("the amount must be more than zero", code="invalid-amount")
    now = _now()
    expires_at = params.expires_at or now + timedelta(seconds=params.expires_in or DEFAULT_SECONDS)
    expires_at = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
    if not now + timedelta(seconds=60) <= expires_at <= now + timedelta(seconds=MAX_SECONDS):
        raise Unprocessable("a distribution lasts from a minute to five years", code="invalid-expiry",
                            errors=[{"field": "expires_at", "message": "from a minute to five years from now"}])
    entries = await _live_entries(network).count()
    if entries == 0:
        raise Unprocessable("this network has no entries yet: discover some first", code="empty-network")
    last = await _live_entries(network).order_by("-id").first()
    assert last is not None
    distribution_id = new_id()
    escrow = await Actor.create(
        kind=ESCROW_KIND, username=distribution_escrow_username(distribution_id),
        display_name=f"Escrow of distribution {distribution_id}",
    )
    name = params.name or f"{token_type.symbol} to {network.set.name}"
    if pool is None:
        hold_id = await hold(ctx, actor, token_type, amount * entries, escrow,
                             f"distribution {distribution_id} ({name}): held for {entries} entries"[:500])
    else:  # the pool generates it straight into the escrow
        await generate_into(ctx, pool.id, escrow, amount * entries)
        made = await LedgerEntry.filter(recipient_id=escrow.id).order_by("id").first()
        assert made is not None
        hold_id = made.id
    row = await Distribution.create(
        id=distribution_id, owner_id=actor.id, network_id=network.id, escrow_id=escrow.id, type_id=token_type.id,
        name=name, amount=amount, entries=entries, max_entry_id=last.id, hold_id=hold_id, expires_at=expires_at,
        state=RunState.PENDING.value,
    )
    await ctx.emit("distribution.created", "distribution", row.id, {
        "distribution": row.id, "type": token_type.id, "amount": amount_text(amount, token_type), "entries": entries,
        "entry": hold_id,
    })
    MACHINES.wake(DISTRIBUTION_RUNS.name)
    return (await distribution_views([row]))[0]


@REGISTRY.operation("distributions.list", ListInput, output=Paged[DistributionOut], access=Access.USER)
async def list_distributions(ctx: Context, params: ListInput) -> Page:
    """Your distributions, newest first."""
    page = await paginate(Distribution.filter(owner_id=ctx.require_actor().id), params)
    page.items = await distribution_views(page.items)
    return page


@REGISTRY.operation("distributions.get", DistributionIdInput, output=DistributionOut, access=Access.USER)
async def read_distribution(ctx: Context, params: DistributionIdInput) -> dict[str, Any]:
    """One of your distributions: allocated so far, claimed, expired."""
    return (await distribution_views([await _mine(ctx, params.id)]))[0]


@REGISTRY.operation("distributions.allocations", AllocationsInput, output=Paged[AllocationOut], access=Access.USER)
async def list_allocations(ctx: Context, params: AllocationsInput) -> Page:
    """A distribution's allocations: who each is for, and whether it was claimed or expired."""
    row = await _mine(ctx, params.id)
    token_type = await TokenType.get(id=row.type_id)
    query = Allocation.filter(distribution_id=row.id)
    if params.state != "all":
        query = query.filter(state=params.state)
    page = await paginate(query, params)
    page.items = [
        {
            "id": item.id, "distribution": row.id, "actor_url": item.actor_url, "handle": item.handle,
            "amount": amount_text(int(item.amount), token_type), "state": item.state,
            "claimed_by": item.claimed_by_id, "entry": item.entry_id, "updated_at": iso(item.updated_at),
        }
        for item in page.items
    ]
    return page


# ---------------------------------------------------------------- the machines' handlers


@DISTRIBUTION_RUNS.handler(may={RunState.ALLOCATED.value})
async def allocate(site: Site, row: Distribution, lease: Lease) -> Outcome:
    """Write the allocations a chunk at a time from the entry reached; at the end, give back what
    entries removed since the hold leave over."""
    network = await Network.get(id=row.network_id).select_related("set")
    while True:
        async with in_transaction():
            chunk = await _live_entries(network).filter(id__gt=row.entry_cursor, id__lte=row.max_entry_id).order_by("id").limit(CHUNK)
            room = row.entries - row.allocated
            chunk = chunk[:room]
            if not chunk:
                return await lease.commit(row, await _finish(site, row))
            await Allocation.bulk_create([
                Allocation(
                    id=new_id(), distribution_id=row.id, actor_url=entry.actor_url, handle=entry.handle,
                    entry_token_id=entry.token_id, amount=row.amount, state=AllocationState.HELD.value,
                    next_at=row.expires_at,
                )
                for entry in chunk
            ])
            values = {"entry_cursor": chunk[-1].id, "allocated": row.allocated + len(chunk)}
            await lease.save(row, **values)
        for name, value in values.items():
            setattr(row, name, value)


async def _finish(site: Site, row: Distribution) -> Go:
    ctx = await owner_context(site, row.owner_id)
    token_type = await TokenType.get(id=row.type_id)
    left = row.entries - row.allocated
    note = None
    if left > 0:
        owner = ctx.require_actor()
        await release_from_escrow(ctx, row, token_type, int(row.amount) * left, owner,
                                  f"distribution {row.id} ({row.name}): {left} entries left the network; given back"[:500])
        note = f"{left} entries left the network before they were allocated; their units went back to you"
    await ctx.emit("distribution.allocated", "distribution", row.id, {
        "distribution": row.id, "type": token_type.id, "amount": amount_text(int(row.amount), token_type),
        "entries": row.allocated,
    })
    return Go(RunState.ALLOCATED.value, values={"note": note} if note else {})


@DISTRIBUTION_EXPIRIES.handler(may={AllocationState.EXPIRED.value})
async def expire_allocation(site: Site, row: Allocation, lease: Lease) -> Outcome:
    """An allocation nobody claimed by its distribution's expiry: its units go back to the distributor."""
    async with in_transaction():
        await lease.save(row, entry_id=None)  # locks the row first, as a claim does (LostLease if claimed)
        distribution = await Distribution.get(id=row.distribution_id)
        ctx = await owner_context(site, distribution.owner_id)
        token_type = await TokenType.get(id=distribution.type_id)
        owner = ctx.require_actor()
        entry_id = await release_from_escrow(
            ctx, distribution, token_type, int(row.amount), owner,
            f"distribution {distribution.id} ({distribution.name}): expired unclaimed for {row.actor_url}"[:500],
        )
        await Distribution.filter(id=distribution.id).update(expired=F("expired") + 1)
        await ctx.emit("distribution.allocation.expired", "distribution_allocation", row.id, {
            "distribution": distribution.id, "type": token_type.id, "amount": amount_text(int(row.amount), token_type),
            "actor_url": row.actor_url, "to": owner.id, "entry": entry_id,
        })
        return await lease.commit(row, Go(AllocationState.EXPIRED.value, values={"entry_id": entry_id}))

"""The ledger: create, give, burn, balance, list, trace, flag (the ssb-tokens set, strict).

Every create and give is an *output* owned by its recipient; `remaining` is its unspent
part. Gives and burns consume outputs through LedgerSource rows. Spending is a
conditional decrement (`remaining >= x`), so the database refuses a double spend even
when two processes race on PostgreSQL; on SQLite transactions are serialised.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import Field, RootModel, field_validator, model_validator
from tortoise.connection import connections
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from .. import sql
from ..actors import Actor, Role, UserStatus
from ..amounts import check_in_range, to_minor
from ..auctions import sealed_escrows
from ..context import Context, Site
from ..errors import Conflict, Forbidden, NotFound, Unprocessable
from ..holdings import Holding, OnwardOut, remote_holdings
from ..ledger import EntryKind, LedgerEntry, LedgerFlag
from ..ledger_commit import run_grouped
from ..outputs import Output, Paged, Timestamp
from ..paging import ListInput, paginate
from ..pools import refuse_resale, resale_lookup
from ..registry import REGISTRY, Access, Input, Transaction
from ..tokens import TokenType
from .entries import (
    EntryRow,
    amount_text,
    entry_rows,
    entry_views,
    record_entry,
    reserve_supply,
    spend_token_unit,
    unit,
)
from .licensing import charge_mint
from .tokens import check_token_if_match, get_visible_token, transfer_token

__all__ = ["balance_of", "resolve_actor"]

AMOUNT = Field(min_length=1, max_length=40, description="decimal string, e.g. \"12.50\"")
ID = Field(min_length=1, max_length=64)
TYPE = Field(
    None, min_length=1, max_length=2048,
    description="a type's id, or the URL of a type of another server you hold units of; "
    "required unless from_operation is given",
)
FLAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
MAX_SOURCES = 100
MAX_ALL_OUTPUTS = 1000  # outputs one give or burn of `all` may spend (one source row each)
AUTO_SPEND_ATTEMPTS = 20


# ---------------------------------------------------------------- lookups


def _type_sql() -> str:
    return f"SELECT {sql.columns(TokenType, 't')} FROM token_types t WHERE t.id = ?"


def _type_from(rows: list[dict[str, Any]], type_id: str) -> TokenType:
    if not rows or rows[0]["t__is_deleted"]:
        raise NotFound(f"there is no token type {type_id!r}", code="type-not-found")
    return sql.load(TokenType, rows[0], "t")


async def _ledger_type(type_id: str) -> TokenType:
    return _type_from(await sql.fetch(_type_sql(), type_id), type_id)


def split_handle(handle: str, ctx: Context) -> tuple[str, str | None]:
    """`bob`, `@bob` or `bob@<this domain>` -> ("bob", None); `bob@other.host` -> ("bob", "other.host")."""
    name = handle.strip().lstrip("@")
    username, _, domain = name.partition("@")
    if domain and domain.lower() != ctx.site.domain.lower():
        return username.lower(), domain.lower()
    return username.lower(), None


async def _remote_actor(handle: str, username: str, domain: str, field: str, site: Site | None = None) -> Actor:
    """A remote actor we know. Remote actors become known when they are looked up
    (POST /api/v1/federation/lookup), followed or heard from; given a `site` whose server
    installed `find_remote_actor` (the network lives there, not in models), an unknown one is
    looked up now (give calls this before it opens its transaction)."""
    remote = await Actor.get_or_none(username=username, domain=domain, uri__isnull=False)
    if remote is None and site is not None and site.find_remote_actor is not None:
        remote = await site.find_remote_actor(site, f"{username}@{domain}")
    if remote is None:
        raise Unprocessable(
            f"{handle!r} is on another server and not known here yet: look it up first "
            "(POST /api/v1/federation/lookup) or follow it",
            code="remote-actor-unknown",
            errors=[{"field": field, "message": "unknown remote actor"}],
        )
    return remote


def _actor_sql() -> str:
    """A local user's actor, or a local organization's (an actor with no user: issue 19)."""
    return (
        f"SELECT u.status, {sql.columns(Actor, 'a')} FROM actors a LEFT JOIN users u ON u.actor_id = a.id"
        " WHERE a.username = ? AND a.domain = '' AND (u.id IS NOT NULL OR a.kind = 'Organization')"
    )


def _actor_from(rows: list[dict[str, Any]], handle: str) -> Actor:
    if not rows or rows[0]["status"] == UserStatus.DELETED.value:
        raise NotFound(f"there is no user {handle!r} on this server", code="actor-not-found")
    return sql.load(Actor, rows[0], "a")


async def resolve_actor(handle: str, ctx: Context, *, field: str = "to", look_up: bool = False) -> Actor:
    """The actor a handle names: a local user, or a remote actor we know (see split_handle);
    with `look_up`, one we have not seen yet is looked up now (see _remote_actor)."""
    username, domain = split_handle(handle, ctx)
    if domain is not None:
        return await _remote_actor(handle, username, domain, field, ctx.site if look_up else None)
    return _actor_from(await sql.fetch(_actor_sql(), username), handle)


# ---------------------------------------------------------------- spending


async def _decrement(output_id: str, amount: int) -> int:
    """Spend `amount` of an output only if that much is unspent: the double-spend guard."""
    return await sql.execute(
        "UPDATE ledger_entries SET remaining = remaining - ? WHERE id = ? AND remaining >= ?",
        amount,
        output_id,
        amount,
    )


async def _spend_explicit(owner: Actor, token_type: TokenType, sources: list[tuple[int, str]]) -> list[tuple[str, int]]:
    """Consume exactly the named outputs; any that is not ours, or is spent, is refused."""
    spent = []
    for amount, source_id in sorted(sources, key=lambda pair: pair[1]):  # one lock order: no deadlocks
        source = await LedgerEntry.get_or_none(id=source_id)
        if source is None or source.recipient_id != owner.id:
            raise NotFound(f"source {source_id!r} is not an output you hold", code="source-not-found")
        if source.type_id != token_type.id:
            raise Unprocessable(f"source {source_id!r} is of another token type", code="source-type-mismatch")
        if await _decrement(source_id, amount) != 1:
            raise Conflict(
                f"source {source_id!r} does not have {amount_text(amount, token_type)} unspent", code="insufficient"
            )
        spent.append((source_id, amount))
    return spent


SPEND_EACH_CHUNK = 1000  # outputs per UPDATE of _spend_each (two values each)


async def _spend_each(owner: Actor, token_type: TokenType, sources: Sequence[tuple[int, str]]) -> list[tuple[str, int]]:
    """Consume exactly `amount` of each named output, each for an entry of its own (an escrow
    giving back thousands of holds), with one UPDATE per thousand outputs instead of two
    statements each: the same conditional decrement as `_spend_explicit` (`remaining >= x`,
    the owner's, of this type), joined to a list of (id, amount); an output named twice counts
    once. All or nothing, inside the caller's transaction: unless every output was decremented,
    409 and the caller rolls back. Chunks go in id order, but within one the join picks the
    order rows are locked in: callers that may race on the same outputs hold a lock of their
    own (the market: its lot's row)."""
    ordered = sorted(sources, key=lambda pair: pair[1])
    for start in range(0, len(ordered), SPEND_EACH_CHUNK):
        chunk = ordered[start : start + SPEND_EACH_CHUNK]
        if len(chunk) == 1:  # one output (a bid outbid): a join costs SQLite about 0.1 ms more than this
            [(amount, source_id)] = chunk
            changed = await sql.execute(
                "UPDATE ledger_entries SET remaining = remaining - ? "
                "WHERE id = ? AND recipient_id = ? AND type_id = ? AND remaining >= ?",
                amount, source_id, owner.id, token_type.id, amount,
            )
        else:
            # (VALUES ...) names its columns column1, column2 in SQLite and PostgreSQL alike; a WITH
            # that named them would hide the count from tortoise, which counts an UPDATE's changes only
            changed = await sql.execute(
                "UPDATE ledger_entries SET remaining = ledger_entries.remaining - spent.column2 "
                f"FROM (VALUES {', '.join('(?, CAST(? AS BIGINT))' for _ in chunk)}) AS spent "
                "WHERE ledger_entries.id = spent.column1 AND ledger_entries.recipient_id = ? "
                "AND ledger_entries.type_id = ? AND ledger_entries.remaining >= spent.column2",
                *[value for amount, source_id in chunk for value in (source_id, amount)], owner.id, token_type.id,
            )
        if changed != len(chunk):
            raise Conflict(
                f"{len(chunk) - changed} of the outputs to spend are not yours, of another type or already spent",
                code="insufficient",
            )
    return [(source_id, amount) for amount, source_id in ordered]


async def _spend_from_oldest_output(owner: Actor, token_type: TokenType, amount: int) -> list[tuple[str, int]]:
    """The common case in one statement: the oldest unspent output covers the whole amount."""
    rows = await sql.fetch(
        "UPDATE ledger_entries SET remaining = remaining - ? WHERE id = ("
        "SELECT id FROM ledger_entries WHERE recipient_id = ? AND type_id = ? AND remaining > 0 ORDER BY id LIMIT 1"
        ") AND remaining >= ? RETURNING id",
        amount,
        owner.id,
        token_type.id,
        amount,
    )
    return [(rows[0]["id"], amount)] if rows else []


async def _spend_oldest_first(owner: Actor, token_type: TokenType, amount: int) -> list[tuple[str, int]]:
    """Consume the owner's unspent outputs oldest first; re-read when a race took one."""
    spent = await _spend_from_oldest_output(owner, token_type, amount)
    if spent:
        return spent
    needed = amount
    for _ in range(AUTO_SPEND_ATTEMPTS):
        outputs = [
            (row["id"], int(row["remaining"]))
            for row in await sql.fetch(
                "SELECT id, remaining FROM ledger_entries"
                " WHERE recipient_id = ? AND type_id = ? AND remaining > 0 ORDER BY id",
                owner.id,
                token_type.id,
            )
        ]
        if sum(remaining for _, remaining in outputs) < needed:
            raise Conflict(
                f"insufficient balance: {amount_text(needed, token_type)} needed",
                code="insufficient",
            )
        raced = False
        for output_id, remaining in outputs:
            take = min(remaining, needed)
            if await _decrement(output_id, take) != 1:
                raced = True
                break
            spent.append((output_id, take))
            needed -= take
            if needed == 0:
                return spent
        if not raced:
            break
    raise Conflict("the balance changed while spending; try again", code="concurrent-spend")


async def _spend_remainder(owner: Actor, token_type: TokenType, output_id: str) -> list[tuple[str, int]]:
    """All that remains of one output of the owner's, at the moment it is spent: read it, then
    the same conditional decrement as any spend; when another spend of it came first, read it
    again. Of racing spends of all of it exactly one wins; the others find nothing left (409)."""
    for _ in range(AUTO_SPEND_ATTEMPTS):
        rows = await sql.fetch("SELECT recipient_id, type_id, remaining FROM ledger_entries WHERE id = ?", output_id)
        if not rows or rows[0]["recipient_id"] != owner.id:
            raise NotFound(f"operation {output_id!r} is not an output you hold", code="source-not-found")
        if rows[0]["type_id"] != token_type.id:
            raise Unprocessable(f"operation {output_id!r} is of another token type", code="source-type-mismatch")
        remaining = int(rows[0]["remaining"])
        if remaining == 0:
            raise Conflict(f"operation {output_id!r} has nothing left unspent", code="insufficient")
        if await _decrement(output_id, remaining) == 1:  # `remaining` only ever decreases
            return [(output_id, remaining)]
    raise Conflict("the output changed while spending; try again", code="concurrent-spend")


async def _spend_all(owner: Actor, token_type: TokenType) -> list[tuple[str, int]]:
    """Every unspent output of the owner's of this type, whole, or nothing (409): a spend that
    lost a race for one of them, or an output that arrived meanwhile, undoes it all (the
    caller's transaction rolls back)."""
    outputs = [
        (row["id"], int(row["remaining"]))
        for row in await sql.fetch(
            "SELECT id, remaining FROM ledger_entries WHERE recipient_id = ? AND type_id = ? AND remaining > 0 ORDER BY id",
            owner.id,
            token_type.id,
        )
    ]
    if not outputs:
        raise Conflict(f"you hold no {token_type.symbol}: there is nothing to spend", code="insufficient")
    if len(outputs) > MAX_ALL_OUTPUTS:
        raise Unprocessable(
            f"your {token_type.symbol} are in {len(outputs)} outputs, more than the {MAX_ALL_OUTPUTS} one "
            "operation may spend: give an amount (oldest first) in parts",
            code="too-many-outputs",
        )
    for output_id, remaining in outputs:  # by id: the lock order of every spend
        if await _decrement(output_id, remaining) != 1:  # `remaining` only ever decreases
            raise Conflict("the balance changed while spending; nothing was given: try again", code="concurrent-spend")
    left = await sql.fetch(
        "SELECT id FROM ledger_entries WHERE recipient_id = ? AND type_id = ? AND remaining > 0 LIMIT 1",
        owner.id,
        token_type.id,
    )
    if left:
        raise Conflict("the balance changed while spending; nothing was given: try again", code="concurrent-spend")
    return outputs


async def _spend(
    owner: Actor,
    token_type: TokenType,
    amount: int | None,
    sources: list[tuple[int, str]] | None,
    *,
    from_operation: str | None = None,
    everything: bool = False,
) -> list[tuple[str, int]]:
    """Spend what the input chose: the whole balance (`everything`), all that remains of one
    output (`from_operation` without an amount), `amount` of it, explicit `sources`, or
    `amount` oldest first. Each spent output is a conditional decrement (`remaining >= x`)."""
    if everything:
        return await _spend_all(owner, token_type)
    if from_operation is not None:
        if amount is None:
            return await _spend_remainder(owner, token_type, from_operation)
        return await _spend_explicit(owner, token_type, [(amount, from_operation)])
    if amount is None:
        amount = sum(pair[0] for pair in sources or [])
    if not sources:
        return await _spend_oldest_first(owner, token_type, amount)
    if sum(pair[0] for pair in sources) != amount:
        raise Unprocessable("the source amounts must add up to the amount", code="sources-mismatch")
    return await _spend_explicit(owner, token_type, sources)


# ---------------------------------------------------------------- inputs


def _is_url(value: str | None) -> bool:
    return value is not None and value.startswith(("https://", "http://"))


def _remote(params: GiveInput | BurnInput) -> bool:
    """Units of another server's type: named by the type's URL or an entry URL."""
    return _is_url(params.type) or _is_url(params.from_operation)


async def _elsewhere(ctx: Context, kind: str, params: GiveInput | BurnInput) -> dict[str, Any]:
    """A give or burn of units of another server's type: asked of that origin (Site.remote_ledger)."""
    if ctx.site.remote_ledger is None:
        raise NotFound(f"there is no token type {params.type!r} here", code="type-not-found")
    return await ctx.site.remote_ledger(ctx, kind, params)


class SourcesMixin(Input):
    sources: list[tuple[str, str]] | None = Field(
        None,
        max_length=MAX_SOURCES,
        description="explicit outputs to spend: [[amount, operation_id], ...] (entry URLs for a remote type)",
    )

    @field_validator("sources")
    @classmethod
    def _distinct(cls, value: list[tuple[str, str]] | None) -> list[tuple[str, str]] | None:
        if value is not None:
            if not value:
                raise ValueError("give at least one source, or leave sources out")
            ids = [source_id for _, source_id in value]
            if len(set(ids)) != len(ids):
                raise ValueError("an operation may be named once")
            if any(not source_id or (len(source_id) > 64 and not _is_url(source_id)) or len(source_id) > 2048 for source_id in ids):
                raise ValueError("operation ids are 1-64 characters (entry URLs at most 2048)")
        return value


def _minor_sources(sources: list[tuple[str, str]] | None, token_type: TokenType) -> list[tuple[int, str]] | None:
    if sources is None:
        return None
    minor = [
        (to_minor(amount, token_type.smallest_unit, field=f"sources.{index}.0"), source_id)
        for index, (amount, source_id) in enumerate(sources)
    ]
    total = sum(amount for amount, _ in minor)
    check_in_range(total, token_type.smallest_unit, field="sources", what="the sources add up to more than")
    return minor


class CreateInput(Input):
    type: str = ID
    amount: str = AMOUNT
    description: str = Field("", max_length=1000)


class ChoiceMixin(SourcesMixin):
    """What a give or burn spends: `amount` (oldest first, or from `sources`), all that remains
    of one output (`from_operation`), `amount` of that output, or everything of a type (`all`)."""

    from_operation: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="an output of yours to spend from: all that remains of it, or `amount` of it; "
        "`type` may then be left out (the entry's URL, for units held on another server)",
    )
    all: bool = Field(False, description="spend your whole balance of `type` (every unspent output)")

    def _check_choice(self, type_id: str | None, amount: str | None) -> None:
        if self.all and (amount is not None or self.sources or self.from_operation is not None):
            raise ValueError("`all` spends your whole balance: leave out amount, sources and from_operation")
        if self.from_operation is not None and self.sources:
            raise ValueError("name the output to spend with from_operation or with sources, not both")
        if type_id is None and self.from_operation is None:
            raise ValueError("give the type (or from_operation, whose type it is)")


class GiveInput(ChoiceMixin):
    type: str | None = TYPE
    amount: str | None = Field(
        None, min_length=1, max_length=40, description="decimal string, e.g. \"12.50\"; left out with from_operation or all"
    )
    to: str = Field(min_length=1, max_length=320, description="username, or user@host")
    token: str | None = Field(None, min_length=1, max_length=64, description="the token to hand over (unique types)")
    description: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _what_to_give(self) -> GiveInput:
        self._check_choice(self.type, self.amount)
        if self.amount is None and self.from_operation is None and not self.all:
            raise ValueError("give an amount, from_operation, or all")
        if self.all and self.token is not None:
            raise ValueError("`all` gives units of a fungible type: leave out token")
        return self


class BurnInput(ChoiceMixin):
    type: str | None = TYPE
    amount: str | None = Field(None, min_length=1, max_length=40)
    description: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _amount_or_sources(self) -> BurnInput:
        self._check_choice(self.type, self.amount)
        if self.amount is None and not self.sources and self.from_operation is None and not self.all:
            raise ValueError("give an amount, sources, from_operation or all to burn")
        return self


async def _chosen_type(owner: Actor, params: ChoiceMixin, type_id: str | None) -> str:
    """The type named, or else the type of the `from_operation` output (which must be the owner's)."""
    if type_id is not None:
        return type_id
    assert params.from_operation is not None  # the input's validator
    rows = await sql.fetch("SELECT type_id, recipient_id FROM ledger_entries WHERE id = ?", params.from_operation)
    if not rows or rows[0]["recipient_id"] != owner.id:
        raise NotFound(f"operation {params.from_operation!r} is not an output you hold", code="source-not-found")
    return str(rows[0]["type_id"])


def _whole_only(token_type: TokenType, params: ChoiceMixin) -> None:
    if not token_type.fungible and (params.all or params.from_operation is not None):
        raise Unprocessable(
            "a unique token is given by its token id, one at a time: from_operation and all are for fungible types",
            code="unique-type",
        )


# ---------------------------------------------------------------- operations


class FlagOut(Output):
    label: str
    by: str | None = Field(description="the handle of who set it")
    at: Timestamp


class EntryOut(Output):
    """A ledger operation (models/operations/entries.py); amounts are decimal strings."""

    id: str
    kind: Literal["create", "give", "burn"]
    type: str
    token: str | None
    author: str = Field(description="handle")
    recipient: str | None = Field(description="handle; null for a burn")
    amount: str
    remaining: str | None
    status: Literal["unspent", "spent"] | None
    sources: list[tuple[str, str]] = Field(description="[amount, source entry id] pairs")
    description: str
    flags: list[str]
    flag_details: list[FlagOut]
    created_at: Timestamp


class TypeBalanceOut(Output):
    type: str = Field(description="a type's id, or the URL of a type of another server")
    symbol: str
    balance: str
    created: str
    received: str
    given: str
    burnt: str
    origin: str | None = Field(None, description="for a type of another server: the server that keeps its ledger")
    pending: str | None = Field(None, description="for a type of another server: asked of its origin, not answered yet")


class OneBalanceOut(TypeBalanceOut):
    owner: str


class AllBalancesOut(Output):
    owner: str
    balances: list[TypeBalanceOut]


class SeveralBalancesOut(Output):
    owners: list[OneBalanceOut | AllBalancesOut] = Field(description="one balance per owner named, in that order")


class BalanceOut(RootModel[OneBalanceOut | AllBalancesOut | SeveralBalancesOut]):
    """An owner's balance of one type (type given), or of every type they hold; with `owners`,
    that for each of them."""


class TraceEdgeOut(Output):
    entry: str
    source: str
    amount: str


class TraceOut(Output):
    operation: EntryOut
    ancestors: list[EntryOut]
    roots: list[str]
    edges: list[TraceEdgeOut]
    truncated: bool


@REGISTRY.operation("ledger.create", CreateInput, output=EntryOut)
async def create(ctx: Context, params: CreateInput) -> dict[str, Any]:
    """Mint new units of a type you own."""
    token_type = await _ledger_type(params.type)
    actor = ctx.require_actor()
    if token_type.owner_id != actor.id:
        raise Forbidden("only the owner of a token type can mint it", code="not-owner")
    if not token_type.fungible:
        raise Unprocessable(
            "a unique token type has no units to mint: create tokens with POST /api/v1/tokens",
            code="unique-type",
        )
    amount = to_minor(params.amount, token_type.smallest_unit)
    await charge_mint(ctx, token_type, amount)  # a derived type: its contracts allow it and count it
    await reserve_supply(token_type, amount)
    return await record_entry(ctx, EntryKind.CREATE, token_type, amount, actor, [], params.description)


_OLDEST_OUTPUT_SQL = (
    "SELECT id, remaining FROM ledger_entries WHERE recipient_id = ? AND type_id = ? AND remaining > 0 ORDER BY id LIMIT 1"
)


class GiveOut(RootModel[EntryOut | OnwardOut]):
    """The entry (a type of this server), or the request to the type's origin (another server's:
    201 when it answered, 202 while it is pending)."""


@REGISTRY.operation("ledger.give", GiveInput, output=GiveOut, transaction=Transaction.OWN)
async def give(ctx: Context, params: GiveInput) -> dict[str, Any]:
    """Give units to another actor: an amount (oldest first, or from explicit sources), all that
    remains of one output (`from_operation`), or your whole balance of a type (`all`). Units of
    another server's type (its URL, or an entry URL as `from_operation`) are given by asking it."""
    if _remote(params):
        return await _elsewhere(ctx, "give", params)
    owner = ctx.require_actor()
    username, domain = split_handle(params.to, ctx)
    type_id = await _chosen_type(owner, params, params.type)
    # the no-resale rule's read rides in the same batch: no trip of its own (docs/benchmarks.md)
    lookups = [(_type_sql(), type_id), (_OLDEST_OUTPUT_SQL, owner.id, type_id), resale_lookup(owner.id, type_id, spends=params)]
    if domain is None:
        lookups.append((_actor_sql(), username))
    type_rows, oldest, resale_rows, *actor_rows = await sql.fetch_together(*lookups)
    token_type = _type_from(type_rows, type_id)
    amount = None if params.amount is None else to_minor(params.amount, token_type.smallest_unit)
    sources = _minor_sources(params.sources, token_type)
    if domain is None:
        recipient = _actor_from(actor_rows[0], params.to)
    else:  # remote: the entry is delivered to its inbox like any other ledger activity
        recipient = await _remote_actor(params.to, username, domain, "to", ctx.site)
    if recipient.id == owner.id:
        raise Unprocessable("you cannot give to yourself", code="self-give")
    if token_type.fungible and params.token is not None:
        raise Unprocessable("units of a fungible type are given by amount, not by token", code="fungible-type")
    _whole_only(token_type, params)
    refuse_resale(resale_rows, token_type, recipient, spends=params)
    chosen = params.from_operation is not None or params.all
    if token_type.fungible and amount is not None and not sources and not chosen and oldest and int(oldest[0]["remaining"]) >= amount:
        done = await _give_from_output(ctx, token_type, amount, recipient, oldest[0]["id"], params.description)
        if done is not None:
            return done
    async with in_transaction():
        if token_type.fungible:
            spent = await _spend(
                owner, token_type, amount, sources, from_operation=params.from_operation, everything=params.all
            )
            total = sum(taken for _, taken in spent)
            return await record_entry(ctx, EntryKind.GIVE, token_type, total, recipient, spent, params.description)
        assert amount is not None  # a unique type: neither from_operation nor all (_whole_only)
        return await _give_unique(ctx, token_type, amount, recipient, params)


async def _give_from_output(
    ctx: Context, token_type: TokenType, amount: int, recipient: Actor | None, output_id: str, description: str,
    *, kind: EntryKind = EntryKind.GIVE, then: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> dict[str, Any] | None:
    """The common give (or burn) in one database round trip: the oldest unspent output covers it.

    The entry, its source and its event are written together with the conditional decrement
    (the double-spend guard) in one transaction, committed together with concurrent gives
    (models/ledger_commit.py); None when another give spent that output first, and the caller
    then takes the general path, which re-reads. `then(view)` adds writes of the caller's to
    the same transaction (a remote holder's request id: models/operations/remote_spends.py).
    """
    with sql.deferred() as writes:
        view = await record_entry(ctx, kind, token_type, amount, recipient, [(output_id, amount)], description)
        if then is not None:
            await then(view)
    guard = sql.Statement(
        "UPDATE ledger_entries SET remaining = remaining - ? WHERE id = ? AND remaining >= ?",
        (amount, output_id, amount),
        expect_rows=1,
    )
    return view if await run_grouped([guard, *writes]) else None


async def _give_unique(ctx: Context, token_type: TokenType, amount: int, recipient: Actor, params: GiveInput) -> dict[str, Any]:
    """Hand over one unique token: spend its output, record the give, change its owner."""
    if params.token is None:
        raise Unprocessable("name the token to give: this type is unique", code="token-required")
    if amount != unit(token_type) or params.sources:
        raise Unprocessable("a unique token is given whole: amount 1 and no sources", code="unique-amount")
    token = await get_visible_token(ctx, params.token)
    if token.type_id != token_type.id:
        raise Unprocessable(f"token {token.id} is not of type {token_type.id}", code="token-type-mismatch")
    await check_token_if_match(ctx, token)
    spent = await spend_token_unit(ctx.require_actor(), token)
    view = await record_entry(ctx, EntryKind.GIVE, token_type, amount, recipient, spent, params.description, token)
    await transfer_token(ctx, token, recipient)
    return view


@REGISTRY.operation("ledger.burn", BurnInput, output=GiveOut, transaction=Transaction.OWN)
async def burn(ctx: Context, params: BurnInput) -> dict[str, Any]:
    """Destroy units you hold: an amount (oldest first), explicit sources, all that remains of
    one output (`from_operation`), or your whole balance of a type (`all`). Units of another
    server's type are burnt by asking it."""
    if _remote(params):
        return await _elsewhere(ctx, "burn", params)
    async with in_transaction():
        return await _burn(ctx, params)


async def _burn(ctx: Context, params: BurnInput) -> dict[str, Any]:
    owner = ctx.require_actor()
    token_type = await _ledger_type(await _chosen_type(owner, params, params.type))
    if not token_type.fungible:
        raise Unprocessable("a unique token is burnt by deleting it: DELETE /api/v1/tokens/{id}", code="unique-type")
    sources = _minor_sources(params.sources, token_type)
    amount = None if params.amount is None else to_minor(params.amount, token_type.smallest_unit)
    spent = await _spend(owner, token_type, amount, sources, from_operation=params.from_operation, everything=params.all)
    total = sum(taken for _, taken in spent)
    return await record_entry(ctx, EntryKind.BURN, token_type, total, None, spent, params.description)


MAX_OWNERS = 20  # handles one list or balance may name


def _handles(value: Any) -> Any:
    """`owners` as a query gives it: "a,b,c", or the parameter repeated (a list of such)."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        handles = [part.strip() for item in value for part in item.split(",") if part.strip()]
        if not handles:
            raise ValueError("name at least one owner, or leave owners out")
        if len(handles) > MAX_OWNERS:
            raise ValueError(f"at most {MAX_OWNERS} owners at once")
        if any(len(handle) > 320 for handle in handles):
            raise ValueError("a handle is at most 320 characters")
        return list(dict.fromkeys(handle.lower().lstrip("@") for handle in handles))
    return value


class OwnersMixin(Input):
    owner: str | None = Field(None, min_length=1, max_length=320, description="username or user@host")
    owners: list[str] | None = Field(
        None,
        description=f"several owners: handles separated by commas (or the parameter repeated), at most {MAX_OWNERS}",
    )

    @field_validator("owners", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _handles(value)

    @model_validator(mode="after")
    def _one_or_several(self) -> OwnersMixin:
        if self.owner is not None and self.owners is not None:
            raise ValueError("give owner or owners, not both")
        return self


class BalanceInput(OwnersMixin):
    type: str | None = Field(None, min_length=1, max_length=2048, description="a type's id, or a remote type's URL")
    owner: str | None = Field(None, min_length=1, max_length=320, description="username; default: the caller")


async def _owner(ctx: Context, handle: str | None) -> Actor:
    if handle:
        return await resolve_actor(handle, ctx, field="owner")
    return ctx.require_actor()


async def _owners(ctx: Context, handles: list[str]) -> list[Actor]:
    """The actors the handles name, each once, in the order named."""
    actors: dict[str, Actor] = {}
    for handle in handles:
        actor = await resolve_actor(handle, ctx, field="owners")
        actors.setdefault(actor.id, actor)
    return list(actors.values())


# Each part of a balance, summed in two halves: SQLite's SUM() fails with "integer
# overflow" past 64 bits, and what an owner received over time may pass that although no
# balance or entry can. The halves (< 2**31 and < 2**32 per row) cannot overflow.
_BALANCE_PARTS = {
    "balance": ("remaining", "recipient_id = ?"),
    "created": ("amount", "kind = 'create' AND recipient_id = ?"),
    "received": ("amount", "kind = 'give' AND recipient_id = ?"),
    "given": ("amount", "kind = 'give' AND author_id = ?"),
    "burnt": ("amount", "kind = 'burn' AND author_id = ?"),
}
_HALF = 2**32
_BALANCE_SQL = (
    "SELECT "
    + ", ".join(
        f"SUM(CASE WHEN {condition} THEN {column} / {_HALF} ELSE 0 END) AS {name}_high, "
        f"SUM(CASE WHEN {condition} THEN {column} % {_HALF} ELSE 0 END) AS {name}_low"
        for name, (column, condition) in _BALANCE_PARTS.items()
    )
    + " FROM ledger_entries WHERE type_id = ? AND (recipient_id = ? OR author_id = ?)"
)


async def balance_of(owner: Actor, token_type: TokenType) -> dict[str, Any]:
    """Balance with its parts; unspent must equal created + received - given - burnt."""
    params = [owner.id, owner.id] * len(_BALANCE_PARTS) + [token_type.id, owner.id, owner.id]
    [row] = await sql.fetch(_BALANCE_SQL, *params)
    totals = {name: int(row[f"{name}_high"] or 0) * _HALF + int(row[f"{name}_low"] or 0) for name in _BALANCE_PARTS}
    return {
        "type": token_type.id,
        "symbol": token_type.symbol,
        **{name: amount_text(total, token_type) for name, total in totals.items()},
    }


@REGISTRY.operation("ledger.balance", BalanceInput, output=BalanceOut, access=Access.PUBLIC)
async def balance(ctx: Context, params: BalanceInput) -> dict[str, Any]:
    """An owner's balance of one type, or of every type they hold; or that of several owners."""
    remote_type = params.type if _is_url(params.type) else None
    token_type = await _ledger_type(params.type) if params.type and remote_type is None else None
    if params.owners is not None:
        owners = await _owners(ctx, params.owners)
        return {"owners": [await _balance(ctx, owner, token_type, remote_type) for owner in owners]}
    return await _balance(ctx, await _owner(ctx, params.owner), token_type, remote_type)


async def _balance(ctx: Context, owner: Actor, token_type: TokenType | None, remote_type: str | None) -> dict[str, Any]:
    handle = owner.handle(ctx.site.domain)
    if remote_type is not None:
        found = await remote_holdings(owner.id, remote_type) if not owner.domain else []
        if not found:
            raise NotFound(f"{handle} holds no units of {remote_type}", code="type-not-found")
        return {"owner": handle, **_remote_balance(found[0], ctx)}
    if token_type is not None:
        return {"owner": handle, **await balance_of(owner, token_type)}
    type_ids = await LedgerEntry.filter(recipient=owner).distinct().values_list("type_id", flat=True)
    types = await TokenType.filter(id__in=list(type_ids)).order_by("id")
    balances = [await balance_of(owner, one_type) for one_type in types]
    if not owner.domain:  # what our users hold on other servers, as their origins recorded it
        balances += [_remote_balance(holding, ctx) for holding in await remote_holdings(owner.id)]
    return {"owner": handle, "balances": balances}


def _remote_balance(holding: Holding, ctx: Context) -> dict[str, Any]:
    view = holding.view(domain=ctx.site.domain)
    parts = ("type", "symbol", "balance", "received", "given", "burnt", "origin", "pending")
    return {name: view[name] for name in parts} | {"created": "0"}


class ListEntriesInput(ListInput, OwnersMixin):
    type: str | None = Field(None, min_length=1, max_length=64)
    status: Literal["unspent", "spent", "all"] = "all"
    kind: EntryKind | None = None


@REGISTRY.operation("ledger.list", ListEntriesInput, output=Paged[EntryOut], access=Access.PUBLIC)
async def list_entries(ctx: Context, params: ListEntriesInput) -> Any:
    """Ledger entries, filtered by type, owner (or several owners), status (unspent/spent
    outputs) and kind. An owner's entries are those they received or wrote; by status, the
    outputs they hold."""
    query = LedgerEntry.all()
    if params.type:
        query = query.filter(type=await _ledger_type(params.type))
    if params.owners is not None:
        owner_ids = [owner.id for owner in await _owners(ctx, params.owners)]
    elif params.owner or params.status != "all":
        owner_ids = [(await _owner(ctx, params.owner)).id]
    else:
        owner_ids = None
    if params.status == "unspent":
        query = query.filter(recipient_id__in=owner_ids, remaining__gt=0)
    elif params.status == "spent":
        query = query.filter(recipient_id__in=owner_ids, remaining=0)
    elif owner_ids is not None:
        query = query.filter(Q(recipient_id__in=owner_ids) | Q(author_id__in=owner_ids))
    if params.kind:
        query = query.filter(kind=params.kind.value)
    page = await paginate(query, params)
    hidden = await sealed_from(ctx, page.items)
    page.items = await entry_views([entry for entry in page.items if entry.id not in hidden], ctx)
    return page


async def sealed_from(ctx: Context, entries: Sequence[LedgerEntry | EntryRow]) -> set[str]:
    """The entries the caller may not see yet: holds into (or out of) the escrow of a sealed
    auction still open, seen by their author (the bidder) alone (models/auctions.py)."""
    escrows = await sealed_escrows([entry.author_id for entry in entries] + [entry.recipient_id or "" for entry in entries])
    me = ctx.actor.id if ctx.actor is not None else None
    return {
        entry.id for entry in entries
        if (entry.recipient_id in escrows or entry.author_id in escrows) and entry.author_id != me
    }


async def _visible_entry(ctx: Context, entry: LedgerEntry | EntryRow) -> None:
    """404 for an entry the caller may not see yet (sealed_from), as for one that does not exist."""
    if await sealed_from(ctx, [entry]):
        raise NotFound(f"there is no ledger operation {entry.id!r}", code="operation-not-found")


class EntryIdInput(Input):
    id: str = ID


async def _entry(entry_id: str) -> LedgerEntry:
    entry = await LedgerEntry.get_or_none(id=entry_id)
    if entry is None:
        raise NotFound(f"there is no ledger operation {entry_id!r}", code="operation-not-found")
    return entry


@REGISTRY.operation("ledger.get", EntryIdInput, output=EntryOut, access=Access.PUBLIC)
async def get_entry(ctx: Context, params: EntryIdInput) -> dict[str, Any]:
    """One ledger operation."""
    entry = await _entry(params.id)
    await _visible_entry(ctx, entry)
    [view] = await entry_views([entry], ctx)
    return view


class TraceInput(EntryIdInput):
    limit: int = Field(10_000, ge=1, le=100_000)


_collector_pausers = 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a trace is built (or an award gives back
    thousands of bids: models/operations/market_escrow.py), on again after the last.

    A trace's rows, edges and views are many small containers that all stay alive until the
    answer is sent, and they hold no cycles: the collector has nothing to free among them, but
    it counts them. A 10,000-give trace set off about 500 collections, four of them full ones
    that walk every object of the process, where a 1,000-give trace set off none of those:
    about 40% of the long trace was the collector, and its time grew faster than the chain
    (bench/ledger_trace.py, 10k/1k 12-18 with it, 9.6-10.3 without). Other requests served
    meanwhile (a trace awaits its queries) only find their cycles freed a moment later.
    """
    global _collector_pausers
    if _collector_pausers == 0 and not gc.isenabled():  # someone else turned it off: leave it be
        yield
        return
    _collector_pausers += 1
    gc.disable()
    try:
        yield
    finally:
        _collector_pausers -= 1
        if _collector_pausers == 0:
            gc.enable()


@REGISTRY.operation("ledger.trace", TraceInput, output=TraceOut, access=Access.PUBLIC)
async def trace(ctx: Context, params: TraceInput) -> dict[str, Any]:
    """Every ancestor of an operation back to the creates it came from (one recursive query)."""
    with _collector_paused():
        return await _trace(ctx, params)


async def _trace(ctx: Context, params: TraceInput) -> dict[str, Any]:
    """The trace, read as plain rows (entry_rows) with each entry's sources taken from the
    walk's own edges: a model instance per entry cost more than the queries (and fed the
    collector, see _collector_paused)."""
    edges = await _ancestry_edges(params.id)
    ancestor_ids = sorted({source for _, source, _ in edges})
    truncated = len(ancestor_ids) > params.limit
    ancestor_ids = ancestor_ids[-params.limit :] if truncated else ancestor_ids
    rows = await entry_rows([params.id, *ancestor_ids])
    entry = next((row for row in rows if row.id == params.id), None)
    if entry is None:
        raise NotFound(f"there is no ledger operation {params.id!r}", code="operation-not-found")
    await _visible_entry(ctx, entry)  # its ancestors are the bidder's outputs: not sealed
    sources: dict[str, list[tuple[str, int]]] = {}
    for child, source, amount in edges:  # in source-row order, as entry_views reads them
        sources.setdefault(child, []).append((source, amount))
    views = await entry_views([entry, *(row for row in rows if row is not entry)], ctx, known_sources=sources)
    token_type = await TokenType.get(id=entry.type_id)
    roots = [view["id"] for view in views if view["kind"] == EntryKind.CREATE.value]
    return {
        "operation": views[0],
        "ancestors": views[1:],
        "roots": roots,
        "edges": [{"entry": child, "source": source, "amount": amount_text(amount, token_type)} for child, source, amount in edges],
        "truncated": truncated,
    }


# The edges of the walk, each source row once, in source-row order (the order a view lists an
# entry's sources in). UNION, not UNION ALL: two paths to one ancestor would walk it twice.
_TRACE_SQL = """
WITH RECURSIVE walk(id, entry_id, source_id, amount) AS (
    SELECT id, entry_id, source_id, amount FROM ledger_sources WHERE entry_id = {param}
    UNION
    SELECT s.id, s.entry_id, s.source_id, s.amount FROM ledger_sources s JOIN walk w ON s.entry_id = w.source_id
)
SELECT entry_id, source_id, amount FROM walk ORDER BY id
"""


async def _ancestry_edges(entry_id: str) -> list[tuple[str, str, int]]:
    connection = connections.get("default")
    param = "?" if connection.capabilities.dialect == "sqlite" else "$1"
    rows = await connection.execute_query_dict(_TRACE_SQL.format(param=param), [entry_id])
    return [(row["entry_id"], row["source_id"], int(row["amount"])) for row in rows]


class DescendantsInput(EntryIdInput):
    limit: int = Field(
        10_000, ge=1, le=100_000, description="at most this many source links are walked, nearest first"
    )


class DescendantsOut(Output):
    operation: EntryOut
    descendants: list[EntryOut] = Field(description="every operation that spent from it, directly or transitively, by id")
    edges: list[TraceEdgeOut]
    truncated: bool = Field(description="more links than `limit`: the farthest descendants are left out")


@REGISTRY.operation("ledger.descendants", DescendantsInput, output=DescendantsOut, access=Access.PUBLIC)
async def descendants(ctx: Context, params: DescendantsInput) -> dict[str, Any]:
    """Every operation descending from this one (the reverse of ledger.trace): where its units
    went, in one recursive query over the source links, nearest first, capped by `limit`."""
    with _collector_paused():
        edges = await _descent_edges(params.id, params.limit + 1)
        truncated = len(edges) > params.limit
        edges = edges[: params.limit]
        edges.sort(key=lambda edge: edge[0])  # source-row order, as a trace lists them
        descendant_ids = sorted({child for _, child, _, _ in edges})
        rows = await entry_rows([params.id, *descendant_ids])
        entry = next((row for row in rows if row.id == params.id), None)
        if entry is None:
            raise NotFound(f"there is no ledger operation {params.id!r}", code="operation-not-found")
        await _visible_entry(ctx, entry)
        hidden = await sealed_from(ctx, rows)  # a sealed hold that spent from this entry: left out
        if hidden:
            rows = [row for row in rows if row.id not in hidden]
            edges = [edge for edge in edges if edge[1] not in hidden]
        views = await entry_views([entry, *(row for row in rows if row is not entry)], ctx)
        token_type = await TokenType.get(id=entry.type_id)
        return {
            "operation": views[0],
            "descendants": views[1:],
            "edges": [
                {"entry": child, "source": source, "amount": amount_text(amount, token_type)}
                for _, child, source, amount in edges
            ],
            "truncated": truncated,
        }


# The walk the other way: the source rows that spend from the operation, then those that spend
# from what they made, and so on. Breadth first on both databases (a recursive CTE's queue), and
# both evaluate it only as far as the LIMIT asks, so a capped walk of a busy create stays cheap.
_DESCENT_SQL = """
WITH RECURSIVE walk(id, entry_id, source_id, amount) AS (
    SELECT id, entry_id, source_id, amount FROM ledger_sources WHERE source_id = {id}
    UNION
    SELECT s.id, s.entry_id, s.source_id, s.amount FROM ledger_sources s JOIN walk w ON s.source_id = w.entry_id
)
SELECT id, entry_id, source_id, amount FROM walk LIMIT {limit}
"""


async def _descent_edges(entry_id: str, limit: int) -> list[tuple[str, str, str, int]]:
    connection = connections.get("default")
    sqlite = connection.capabilities.dialect == "sqlite"
    query = _DESCENT_SQL.format(id="?" if sqlite else "$1", limit="?" if sqlite else "$2")
    rows = await connection.execute_query_dict(query, [entry_id, limit])
    return [(row["id"], row["entry_id"], row["source_id"], int(row["amount"])) for row in rows]


class FlagInput(EntryIdInput):
    flag: str = Field(min_length=1, max_length=50)

    @field_validator("flag")
    @classmethod
    def _label(cls, value: str) -> str:
        if not FLAG.match(value):
            raise ValueError("flags are 1-50 characters: a-z, 0-9, - and _, starting with a letter or digit")
        return value


MAX_FLAGS_PER_ACTOR = 20
MAX_LABELS = 20  # distinct labels on one operation, whoever set them


async def _locked_entry(entry_id: str) -> LedgerEntry:
    """The entry, its row locked until the operation commits (PostgreSQL; SQLite runs one
    writing transaction at a time), so `flags` is rebuilt from every committed flag row."""
    entry = await LedgerEntry.filter(id=entry_id).select_for_update().first()
    if entry is None:
        raise NotFound(f"there is no ledger operation {entry_id!r}", code="operation-not-found")
    return entry


async def _refresh_labels(entry: LedgerEntry) -> None:
    labels = await LedgerFlag.filter(entry_id=entry.id).distinct().values_list("label", flat=True)
    entry.flags = sorted({str(label) for label in labels})
    await entry.save(update_fields=["flags", "updated_at"])


@REGISTRY.operation("ledger.flag", FlagInput, output=EntryOut)
async def flag(ctx: Context, params: FlagInput) -> dict[str, Any]:
    """Add your label to a ledger operation (idempotent). Operations are public, so anyone
    signed in may flag one, as in ssb-tokens; each flag records who set it and when."""
    actor = ctx.require_actor()
    entry = await _locked_entry(params.id)
    if not await LedgerFlag.exists(entry_id=entry.id, label=params.flag, author_id=actor.id):
        if await LedgerFlag.filter(entry_id=entry.id, author_id=actor.id).count() >= MAX_FLAGS_PER_ACTOR:
            raise Unprocessable(
                f"you may set at most {MAX_FLAGS_PER_ACTOR} flags on one operation", code="too-many-flags"
            )
        if params.flag not in entry.flags and len(entry.flags) >= MAX_LABELS:
            raise Unprocessable(f"an operation carries at most {MAX_LABELS} different flags", code="too-many-flags")
        await LedgerFlag.create(entry=entry, label=params.flag, author=actor)
        await _refresh_labels(entry)
        await ctx.emit(
            "ledger.flagged", "ledger_entry", entry.id,
            {"flag": params.flag, "flags": entry.flags, "by": actor.handle(ctx.site.domain)},
        )
    [view] = await entry_views([entry], ctx)
    return view


@REGISTRY.operation("ledger.unflag", FlagInput, output=EntryOut)
async def unflag(ctx: Context, params: FlagInput) -> dict[str, Any]:
    """Remove your label from a ledger operation; a moderator or admin removes everyone's.

    A flag set before flags were attributed (no author) is removed by either party of the
    operation, as the rules of that time allowed, or by a moderator.
    """
    actor = ctx.require_actor()
    entry = await _locked_entry(params.id)
    rows = LedgerFlag.filter(entry_id=entry.id, label=params.flag)
    authors = {None if author is None else str(author) for author in await rows.values_list("author_id", flat=True)}
    if not authors:
        raise NotFound(f"operation {entry.id} has no flag {params.flag!r}", code="flag-not-found")
    moderator = ctx.has_role(Role.MODERATOR) or ctx.has_role(Role.ADMIN)
    party = actor.id in (entry.author_id, entry.recipient_id)
    if actor.id in authors:
        await rows.filter(author_id=actor.id).delete()  # your own flag; others' stay
    elif None in authors and party:
        await rows.filter(author_id__isnull=True).delete()  # unattributed: either party's to remove
    elif moderator:
        await rows.delete()
    else:
        raise Forbidden(
            f"the flag {params.flag!r} was set by someone else: only they or a moderator can remove it",
            code="not-flag-author",
        )
    await _refresh_labels(entry)
    await ctx.emit(
        "ledger.unflagged", "ledger_entry", entry.id,
        {"flag": params.flag, "flags": entry.flags, "by": actor.handle(ctx.site.domain)},
    )
    [view] = await entry_views([entry], ctx)
    return view

"""Ledger entries: recording one (with its sources and outbox event) and their JSON views.

Shared by the ledger operations and by token creation (a unique token's mint is an entry).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise.expressions import F

from .. import sql
from ..actors import Actor
from ..amounts import MAX_MINOR_UNITS, out_of_range, to_decimal_string
from ..base import iso
from ..context import Context
from ..errors import Conflict, Unprocessable
from ..events import LedgerEntryPayload
from ..ids import new_id, new_ids
from ..ledger import EntryKind, LedgerEntry, LedgerFlag, LedgerSource
from ..tokens import Token, TokenType

__all__ = [
    "EntryRow", "Give", "amount_text", "chunks", "entry_rows", "entry_views", "record_entry", "record_gives",
    "reserve_supply", "spend_token_unit",
]


def amount_text(minor: int, token_type: TokenType) -> str:
    return to_decimal_string(minor, token_type.smallest_unit)


@dataclass(frozen=True)
class NewEntry:
    """The columns of an entry just written, enough to render its view without reading it back."""

    id: str
    kind: str
    token_id: str | None
    amount: int
    remaining: int
    description: str
    flags: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EntryRow:
    """An entry as read for its view by `entry_rows`: one small object, where a LedgerEntry
    costs a model instance, its __dict__ and two parsed timestamps (a trace reads thousands)."""

    id: str
    kind: str
    type_id: str
    token_id: str | None
    author_id: str
    recipient_id: str | None
    amount: int
    remaining: int
    description: str
    flags: list[str]
    created_at: datetime


_ROW_COLUMNS = "id, kind, type_id, token_id, author_id, recipient_id, amount, remaining, description, flags, created_at"


def _row(row: Mapping[str, Any]) -> EntryRow:
    flags, created_at = row["flags"], row["created_at"]
    if isinstance(flags, (str, bytes)):  # SQLite's text, PostgreSQL's jsonb as asyncpg hands it over
        flags = orjson.loads(flags)
    if isinstance(created_at, str):  # SQLite stores ISO 8601 text; fromisoformat is C and reads it whole
        created_at = datetime.fromisoformat(created_at)
    return EntryRow(
        row["id"], row["kind"], row["type_id"], row["token_id"], row["author_id"], row["recipient_id"],
        int(row["amount"]), int(row["remaining"]), row["description"], flags or [], created_at,
    )


async def entry_rows(ids: Sequence[str]) -> list[EntryRow]:
    """The entries with these ids (those that exist), by id, in plain SQL for views."""
    rows: list[EntryRow] = []
    for chunk in chunks(list(ids)):
        placeholders = ", ".join("?" for _ in chunk)
        found = await sql.fetch(f"SELECT {_ROW_COLUMNS} FROM ledger_entries WHERE id IN ({placeholders})", *chunk)
        rows.extend(_row(row) for row in found)
    rows.sort(key=lambda row: row.id)
    return rows


def _view(
    entry: LedgerEntry | NewEntry | EntryRow,
    token_type: TokenType,
    author: Actor,
    recipient: Actor | None,
    sources: list[tuple[str, int]],
    domain: str,
    flag_details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "type": token_type.id,
        "token": entry.token_id,
        "author": author.handle(domain),
        "recipient": recipient.handle(domain) if recipient else None,
        "amount": amount_text(entry.amount, token_type),
        "remaining": amount_text(entry.remaining, token_type) if recipient else None,
        "status": ("unspent" if entry.remaining > 0 else "spent") if recipient else None,
        "sources": [[amount_text(amount, token_type), source_id] for source_id, amount in sources],
        "description": entry.description,
        "flags": list(entry.flags or []),  # distinct labels, as before flags were attributed
        "flag_details": flag_details or [],  # each flag: {label, by, at}
        "created_at": iso(entry.created_at),
    }


async def entry_views(
    entries: Sequence[LedgerEntry | EntryRow],
    ctx: Context,
    *,
    known_sources: Mapping[str, list[tuple[str, int]]] | None = None,
) -> list[dict[str, Any]]:
    """JSON views for ledger entries, loading their sources, types and actors in bulk.

    `known_sources` (entry id -> [(source id, amount)] in source-row order, for every entry
    that has sources) spares reading them again when the caller has them (a trace's edges).
    """
    if not entries:
        return []
    ids = [entry.id for entry in entries]
    sources: dict[str, list[tuple[str, int]]] = defaultdict(list)
    if known_sources is not None:
        sources.update(known_sources)
    for chunk in chunks(ids) if known_sources is None else []:
        rows = await LedgerSource.filter(entry_id__in=chunk).order_by("id").values_list("entry_id", "source_id", "amount")
        for entry_id, source_id, amount in rows:
            sources[entry_id].append((source_id, amount))
    type_ids = {entry.type_id for entry in entries}
    types = {t.id: t for t in await TokenType.filter(id__in=list(type_ids))}
    actor_ids = {entry.author_id for entry in entries} | {
        entry.recipient_id for entry in entries if entry.recipient_id
    }
    flagged = [entry.id for entry in entries if entry.flags]
    flag_rows: list[tuple[str, str, str, Any]] = []
    for chunk in chunks(flagged):
        query = LedgerFlag.filter(entry_id__in=chunk).order_by("created_at", "id")
        flag_rows += await query.values_list("entry_id", "label", "author_id", "created_at")
    actor_ids |= {row[2] for row in flag_rows if row[2] is not None}
    actors = {a.id: a for a in await Actor.filter(id__in=list(actor_ids))}
    details: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry_id, label, author_id, created_at in flag_rows:
        by = actors[author_id].handle(ctx.site.domain) if author_id in actors else None
        details[entry_id].append({"label": label, "by": by, "at": iso(created_at)})
    return [
        _view(
            entry,
            types[entry.type_id],
            actors[entry.author_id],
            actors.get(entry.recipient_id) if entry.recipient_id else None,
            sources[entry.id],
            ctx.site.domain,
            details.get(entry.id),
        )
        for entry in entries
    ]


def chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def _entry_columns(entry: NewEntry, token_type: TokenType, author: Actor, recipient: Actor | None) -> dict[str, Any]:
    """The ledger_entries row of a new entry, ready for `sql.insert_many`."""
    return {
        "id": entry.id, "kind": entry.kind, "type_id": token_type.id, "token_id": entry.token_id, "author_id": author.id,
        "recipient_id": recipient.id if recipient else None, "amount": entry.amount, "remaining": entry.remaining,
        "description": entry.description, "flags": "[]", "created_at": entry.created_at, "updated_at": entry.created_at,
    }


def _source_rows(entry: NewEntry, spent: Sequence[tuple[str, int]], ids: Iterator[str]) -> list[dict[str, Any]]:
    """The ledger_sources rows of a new entry, each with the next of `ids`."""
    return [
        {"id": next(ids), "entry_id": entry.id, "source_id": source_id, "amount": taken,
         "created_at": entry.created_at, "updated_at": entry.created_at}
        for source_id, taken in spent
    ]


def _payload(entry: NewEntry, token_type: TokenType, author: Actor, recipient: Actor | None, domain: str) -> dict[str, Any]:
    """The `ledger.<kind>` event's payload: the ids of the entry, its type and actors."""
    payload: LedgerEntryPayload = {
        "entry": entry.id,
        "kind": entry.kind,
        "type": token_type.id,
        "token": entry.token_id,
        "author": author.id,
        "author_handle": author.handle(domain),
        "recipient": recipient.id if recipient else None,
        "recipient_handle": recipient.handle(domain) if recipient else None,
        "amount": amount_text(entry.amount, token_type),
    }
    return dict(payload)


async def record_entry(
    ctx: Context,
    kind: EntryKind,
    token_type: TokenType,
    amount: int,
    recipient: Actor | None,
    spent: list[tuple[str, int]],
    description: str,
    token: Token | None = None,
) -> dict[str, Any]:
    """Write the entry and its sources, emit `ledger.<kind>` (with the ids of the entry, its type and
    actors) and return the entry's view.

    Plain INSERTs: this is the hottest write path (bench/ledger.py), and the ORM's
    model building cost more than the statements themselves.
    """
    author = ctx.require_actor()
    entry = NewEntry(
        id=new_id(),
        kind=kind.value,
        token_id=token.id if token else None,
        amount=amount,
        remaining=amount if recipient else 0,
        description=description,
        flags=[],
        created_at=sql.now(),
    )
    await sql.insert(LedgerEntry._meta.db_table, **_entry_columns(entry, token_type, author, recipient))
    await sql.insert_many(LedgerSource._meta.db_table, _source_rows(entry, spent, iter(new_ids(len(spent)))))
    view = _view(entry, token_type, author, recipient, spent, ctx.site.domain)
    await ctx.emit(f"ledger.{kind.value}", "ledger_entry", entry.id, _payload(entry, token_type, author, recipient, ctx.site.domain))
    return view


@dataclass(frozen=True)
class Give:
    """One give of `record_gives`: `amount` to `recipient`, out of the outputs in `spent`."""

    amount: int
    recipient: Actor
    spent: list[tuple[str, int]]
    description: str


async def record_gives(ctx: Context, token_type: TokenType, gives: Sequence[Give]) -> list[str]:
    """`record_entry` for many gives of one author (an escrow giving back its holds): the same
    entries, sources and `ledger.give` events, in order, written by a few multi-row INSERTs
    instead of three statements each. The entries' ids, in the order of `gives`."""
    author = ctx.require_actor()
    moment = sql.now()
    entry_ids, source_ids = new_ids(len(gives)), iter(new_ids(sum(len(give.spent) for give in gives)))
    entries, sources, events = [], [], []
    for entry_id, give in zip(entry_ids, gives, strict=True):
        entry = NewEntry(entry_id, EntryKind.GIVE.value, None, give.amount, give.amount, give.description, [], moment)
        entries.append(_entry_columns(entry, token_type, author, give.recipient))
        sources += _source_rows(entry, give.spent, source_ids)
        events.append((entry.id, _payload(entry, token_type, author, give.recipient, ctx.site.domain)))
    await sql.insert_many(LedgerEntry._meta.db_table, entries)
    await sql.insert_many(LedgerSource._meta.db_table, sources)
    await ctx.emit_many(f"ledger.{EntryKind.GIVE.value}", "ledger_entry", events)
    return entry_ids


async def reserve_supply(token_type: TokenType, amount: int) -> None:
    """Count `amount` as minted; refuse (422) past the type's supply limit or past what the
    `minted` column can hold, in the UPDATE itself so that racing mints cannot slip past."""
    ceiling = MAX_MINOR_UNITS if token_type.supply_limit is None else min(token_type.supply_limit, MAX_MINOR_UNITS)
    allowed = await TokenType.filter(id=token_type.id, minted__lte=ceiling - amount).update(
        minted=F("minted") + amount
    )
    if allowed == 1:
        return
    if token_type.supply_limit is None:
        raise out_of_range("amount", "this would make the minted total exceed", token_type.smallest_unit)
    raise Unprocessable(
        f"minting {amount_text(amount, token_type)} would pass the supply limit of "
        f"{amount_text(token_type.supply_limit, token_type)}",
        code="supply-limit-exceeded",
    )


def unit(token_type: TokenType) -> int:
    """One whole unit in minor units: what a unique token counts for in the ledger."""
    return int(10**token_type.smallest_unit)  # ** with an int exponent is typed int | float


async def spend_token_unit(owner: Actor, token: Token) -> list[tuple[str, int]]:
    """Consume the output that carries a unique token; 409 if the owner no longer holds it."""
    output = await LedgerEntry.get_or_none(token_id=token.id, recipient=owner, remaining__gt=0)
    if output is None:
        raise Conflict(f"you do not hold token {token.id}", code="token-not-held")
    updated = await LedgerEntry.filter(id=output.id, remaining=output.remaining).update(remaining=0)
    if updated != 1:
        raise Conflict(f"token {token.id} was given or burnt by another operation meanwhile", code="token-not-held")
    return [(output.id, output.remaining)]

"""The market's escrow (issue 17): what a lot sells and every bid's payment, held on the ledger.

Every lot has its own escrow actor (models/market.py). Listing a lot gives what it sells to
that actor, and a bid or offer gives its payment there: ordinary ledger gives, made with the
ledger's own conditional spends, so held units cannot be given, burnt or listed twice, and a
balance is always the sum of its unspent outputs. A release gives back exactly the hold's
output; the award gives the item to the winner and the winning payment to the seller out of the
escrow. Every movement is an entry with a description saying why. An award that gives back
thousands of held offers does it in bulk, still one entry and one event per offer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from .. import sql
from ..actors import Actor
from ..context import Context
from ..errors import Conflict
from ..ledger import EntryKind
from ..market import Bid, BidState, Lot
from ..tokens import Token, TokenType
from .entries import Give, chunks, record_entry, record_gives, spend_token_unit, unit
from .ledger import _collector_paused, _spend, _spend_each, _spend_explicit
from .market_views import bid_payload
from .tokens import transfer_token

__all__ = ["as_escrow", "hand_over_items", "hold", "hold_token", "pay_out", "release_all", "release_bid"]

def as_escrow(ctx: Context, escrow: Actor) -> Context:
    """A context in which the lot's escrow actor writes the entries (releases, the award's
    gives): it acts as `actor` with no user, as an origin acting for a remote holder does."""
    return replace(ctx, actor=escrow, user=None, remote=True)


async def hold(ctx: Context, owner: Actor, token_type: TokenType, amount: int, escrow: Actor, description: str) -> str:
    """Give `amount` of the owner's units to the escrow (oldest outputs first); the hold's entry id.
    409 insufficient when the owner has not that much unheld."""
    spent = await _spend(owner, token_type, amount, None)
    return str((await record_entry(ctx, EntryKind.GIVE, token_type, amount, escrow, spent, description))["id"])


async def hold_token(ctx: Context, owner: Actor, token: Token, token_type: TokenType, escrow: Actor, description: str) -> str:
    """Give one unique token to the escrow: its unit output spent, its owner now the escrow."""
    spent = await spend_token_unit(owner, token)
    view = await record_entry(ctx, EntryKind.GIVE, token_type, unit(token_type), escrow, spent, description, token)
    await transfer_token(ctx, token, escrow)
    return str(view["id"])


async def pay_out(ectx: Context, token_type: TokenType, amount: int, hold_id: str, to: Actor, description: str) -> str:
    """Give exactly one hold's output from the escrow to `to`; the entry id."""
    escrow = ectx.require_actor()
    spent = await _spend_explicit(escrow, token_type, [(amount, hold_id)])
    return str((await record_entry(ectx, EntryKind.GIVE, token_type, amount, to, spent, description))["id"])


async def hand_over_items(ectx: Context, lot: Lot, item_type: TokenType, to: Actor, description: str) -> list[str]:
    """What the lot sells, out of the escrow to `to` (the winner, or the seller back)."""
    if lot.item_hold_id is not None:
        return [await pay_out(ectx, item_type, lot.item_amount, lot.item_hold_id, to, description)]
    entries = []
    for token_id in lot.tokens:
        token = await Token.get(id=token_id)
        spent = await spend_token_unit(ectx.require_actor(), token)
        view = await record_entry(ectx, EntryKind.GIVE, item_type, unit(item_type), to, spent, description, token)
        await transfer_token(ectx, token, to)
        entries.append(str(view["id"]))
    return entries


async def release_bid(ctx: Context, ectx: Context, lot: Lot, price_type: TokenType, bid: Bid, why: str) -> None:
    """Give a held bid's payment back to its bidder; the bid is released."""
    await _release_bids(ctx, ectx, lot, price_type, [_HeldBid.of(bid)], why)


async def release_all(ctx: Context, ectx: Context, lot: Lot, price_type: TokenType, why: str, keep: str | None = None) -> None:
    with _collector_paused():  # see _release_bids
        rows = await sql.fetch(
            "SELECT id, bidder_id, kind, amount, max_amount, hold_id FROM market_bids WHERE lot_id = ? AND state = ? ORDER BY id",
            lot.id, BidState.HELD.value,
        )
        held = [_HeldBid.of_row(row) for row in rows if row["id"] != keep]
        await _release_bids(ctx, ectx, lot, price_type, held, why)


@dataclass(frozen=True, slots=True)
class _HeldBid:
    """A held bid as a release reads it: loading Bid models (timestamps parsed and all) cost
    more than the rest of an award that gives back thousands."""

    id: str
    bidder_id: str
    kind: str
    amount: int
    held: int  # what its hold holds (Bid.held)
    hold_id: str

    @classmethod
    def of(cls, bid: Bid) -> _HeldBid:
        return cls(bid.id, bid.bidder_id, bid.kind, int(bid.amount), bid.held, bid.hold_id)

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> _HeldBid:
        held = row["amount"] if row["max_amount"] is None else row["max_amount"]
        return cls(row["id"], row["bidder_id"], row["kind"], int(row["amount"]), int(held), row["hold_id"])


RELEASE_CHUNK = 1000  # bids per UPDATE when marking them released


async def _release_bids(
    ctx: Context, ectx: Context, lot: Lot, price_type: TokenType, bids: Sequence[_HeldBid], why: str
) -> None:
    """Give each held bid's payment back to its bidder, each by a ledger entry of its own, mark the
    bids released with that entry and emit `market.bid.released` for each, in the caller's
    transaction. In bulk, because an offers lot's award gives back every other offer (issue 17
    asks well under a second for 10,000; one by one that took 16 s, bench/market.py): one
    spend of all the holds, multi-row INSERTs of the entries and events, one UPDATE of the bids
    per thousand."""
    if not bids:
        return
    with _collector_paused():  # tens of thousands of rows, no cycles: a full collection cost 0.1 s
        await _release_in_bulk(ctx, ectx, lot, price_type, bids, why)


async def _release_in_bulk(
    ctx: Context, ectx: Context, lot: Lot, price_type: TokenType, bids: Sequence[_HeldBid], why: str
) -> None:
    bidder_ids = sorted({bid.bidder_id for bid in bids})
    bidders = {actor.id: actor for part in chunks(bidder_ids) for actor in await Actor.filter(id__in=part)}
    await _spend_each(ectx.require_actor(), price_type, [(bid.held, bid.hold_id) for bid in bids])
    description = f"released: {why} (lot {lot.id})"
    gives = [Give(bid.held, bidders[bid.bidder_id], [(bid.hold_id, bid.held)], description) for bid in bids]
    entries = await record_gives(ectx, price_type, gives)
    settled = list(zip(bids, entries, strict=True))
    for start in range(0, len(settled), RELEASE_CHUNK):
        part = settled[start : start + RELEASE_CHUNK]
        if len(part) == 1:  # as in _spend_each: one bid without the join
            [(bid, entry)] = part
            changed = await sql.execute(
                "UPDATE market_bids SET state = ?, settled_id = ?, updated_at = ? WHERE id = ? AND state = ?",
                BidState.RELEASED.value, entry, sql.now(), bid.id, BidState.HELD.value,
            )
        else:  # settled: (bid id, entry id) as column1, column2 (see _spend_each)
            changed = await sql.execute(
                "UPDATE market_bids SET state = ?, settled_id = settled.column2, updated_at = ? "
                f"FROM (VALUES {', '.join('(?, ?)' for _ in part)}) AS settled "
                "WHERE market_bids.id = settled.column1 AND market_bids.state = ?",
                BidState.RELEASED.value, sql.now(), *[value for bid, entry in part for value in (bid.id, entry)],
                BidState.HELD.value,
            )
        if changed != len(part):
            raise Conflict("a bid changed while it was being released; try again", code="concurrent-change")
    await ctx.emit_many(
        "market.bid.released", "market_bid", [(bid.id, bid_payload(lot, price_type, bid, entry)) for bid, entry in settled]
    )

"""The market's views (issue 17): lots and bids as the API shows them, and the events' payloads.

What a caller sees depends on who asks: a reserve and a proxy bid's ceiling only to their
owner, a sealed auction's amounts only to each bid's bidder until the close (models/auctions.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..actors import Actor
from ..amounts import to_decimal_string
from ..auctions import dutch_price, is_sealed, next_drop_at
from ..base import iso
from ..context import Context
from ..market import Bid, Lot, LotKind, LotState
from ..outputs import Output, Timestamp
from ..tokens import TokenType

if TYPE_CHECKING:
    from .market_escrow import _HeldBid

__all__ = ["BidOut", "LotDetailOut", "LotOut", "bid_payload", "bid_views", "lot_detail", "lot_payload", "lot_views", "minor_text",
           "next_minimum"]

HISTORY = 50  # bids a lot's view lists, newest first

def lot_payload(lot: Lot, item_type: TokenType) -> dict[str, Any]:
    return {
        "lot": lot.id, "kind": lot.kind, "seller": lot.seller_id, "item_type": lot.item_type_id,
        "item_amount": to_decimal_string(lot.item_amount, item_type.smallest_unit), "tokens": list(lot.tokens),
        "price_type": lot.price_type_id,
    }


def bid_payload(lot: Lot, price_type: TokenType, bid: Bid | _HeldBid, entry: str) -> dict[str, Any]:
    return {
        "lot": lot.id, "bid": bid.id, "kind": bid.kind, "bidder": bid.bidder_id,
        "amount": to_decimal_string(bid.amount, price_type.smallest_unit), "entry": entry,
    }


class ItemOut(Output):
    type: str = Field(description="the token type sold")
    symbol: str
    amount: str = Field(description="units sold (a unique token counts 1 each)")
    tokens: list[str] = Field(description="the unique tokens sold, by id")
    set: str | None = Field(description="the set whose tokens these are, when listed by set")


class LotOut(Output):
    id: str
    kind: Literal["fixed_price", "offers", "english_auction", "dutch_auction", "sealed_auction"]
    state: Literal["open", "sold", "unsold", "withdrawn"]
    title: str
    description: str
    seller: str = Field(description="handle")
    item: ItemOut
    price_type: str
    price_symbol: str
    price: str | None = Field(description="fixed_price: the price")
    start_price: str | None = Field(description="english, sealed: the least bid; dutch: the first price")
    reserve: str | None = Field(description="english, sealed: shown to the seller only; dutch: the floor, shown to all")
    reserve_met: bool | None = Field(
        description="english with a reserve: whether the best bid meets it (sealed: only once closed)"
    )
    buy_now: str | None
    min_increment: str | None
    best_bid: str | None = Field(description="english: the leading bid's amount (sealed: only once closed)")
    next_minimum: str | None = Field(
        description="english, sealed: the least a new bid may be; fixed_price: the price; dutch: the price now"
    )
    current_price: str | None = Field(description="dutch, while open: the price now, from the clock")
    next_drop_at: Timestamp = Field(description="dutch: when the price falls next (none at the floor)")
    drop: str | None = Field(description="dutch: the price falls by this ...")
    drop_every: int | None = Field(description="dutch: ... every this many seconds, down to the floor (reserve)")
    extend_by: int | None = Field(
        description="english: a bid in the last this many seconds moves the close to this many seconds after it"
    )
    sealed: bool = Field(description="sealed and still open: bid amounts and the leader are hidden until the close")
    bid_count: int
    opens_at: Timestamp
    closes_at: Timestamp
    winner: str | None
    sold_price: str | None
    ended_at: Timestamp
    version: int
    visibility: Literal["public", "followers", "listed"] = Field(description="who sees the lot and may bid")
    created_at: Timestamp
    updated_at: Timestamp


class BidOut(Output):
    id: str
    lot: str
    kind: Literal["bid", "offer"]
    bidder: str = Field(description="handle")
    amount: str = Field(description="the bid; a proxy bid's rises as others bid, up to its max_amount")
    max_amount: str | None = Field(description="a proxy bid's ceiling; shown to its bidder only")
    symbol: str
    state: Literal["held", "released", "won", "withdrawn"]
    hold: str = Field(description="the ledger entry that holds the payment in the lot's escrow")
    settled: str | None = Field(description="the entry that gave the payment back, or to the seller")
    created_at: Timestamp


class LotDetailOut(LotOut):
    bids: list[BidOut] = Field(description=f"its bids or offers, newest first (at most {HISTORY})")


async def _types(ids: set[str]) -> dict[str, TokenType]:
    return {t.id: t for t in await TokenType.filter(id__in=list(ids))}


async def _actors(ids: set[str]) -> dict[str, Actor]:
    return {a.id: a for a in await Actor.filter(id__in=list(ids))}


def minor_text(minor: int | None, token_type: TokenType) -> str | None:
    return None if minor is None else to_decimal_string(minor, token_type.smallest_unit)


def next_minimum(lot: Lot, now: datetime | None = None) -> int | None:
    """The least a bid may be now: the price (fixed_price), the start, the best plus the increment
    (english), the start or one smallest unit (sealed), or the price now (dutch)."""
    if lot.kind == LotKind.FIXED_PRICE.value:
        least = lot.price
    elif lot.kind == LotKind.ENGLISH_AUCTION.value:
        least = lot.start_price if lot.best_amount is None else lot.best_amount + (lot.min_increment or 1)
    elif lot.kind == LotKind.SEALED_AUCTION.value:
        least = lot.start_price or 1
    elif lot.kind == LotKind.DUTCH_AUCTION.value:
        least = dutch_price(lot, now or datetime.now(UTC))
    else:
        least = None
    return None if least is None else int(least)


async def lot_views(ctx: Context, lots: Sequence[Lot]) -> list[dict[str, Any]]:
    types = await _types({lot.item_type_id for lot in lots} | {lot.price_type_id for lot in lots})
    actors = await _actors({lot.seller_id for lot in lots} | {lot.winner_id for lot in lots if lot.winner_id})
    domain = ctx.site.domain
    now = datetime.now(UTC)
    views = []
    for lot in lots:
        item, price = types[lot.item_type_id], types[lot.price_type_id]
        mine = ctx.actor is not None and ctx.actor.id == lot.seller_id
        sealed, dutch, is_open = is_sealed(lot), lot.kind == LotKind.DUTCH_AUCTION.value, lot.state == LotState.OPEN.value
        views.append({
            "id": lot.id, "kind": lot.kind, "state": lot.state, "title": lot.title, "description": lot.description,
            "seller": actors[lot.seller_id].handle(domain),
            "item": {"type": item.id, "symbol": item.symbol, "amount": minor_text(lot.item_amount, item), "tokens": list(lot.tokens),
                     "set": lot.set_id},
            "price_type": price.id, "price_symbol": price.symbol,
            "price": minor_text(lot.price, price), "start_price": minor_text(lot.start_price, price),
            "reserve": minor_text(lot.reserve, price) if mine or dutch else None,
            "reserve_met": None if lot.reserve is None or sealed or dutch else (lot.best_amount or 0) >= lot.reserve,
            "buy_now": minor_text(lot.buy_now, price), "min_increment": minor_text(lot.min_increment, price),
            "best_bid": None if sealed else minor_text(lot.best_amount, price),
            "next_minimum": minor_text(next_minimum(lot, now), price) if is_open else None,
            "current_price": minor_text(dutch_price(lot, now), price) if dutch and is_open else None,
            "next_drop_at": iso(next_drop_at(lot, now)) if dutch and is_open else None,
            "drop": minor_text(lot.price_drop, price), "drop_every": lot.drop_every, "extend_by": lot.extend_by,
            "sealed": sealed,
            "bid_count": lot.bid_count, "opens_at": iso(lot.opens_at), "closes_at": iso(lot.closes_at),
            "winner": actors[lot.winner_id].handle(domain) if lot.winner_id else None,
            "sold_price": minor_text(lot.sold_price, price), "ended_at": iso(lot.ended_at), "version": lot.version,
            "visibility": lot.visibility,
            "created_at": iso(lot.created_at), "updated_at": iso(lot.updated_at),
        })
    return views


async def bid_views(ctx: Context, bids: Sequence[Bid]) -> list[dict[str, Any]]:
    lots = {lot.id: lot for lot in await Lot.filter(id__in=list({bid.lot_id for bid in bids}))}
    types = await _types({lot.price_type_id for lot in lots.values()})
    actors = await _actors({bid.bidder_id for bid in bids})
    me = ctx.actor.id if ctx.actor is not None else None
    views = []
    for bid in bids:
        price = types[lots[bid.lot_id].price_type_id]
        views.append({
            "id": bid.id, "lot": bid.lot_id, "kind": bid.kind, "bidder": actors[bid.bidder_id].handle(ctx.site.domain),
            "amount": minor_text(bid.amount, price),
            "max_amount": minor_text(bid.max_amount, price) if me == bid.bidder_id else None, "symbol": price.symbol, "state": bid.state, "hold": bid.hold_id,
            "settled": bid.settled_id, "created_at": iso(bid.created_at),
        })
    return views


async def lot_detail(ctx: Context, lot: Lot) -> dict[str, Any]:
    """The lot with its latest bids; while a sealed lot is open, only the caller's own bid."""
    [view] = await lot_views(ctx, [lot])
    query = Bid.filter(lot_id=lot.id)
    if is_sealed(lot):
        query = query.filter(bidder_id=ctx.actor.id if ctx.actor is not None else "")
    bids = await query.order_by("-id").limit(HISTORY)
    return {**view, "bids": await bid_views(ctx, bids)}

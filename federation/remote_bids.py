"""Bidding on a lot of another server (issue 17), the bidder's side.

bob on B saw alice's lot on A (it reached B as a `Proposal`, or he pasted its URL). It is paid
in a type of A's, whose units bob holds as a remote holding. His bid is a give onward
(federation/onward.py) whose target is the lot: B asks A, in a request signed with bob's key,
to hold `amount` of his units in the lot's escrow, and A places the bid exactly as it places a
local one, in the same transaction (models/operations/market_remote.py). So the hold is taken on
the price type's own ledger before the bid counts, and every refusal (too low, closed, not
enough units) comes back with A's status and reason in the same call. The hold's entry debits
bob's holding here at once; when he is outbid, or the lot ends, A gives the hold back and its
entry credits him; when he wins, the item's entry credits him with units (or tokens) of the lot's
item type, all by the ordinary published entries (federation/outbox.py names the lot's escrow
by the lot's URL, and the entries are told by the type owner).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from models.actors import Actor, local_actor_url
from models.context import Context, Site
from models.errors import Conflict, NotFound, Unprocessable
from models.federation import OnwardGive, RemoteCredit, RemoteObject
from models.holdings import OnwardOut, minor_of
from models.outputs import Paged
from models.paging import ListInput, paginate
from models.registry import REGISTRY, Access, Input, Transaction

from .as2 import as_id, domain_of, type_of
from .fetch import FetchError, fetch_json
from .onward import ask, checked_amount, onward_view, origin_open

__all__ = ["place_remote_bid"]

OPEN = "open"


class RemoteBidInput(Input):
    lot: str = Field(min_length=8, max_length=2048, description="the lot's URL on its server (its ActivityPub id)")
    amount: str | None = Field(
        None, min_length=1, max_length=40,
        description="what you bid (fixed price: may be left out, the price); with max_amount, default the least bid",
    )
    max_amount: str | None = Field(
        None, min_length=1, max_length=40, description="an english auction's proxy ceiling: held, your bid rises up to it",
    )

    @field_validator("lot")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("the lot's URL, starting with https://")
        return value.strip()


class RemoteBidOut(OnwardOut):
    lot: str = Field(description="the lot's URL")
    lot_name: str
    bid: str = Field(description="what you bid (a proxy bid: its opening bid)")
    max_amount: str | None = Field(description="a proxy bid's ceiling, which is what is held")
    lot_state: str | None = Field(description="the lot's state as its server last told us (open, sold, unsold, withdrawn)")
    won: bool | None = Field(description="the lot was sold to you (null while we do not know it ended)")


async def bid_views(site: Site, rows: list[OnwardGive]) -> list[dict[str, Any]]:
    """The bids, with how their lots stand as their servers last told us (the copies the inbox
    keeps of lots published to us: we follow the seller, or we bid)."""
    copies = {copy.uri: copy.document for copy in await RemoteObject.filter(uri__in=[row.target_uri for row in rows])}
    holders = {actor.id: actor for actor in await Actor.filter(id__in=list({row.holder_id for row in rows}))}
    views = []
    for row in rows:
        copy = copies.get(row.target_uri or "") or {}
        state = copy.get("lotState") if isinstance(copy.get("lotState"), str) else None
        holder = holders[row.holder_id]
        views.append({
            **onward_view(row), "lot": row.target_uri or "", "lot_name": row.target_handle,
            "bid": row.bid_amount or row.amount, "max_amount": row.amount if row.bid_amount is not None else None,
            "lot_state": state,
            "won": None if state in (None, "open") else as_id(copy.get("winner")) == local_actor_url(site.base_url, holder),
        })
    return views


def _quantity(intent: Any) -> tuple[str, str | None]:
    """(type URL, amount) of an FEP-0837 Intent."""
    if not isinstance(intent, Mapping):
        return "", None
    quantity = intent.get("resourceQuantity")
    amount = quantity.get("hasNumericalValue") if isinstance(quantity, Mapping) else None
    return str(as_id(intent.get("resourceConformsTo")) or ""), amount if isinstance(amount, str) else None


async def remote_lot(site: Site, url: str) -> dict[str, Any]:
    """The lot's document from its server, checked: a Proposal, of that server, paid in a type of it."""
    if url.startswith(f"{site.base_url}/"):
        raise Unprocessable("this lot is on this server: bid on it here", code="local-lot")
    try:
        lot = await fetch_json(site, url)
    except FetchError as error:
        raise Unprocessable(f"the lot {url} cannot be read: {error.detail}", code="lot-unavailable") from None
    price_type, _ = _quantity(lot.get("reciprocal"))
    if type_of(lot) != "Proposal" or as_id(lot) != url or not price_type or domain_of(price_type) != domain_of(url):
        raise Unprocessable(f"{url} is not a lot paid in a type of its own server", code="not-a-lot")
    return lot


@REGISTRY.operation("market.remote_bids.place", RemoteBidInput, output=RemoteBidOut, transaction=Transaction.OWN)
async def place_remote_bid(ctx: Context, params: RemoteBidInput) -> dict[str, Any]:
    """Bid on (or buy, or make an offer on) a lot of another server, with units of its price type
    you hold: the lot's server holds them before the bid counts; its refusal comes back as is."""
    bidder = ctx.require_actor()
    lot = await remote_lot(ctx.site, params.lot)
    if lot.get("lotState") != OPEN:
        raise Conflict(f"lot {params.lot} is {lot.get('lotState')}: it takes no more bids", code="lot-not-open")
    type_uri, asked = _quantity(lot.get("reciprocal"))
    symbol = await _held_symbol(bidder.id, type_uri)
    if symbol is None:
        raise Conflict(f"you hold no units of {type_uri}, the type this lot is paid in", code="insufficient")
    await origin_open(type_uri)
    amount = checked_amount(params.amount, "amount") if params.amount is not None else None
    held, opening = amount, None
    if params.max_amount is not None:
        held = checked_amount(params.max_amount, "max_amount")
        opening = amount or (str(lot.get("nextMinimum")) if lot.get("nextMinimum") else None)
        if opening is None or minor_of(held) < minor_of(opening):
            raise Unprocessable("max_amount must be at least the amount", code="invalid-max-amount",
                                errors=[{"field": "max_amount", "message": "below the amount"}])
    if held is None:
        held = asked if lot.get("lotKind") == "fixed_price" else None
    if held is None:
        raise Unprocessable("give the amount you bid", code="amount-required", errors=[{"field": "amount", "message": "required"}])
    name = str(lot.get("name") or params.lot)[:320]
    row = await ask(ctx, OnwardGive(
        holder=bidder, kind="give", type_uri=type_uri, symbol=symbol, amount=held, target_uri=params.lot,
        target_handle=name, sources=[], description=f"bid on {name}"[:1000], is_bid=True, bid_amount=opening,
    ))
    ctx.extra["location"] = f"/api/v1/market/remote-bids/{row.id}"
    return (await bid_views(ctx.site, [row]))[0]


async def _held_symbol(holder_id: str, type_uri: str) -> str | None:
    """The symbol of the holder's first credit of that type, or None when they never held any."""
    first = await RemoteCredit.filter(recipient_id=holder_id, type_uri=type_uri).order_by("id").first()
    return None if first is None else first.symbol


class RemoteBidsInput(ListInput):
    pass


@REGISTRY.operation("market.remote_bids.list", RemoteBidsInput, output=Paged[RemoteBidOut], access=Access.USER)
async def list_remote_bids(ctx: Context, params: RemoteBidsInput) -> Any:
    """Your bids on lots of other servers, newest first: pending, done (held there), refused or failed."""
    page = await paginate(OnwardGive.filter(holder_id=ctx.require_actor().id, is_bid=True), params)
    page.items = await bid_views(ctx.site, page.items)
    return page


class RemoteBidIdInput(Input):
    id: str = Field(min_length=1, max_length=64)


@REGISTRY.operation("market.remote_bids.get", RemoteBidIdInput, output=RemoteBidOut, access=Access.USER)
async def get_remote_bid(ctx: Context, params: RemoteBidIdInput) -> dict[str, Any]:
    """One of your bids on a lot of another server."""
    row = await OnwardGive.get_or_none(id=params.id, holder_id=ctx.require_actor().id, is_bid=True)
    if row is None:
        raise NotFound(f"you have no bid elsewhere {params.id!r}", code="remote-bid-not-found")
    return (await bid_views(ctx.site, [row]))[0]

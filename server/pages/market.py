"""The market pages: browse lots, one lot (bid, offer, buy, accept a dutch price, award, withdraw
a lot or an offer), sell, my lots, my bids.

They call the market operations as the API does (models/operations/market.py); no JavaScript.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .wording import duration

__all__ = [
    "award", "edit", "bid", "browse_page", "create_lot", "lot_page", "my_bids_page", "my_lots_page", "offer",
    "relist", "time_left", "withdraw", "withdraw_offer",
]

BROWSE = "/app/market"
MINE = "/app/market/mine"
BIDS = "/app/market/bids"
KINDS = {
    "fixed_price": "Fixed price", "offers": "Offers", "english_auction": "Auction", "dutch_auction": "Dutch auction",
    "sealed_auction": "Sealed bids",
}


def _span(seconds: int) -> str:
    return duration(seconds, under_a_minute="less than a minute")


def time_left(closes_at: str | None, state: str, now: datetime | None = None) -> str:
    """The time to the close in words: "2 days 3 hours left", "5 minutes left", "closed"."""
    if state != "open":
        return state
    if not closes_at:
        return "no closing time"
    moment = datetime.fromisoformat(closes_at)
    seconds = int((moment - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0:
        return "closing now"
    return _span(seconds) + " left"


def _until(moment: str | None) -> str:
    """How long until a time, in words ("in 20 minutes"); empty without one."""
    if not moment:
        return ""
    seconds = int((datetime.fromisoformat(moment) - datetime.now(UTC)).total_seconds())
    return "now" if seconds <= 0 else f"in {_span(seconds)}"


def _lot_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**item, "left": time_left(item["closes_at"], item["state"]), "kind_name": KINDS[item["kind"]]} for item in items]


@page
async def browse_page(request: web.Request) -> web.StreamResponse:
    ctx = request[CTX]
    query = request.query
    filters = {key: query[key] for key in ("type", "kind") if query.get(key)}
    if query.get("closing_soon"):
        filters["closing_soon"] = "true"
    error = ""
    try:
        lots = await REGISTRY.call(ctx, "market.lots.list", {**filters, "page_size": page_size(ctx)})
        items = lots.items
    except DomainError as problem:
        items, error = [], problem.detail
    return render(request, "market.html.j2", lots=_lot_rows(items), filters=filters, kinds=KINDS, error=error)


async def _lot_page(request: web.Request, *, error: str = "", errors: dict[str, str] | None = None, status: int = 200) -> web.Response:
    ctx = request[CTX]
    lot = await REGISTRY.call(ctx, "market.lots.get", {"id": request.match_info["id"]})
    me = ctx.actor.handle(ctx.site.domain) if ctx.actor is not None else None
    mine = me is not None and lot["seller"] == me
    my_bids = [item for item in lot["bids"] if item["bidder"] == me]
    return render(
        request, "market_lot.html.j2", status=status, lot=lot, left=time_left(lot["closes_at"], lot["state"]),
        kind_name=KINDS[lot["kind"]], mine=mine, my_bids=my_bids, me_handle=me, error=error, errors=errors or {},
        drop_every=_span(lot["drop_every"]) if lot["drop_every"] else "", next_drop=_until(lot["next_drop_at"]),
        extend_by=_span(lot["extend_by"]) if lot["extend_by"] else "",
    )


@page
async def lot_page(request: web.Request) -> web.StreamResponse:
    return await _lot_page(request)


async def _act(request: web.Request, operation: str, data: dict[str, Any], done: str) -> web.StreamResponse:
    require_signed_in(request)
    try:
        await call(request, operation, data)
    except FormError as error:
        general = error.general if not error.fields else "; ".join(error.fields.values())
        return await _lot_page(request, error=general, errors=error.fields, status=error.status)
    raise redirect(f"/app/market/lots/{request.match_info['id']}", done)


@page
async def bid(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    data = {"id": request.match_info["id"]}
    for name in ("amount", "max_amount"):
        if form.get(name, "").strip():
            data[name] = form[name].strip()
    return await _act(request, "market.bids.place", data, "Your bid is placed; its payment is held until the lot ends.")


@page
async def offer(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    data = {"id": request.match_info["id"], "amount": form.get("amount", "").strip()}
    return await _act(request, "market.offers.place", data, "Your offer is made; its amount is held until the seller decides.")


@page
async def award(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    data = {"id": request.match_info["id"], "offer": form.get("offer", "")}
    return await _act(request, "market.lots.award", data, "Sold. The other offers were given back.")


@page
async def relist(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    data = {"id": request.match_info["id"]}
    closes = form.get("closes_at", "").strip()
    if closes:
        data["closes_at"] = closes + ":00Z" if len(closes) == 16 else closes  # datetime-local: minutes, UTC
    try:
        made = await call(request, "market.lots.relist", data)
    except FormError as error:
        general = error.general if not error.fields else "; ".join(error.fields.values())
        return await _lot_page(request, error=general, errors=error.fields, status=error.status)
    raise redirect(f"/app/market/lots/{made['id']}", "Listed again; what it sells is held until it ends.")


_EDITABLE = {  # what the seller may change before the first bid, by kind (market.lots.update)
    "fixed_price": ("title", "description", "price"),
    "english_auction": ("title", "description", "reserve", "buy_now"),
    "sealed_auction": ("title", "description", "reserve"),
}


@page
async def edit(request: web.Request) -> web.StreamResponse:
    """The seller changes an open lot's words or prices until someone bids."""
    form = await read_form(request)
    lot_id = request.match_info["id"]
    data: dict[str, Any] = {"id": lot_id}
    for name in _EDITABLE.get(form.get("kind", ""), ("title", "description")):
        value = form.get(name, "").strip()
        if value or name in ("title", "description"):
            data[name] = value
    return await _act(request, "market.lots.update", data, "Lot changed.")


@page
async def withdraw(request: web.Request) -> web.StreamResponse:
    return await _act(request, "market.lots.withdraw", {"id": request.match_info["id"]}, "Lot withdrawn; its units are yours again.")


@page
async def withdraw_offer(request: web.Request) -> web.StreamResponse:
    """Take back your held offer; back to the page it was asked from (the lot, or my bids)."""
    require_signed_in(request)
    form = await read_form(request)
    data = {"id": request.match_info["id"], "offer": request.match_info["offer"]}
    done = "Offer withdrawn; its amount is yours again."
    if form.get("back") != "bids":
        return await _act(request, "market.offers.withdraw", data, done)
    try:
        await call(request, "market.offers.withdraw", data)
    except FormError as error:
        return await _bids(request, error=error.general or "; ".join(error.fields.values()), status=error.status)
    raise redirect(BIDS, done)


async def _mine(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    lots = await REGISTRY.call(ctx, "market.lots.list", {"seller": ctx.require_actor().username, "state": "all", "page_size": page_size(ctx)})
    return render(
        request, "market_mine.html.j2", status=status, lots=_lot_rows(lots.items), kinds=KINDS,
        values=values or {"kind": "fixed_price"}, errors=errors or {}, error=error,
    )


@page
async def my_lots_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _mine(request)


_LOT_FIELDS = ("kind", "type", "amount", "price_type", "price", "start_price", "reserve", "buy_now", "min_increment",
               "drop", "drop_every", "extend_by", "closes_at", "title", "description", "visibility")
_MINUTES = ("drop_every", "extend_by")  # asked in minutes on the form, seconds in the API


@page
async def create_lot(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    form = await read_form(request)
    values = {name: form.get(name, "").strip() for name in (*_LOT_FIELDS, "tokens", "audience")}
    data: dict[str, Any] = {name: values[name] for name in _LOT_FIELDS if values[name]}
    for name in ("tokens", "audience"):
        if values[name]:
            data[name] = [part.strip() for part in values[name].replace(",", " ").split() if part.strip()]
    if "closes_at" in data and len(data["closes_at"]) == 16:  # datetime-local: minutes, no zone; taken as UTC
        data["closes_at"] += ":00Z"
    for name in _MINUTES:
        if name in data and data[name].isdigit():  # anything else goes as typed: the operation says what is wrong
            data[name] = int(data[name]) * 60
    try:
        created = await call(request, "market.lots.create", data)
    except FormError as error:
        fields = {name.split(".")[0]: message for name, message in error.fields.items()}
        return await _mine(request, values=values, errors=fields, error=error.general if not fields else "", status=error.status)
    raise redirect(f"/app/market/lots/{created['id']}", "Lot listed; what it sells is held until it ends.")


async def _bids(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    bids = await REGISTRY.call(ctx, "market.bids.list", {"page_size": page_size(ctx)})
    return render(request, "market_bids.html.j2", status=status, bids=bids.items, error=error)


@page
async def my_bids_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _bids(request)

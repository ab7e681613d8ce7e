"""The store pages (issue 20): a storefront with its items, an item page with a buy form, an
order page (the basket and checkout, and every later step for the buyer or the staff), the
buyer's orders and the store's orders board.

They call the stores operations as the API does (models/operations/stores.py and
stores_orders.py); plain forms, no JavaScript.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.errors import NotFound
from models.registry import REGISTRY
from models.stores import ORDER_MOVES

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = ["act", "basket", "board_page", "collection_page", "item_page", "my_orders_page", "order_page", "storefront"]

# What each move is called on a button, by the verb of its operation.
VERBS = {
    "ordered": "place", "paid": "pay", "cancelled": "cancel", "fulfilled": "fulfil", "delivered": "deliver",
    "closed": "confirm", "issue_opened": "issue", "issue_resolved": "resolve",
}
LABELS = {
    "place": "Order (reserve the items)", "pay": "Pay", "cancel": "Cancel the order", "fulfil": "Mark sent",
    "deliver": "Mark delivered", "confirm": "Confirm delivery", "issue": "Report a problem", "resolve": "Resolve",
}


@page
async def storefront(request: web.Request) -> web.StreamResponse:
    ctx = request[CTX]
    slug = request.match_info["slug"]
    store = await REGISTRY.call(ctx, "stores.get", {"slug": slug})
    query = {"slug": slug, "page_size": page_size(ctx)}
    category = request.query.get("category", "")
    if category:
        query["category"] = category
    items = (await REGISTRY.call(ctx, "stores.items.list", query)).items
    collections = [] if category else (await REGISTRY.call(ctx, "stores.collections.list", {
        "slug": slug, "page_size": page_size(ctx)})).items
    return render(request, "store.html.j2", store=store, items=items, category=category, collections=collections,
                  base_url=ctx.site.base_url)


@page
async def collection_page(request: web.Request) -> web.StreamResponse:
    """A collection the store promotes: its description and its items, in the store's order."""
    ctx = request[CTX]
    slug = request.match_info["slug"]
    store = await REGISTRY.call(ctx, "stores.get", {"slug": slug})
    collection = await REGISTRY.call(ctx, "stores.collections.get", {"slug": slug, "id": request.match_info["id"]})
    return render(request, "store_collection.html.j2", store=store, collection=collection)


async def _item_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    slug, item_id = request.match_info["slug"], request.match_info["id"]
    store = await REGISTRY.call(ctx, "stores.get", {"slug": slug})
    item = await REGISTRY.call(ctx, "stores.items.get", {"slug": slug, "id": item_id})
    variants = [await REGISTRY.call(ctx, "stores.items.get", {"slug": slug, "id": v}) for v in item["variants"]]
    return render(request, "store_item.html.j2", status=status, store=store, item=item, variants=variants, error=error)


@page
async def item_page(request: web.Request) -> web.StreamResponse:
    return await _item_page(request)


@page
async def basket(request: web.Request) -> web.StreamResponse:
    """The buy form: a basket with this item, then its order page (checkout)."""
    require_signed_in(request)
    slug, item_id = request.match_info["slug"], request.match_info["id"]
    form = await read_form(request)
    body: dict[str, Any] = {"slug": slug, "lines": [{"item": item_id, "quantity": form.get("quantity", "1") or "1"}]}
    if form.get("salesman"):
        body["salesman"] = form["salesman"]
    try:
        order = await call(request, "stores.orders.create", body)
    except FormError as error:
        return await _item_page(request, error=error.general or "; ".join(error.fields.values()), status=error.status)
    raise redirect(f"/app/orders/{order['id']}", "In your basket: order it to reserve it.")


def _moves(order: dict[str, Any], buyer: bool, staff: bool) -> list[str]:
    """The verbs the viewer may use on the order now (staff may buy from their own store too)."""
    allowed = {"buyer or staff"} | ({"buyer"} if buyer else set()) | ({"staff"} if staff else set())
    return [VERBS[target] for (source, target), who in ORDER_MOVES.items() if source == order["state"] and who in allowed]


async def _order_page(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    order = await REGISTRY.call(ctx, "stores.orders.get", {"id": request.match_info["id"]})
    buyer = ctx.user is not None and order["buyer"] == ctx.user.username
    try:
        staff = (await REGISTRY.call(ctx, "stores.get", {"slug": order["store"]}))["staff"] is not None  # staff only
    except NotFound:  # a closed store is its staff's only; its buyers still see their orders
        staff = False
    ended = order["state"] in ("closed", "issue_resolved")
    return render(
        request, "store_order.html.j2", status=status, order=order, moves=_moves(order, buyer, staff), labels=LABELS,
        rate=buyer and ended and order["feedback"] is None, error=error,
    )


@page
async def order_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _order_page(request)


# The order page's forms, by the verb in their URL.
ORDER_OPERATIONS = {
    "place": "stores.orders.place", "pay": "stores.orders.pay", "cancel": "stores.orders.cancel",
    "fulfil": "stores.orders.fulfil", "deliver": "stores.orders.deliver", "confirm": "stores.orders.confirm",
    "issue": "stores.orders.issue", "resolve": "stores.orders.resolve", "feedback": "stores.orders.feedback",
}


@page
async def act(request: web.Request) -> web.StreamResponse:
    """A move on an order (or its feedback) from the order page's forms."""
    require_signed_in(request)
    order_id, verb = request.match_info["id"], request.match_info["verb"]
    form = await read_form(request)
    body: dict[str, Any] = {"id": order_id}
    if verb == "feedback":
        body.update(rating=form.get("rating", ""), review=form.get("review", ""))
    else:
        body["note"] = form.get("note", "")
        if verb == "resolve":
            body["resolution"] = form.get("resolution", "")
    try:
        await call(request, ORDER_OPERATIONS[verb], body)
    except FormError as error:
        return await _order_page(request, error=error.general or "; ".join(error.fields.values()), status=error.status)
    raise redirect(f"/app/orders/{order_id}", "Thanks for your rating." if verb == "feedback" else "Done.")


@page
async def my_orders_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    ctx = request[CTX]
    orders = (await REGISTRY.call(ctx, "stores.orders.list", {"page_size": page_size(ctx)})).items
    return render(request, "store_orders.html.j2", orders=orders, store=None, state="")


@page
async def board_page(request: web.Request) -> web.StreamResponse:
    """The store's orders board: its staff's list of orders, by state."""
    require_signed_in(request)
    ctx = request[CTX]
    slug = request.match_info["slug"]
    store = await REGISTRY.call(ctx, "stores.get", {"slug": slug})
    query: dict[str, Any] = {"store": slug, "page_size": page_size(ctx)}
    state = request.query.get("state", "")
    if state:
        query["state"] = state
    orders = (await REGISTRY.call(ctx, "stores.orders.list", query)).items
    return render(request, "store_orders.html.j2", orders=orders, store=store, state=state)

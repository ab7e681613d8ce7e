"""Stores of other servers: paste a store's address, see its items, order; your orders there with
their state in words and the step you may take next (federation/remote_stores.py).

The order lives on the store's server; this page shows our record of it and sends the requests
in the signed-in person's name. No JavaScript.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.errors import DomainError
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in

__all__ = ["order_elsewhere", "step_elsewhere", "stores_elsewhere_page"]

ELSEWHERE = "/app/stores-elsewhere"
OPERATIONS = {
    "place": "stores.remote.orders.place", "pay": "stores.remote.orders.pay", "cancel": "stores.remote.orders.cancel",
    "confirm": "stores.remote.orders.confirm", "issue": "stores.remote.orders.issue",
    "feedback": "stores.remote.orders.feedback", "refresh": "stores.remote.orders.get",
}
DONE = {
    "place": "Ordered: the items are reserved for you. Pay to go on.",
    "pay": "Paid: the store holds your payment until you confirm delivery.",
    "cancel": "Cancelled.", "confirm": "Confirmed: the items are yours and the store is paid.",
    "issue": "Your problem is reported: the store holds the payment until it answers.",
    "feedback": "Thank you for your rating.", "refresh": "This is how the store's server has it now.",
}


def state_words(order: dict[str, Any]) -> str:
    """The order's state in plain words."""
    state = str(order["state"])
    if state == "delivered":
        return f"delivered: confirm it, or report a problem, by {order['due_at'] or 'the store’s deadline'}"
    if state == "issue_resolved":
        return {"refund": "problem resolved: your payment came back",
                "replacement": "problem resolved: the store replaced it"}.get(order["resolution"] or "", "problem resolved")
    return {
        "basket": "in your basket: nothing reserved yet", "ordered": "ordered: the items are reserved, pay to go on",
        "paid": "paid: the store holds your payment until you confirm delivery", "fulfilled": "sent by the store",
        "closed": "closed: the items are yours", "issue_opened": "you reported a problem: waiting for the store",
        "cancelled": "cancelled", "failed": "stuck on the store's server",
    }.get(state, state.replace("_", " "))


def next_steps(order: dict[str, Any]) -> list[str]:
    """What the buyer may do now."""
    state = order["state"]
    steps = {"basket": ["place", "cancel"], "ordered": ["pay", "cancel"], "paid": ["issue"], "fulfilled": ["issue"],
             "delivered": ["confirm", "issue"]}.get(state, [])
    if state in ("closed", "issue_resolved") and order["rating"] is None:
        steps.append("feedback")
    return steps


async def _send(request: web.Request, operation: str, body: dict[str, Any]) -> Any:
    """Run the operation; the other server being down (or answering oddly) is said on the page too."""
    try:
        return await call(request, operation, body)
    except DomainError as error:
        if error.status not in (502, 503):
            raise
        raise FormError(error, {}, error.detail) from None


async def _page(request: web.Request, *, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    values = values or {"store": request.query.get("store", "").strip()}
    store = None
    if values.get("store") and not errors:
        try:
            store = await _send(request, "stores.remote.storefront", {"store": values["store"]})
        except FormError as failed:
            errors = failed.fields or {"store": failed.general}
            error = error or failed.general or "; ".join(failed.fields.values())
            status = failed.status if status == 200 else status
    orders = await REGISTRY.call(ctx, "stores.remote.orders.list", {"page_size": page_size(ctx)})
    rows = [{**order, "words": state_words(order), "steps": next_steps(order)} for order in orders.items]
    return render(request, "stores_elsewhere.html.j2", status=status, store=store, orders=rows, values=values,
                  errors=errors or {}, error=error)


@page
async def stores_elsewhere_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _page(request)


@page
async def order_elsewhere(request: web.Request) -> web.StreamResponse:
    """Order one item of the store shown (its units are reserved at once)."""
    require_signed_in(request)
    form = await read_form(request)
    store = form.get("store", "").strip()
    body = {"store": store, "lines": [{"item": form.get("item", "").strip(), "quantity": form.get("quantity", "1").strip() or "1"}],
            "place": True}
    try:
        await _send(request, "stores.remote.orders.create", body)
    except FormError as error:
        general = error.general or "; ".join(error.fields.values())
        return await _page(request, values={"store": store}, error=general, status=error.status)
    raise redirect(ELSEWHERE, DONE["place"])


@page
async def step_elsewhere(request: web.Request) -> web.StreamResponse:
    """A step on one of your orders elsewhere (or asking its server how it stands)."""
    require_signed_in(request)
    order_id, verb = request.match_info["id"], request.match_info["step"]
    if verb not in OPERATIONS:
        raise web.HTTPNotFound()
    form = await read_form(request)
    body: dict[str, Any] = {"id": order_id}
    if verb in ("place", "pay", "cancel", "confirm", "issue"):
        body["note"] = form.get("note", "").strip()
    if verb == "feedback":
        body["rating"] = form.get("rating", "").strip()
        body["review"] = form.get("review", "").strip()
    try:
        await _send(request, OPERATIONS[verb], body)
    except FormError as error:
        return await _page(request, error=error.general or "; ".join(error.fields.values()), status=error.status)
    raise redirect(ELSEWHERE, DONE[verb])

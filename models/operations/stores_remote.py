"""Orders from buyers on other servers (issue 20, item 5), the store's side.

dave on B orders from a store here. His server sends requests signed with his key to our order
endpoint (federation/remote_stores.py checks the signature and finds his actor); each runs here
through the same operation as a local buyer's (`stores.orders.create`, `.place`, `.pay`, ...)
with dave's remote actor as the buyer, in one transaction with the request's record. So the
order machine treats him as it treats a local buyer: his payment is a hold of the units of the
price type he holds on our ledger, given to the store's escrow; the close, a refund or a
cancel gives out of the escrow to his remote holding (published to his server like any give).
A repeat of a request (his server asking again after a lost answer) finds its record and moves
nothing; every refusal is the local one (out-of-stock, insufficient, order-state, ...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ..actors import Actor
from ..context import Context, Site
from ..errors import BadInput, Conflict, NotFound
from ..stores import Order, Store, StoreRequest
from .stores_orders import (
    FeedbackInput,
    IssueInput,
    LineInput,
    MoveInput,
    OrderCreateInput,
    cancel_order,
    confirm_order,
    create_order,
    give_feedback,
    open_issue,
    order_view,
    pay_order,
    place_order,
)

__all__ = ["REMOTE_STEPS", "carry_out_order", "carry_out_step", "read_order"]

REMOTE_STEPS = ("place", "pay", "cancel", "confirm", "issue", "feedback")
_MOVES = {"place": place_order, "pay": pay_order, "cancel": cancel_order, "confirm": confirm_order}


def _checked(build: Callable[[], Any]) -> Any:
    """An operation's input from a remote request; 400 malformed-request with pydantic's reason."""
    try:
        return build()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"{where}: {first['msg']}" if where else str(first["msg"]), code="malformed-request") from None


async def _once(
    holder: Actor, request_uri: str, work: Callable[[], Awaitable[tuple[str, str | None]]]
) -> tuple[str, str | None, bool]:
    """Run `work` (it returns the order's id and a payment's entry id) in one transaction with the
    request's record: (order id, entry id, True), or a copy's that committed first (False)."""
    async def earlier() -> StoreRequest | None:
        done = await StoreRequest.get_or_none(request_uri=request_uri)
        if done is not None and done.actor_id != holder.id:
            raise Conflict("another actor already used this request id", code="request-id-taken")
        return done

    done = await earlier()
    if done is not None:
        return done.order_id, done.entry_id, False
    try:
        async with in_transaction():
            order_id, entry_id = await work()
            await StoreRequest.create(request_uri=request_uri, actor=holder, order_id=order_id, entry_id=entry_id)
    except IntegrityError:
        done = await earlier()
        if done is None:
            raise
        return done.order_id, done.entry_id, False
    return order_id, entry_id, True


async def carry_out_order(
    site: Site, holder: Actor, request_uri: str, *, store_id: str, lines: list[tuple[str, str]], note: str
) -> tuple[str, str | None, bool]:
    """A remote buyer's basket at today's prices: (order id, None, True if made now)."""
    store = await Store.get_or_none(id=store_id)
    if store is None:
        raise NotFound(f"there is no store {store_id!r}", code="store-not-found")
    params = _checked(lambda: OrderCreateInput(
        slug=store.slug, lines=[LineInput(item=item, quantity=quantity) for item, quantity in lines], note=note,
    ))
    ctx = Context(site=site, actor=holder, remote=True)

    async def work() -> tuple[str, str | None]:
        return str((await create_order(ctx, params))["id"]), None

    return await _once(holder, request_uri, work)


async def carry_out_step(
    site: Site, holder: Actor, request_uri: str, *, order_id: str, step: str, note: str, rating: Any, review: str
) -> tuple[str, str | None, bool]:
    """A remote buyer's move on their order (place, pay, cancel, confirm, issue, feedback):
    (order id, the payment's hold entry id for `pay`, True if moved now)."""
    ctx = Context(site=site, actor=holder, remote=True)
    if step == "feedback":
        params: Any = _checked(lambda: FeedbackInput(id=order_id, rating=rating, review=review))
    elif step == "issue":
        params = _checked(lambda: IssueInput(id=order_id, note=note))
    else:
        params = _checked(lambda: MoveInput(id=order_id, note=note))

    async def work() -> tuple[str, str | None]:
        if step == "feedback":
            await give_feedback(ctx, params)
        elif step == "issue":
            await open_issue(ctx, params)
        else:
            await _MOVES[step](ctx, params)
        order = await Order.get(id=order_id)
        return order.id, order.payment_hold_id if step == "pay" else None

    return await _once(holder, request_uri, work)


async def read_order(holder: Actor, order_id: str) -> dict[str, Any]:
    """The order as its remote buyer sees it (404 to anyone else)."""
    order = await Order.get_or_none(id=order_id, buyer_id=holder.id)
    if order is None:
        raise NotFound(f"there is no order {order_id!r}", code="order-not-found")
    return await order_view(order)

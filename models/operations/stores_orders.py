"""Store orders (issue 20, item 3): basket -> ordered -> paid -> fulfilled -> delivered -> closed,
with issue_opened -> issue_resolved and cancelled; feedback after the end.

Each move is made by the party models/stores.py ORDER_MOVES names, conditional on the state it
leaves (the engine's `move`, declared as manual in models/machines.py STORE_ORDERS), in the
same transaction as its ledger gives and its `store.order.<state>` event:
- ordering holds the units in the store's escrow (oldest outputs first; the items' rows are
  written first, in id order, so racing buyers queue on PostgreSQL and none oversells);
- paying holds the buyer's payment there;
- closing (the buyer confirms, or the deadline passes) gives the units to the buyer, the
  commission to the salesman named on the order and the rest to the organization;
- cancelling (before payment) gives the units back to stock; a refund gives the payment back
  to the buyer and the units back to stock; a replacement settles as a close.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ..actors import Actor, User
from ..amounts import to_decimal_string, to_minor
from ..base import iso
from ..context import Context, Site
from ..engine import Go, Lease, Outcome, move
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from ..ledger import EntryKind
from ..machines import STORE_ORDERS, STORE_PAYMENT_DEADLINES
from ..markdown import markdown_to_html
from ..organizations import Organization
from ..outputs import Output, Paged
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Input
from ..stores import (
    ORDER_MOVES,
    DeadlineState,
    Order,
    OrderFeedback,
    OrderLine,
    OrderState,
    PaymentDeadline,
    Store,
    StoreItem,
    StoreStaff,
)
from ..tokens import Token, TokenType
from .entries import record_entry, spend_token_unit, unit
from .market_escrow import as_escrow, hold, hold_token, pay_out
from .stores import SLUG, free_pieces, item_of, staff_role, store_context, visible_store
from .tokens import transfer_token

__all__ = ["cancel_unpaid", "close_unconfirmed"]

ID = Field(min_length=1, max_length=26)
NOTE = Field("", max_length=2000, description="a note kept with the move")
MAX_LINES = 50


def _now() -> datetime:
    return datetime.now(UTC)


def _by(ctx: Context) -> str | None:
    """Who makes a move, as the order's history names them: a user here, or a remote buyer's handle."""
    if ctx.user is not None:
        return ctx.user.username
    actor = ctx.actor if ctx.remote else None
    return actor.handle(ctx.site.domain) if actor is not None else None


# ---------------------------------------------------------------- views


class OrderLineOut(Output):
    item: str
    title: str
    quantity: str
    unit_price: str
    amount: str
    tokens: list[str]


class OrderMoveOut(Output):
    state: str
    at: str
    by: str | None
    note: str


class OrderFeedbackOut(Output):
    rating: int
    review: str
    review_html: str
    created_at: str


class StoreOrderOut(Output):
    id: str
    store: str
    buyer: str
    salesman: str | None
    state: str
    lines: list[OrderLineOut]
    total: str
    price_type: str
    price_symbol: str
    commission_percent: int
    resolution: str | None
    history: list[OrderMoveOut]
    due_at: str | None = Field(description="delivered: when the store is paid if the buyer neither confirms nor objects")
    feedback: OrderFeedbackOut | None
    last_error: str | None
    created_at: str
    updated_at: str


async def order_view(order: Order) -> dict[str, Any]:
    store = await Store.get(id=order.store_id)
    price_type = await TokenType.get(id=order.price_type_id)
    buyer = await Actor.get(id=order.buyer_id)
    buyer_name = buyer.username if buyer.is_local else f"{buyer.username}@{buyer.domain}"
    salesman = await User.get(id=order.salesman_id) if order.salesman_id else None
    lines = []
    for line in await OrderLine.filter(order_id=order.id).select_related("item", "item__type").order_by("id"):
        decimals = line.item.type.smallest_unit
        lines.append({
            "item": line.item_id, "title": line.item.title, "quantity": to_decimal_string(line.quantity, decimals),
            "unit_price": to_decimal_string(line.unit_price, price_type.smallest_unit),
            "amount": to_decimal_string(line.amount, price_type.smallest_unit), "tokens": line.tokens,
        })
    feedback = await OrderFeedback.get_or_none(order_id=order.id)
    return {
        "id": order.id, "store": store.slug, "buyer": buyer_name, "salesman": salesman.username if salesman else None,
        "state": order.state, "lines": lines, "total": to_decimal_string(order.total, price_type.smallest_unit),
        "price_type": price_type.id, "price_symbol": price_type.symbol, "commission_percent": order.commission_percent,
        "resolution": order.resolution, "history": order.history,
        "due_at": iso(order.next_at) if order.state == OrderState.DELIVERED.value else None,
        "feedback": {
            "rating": feedback.rating, "review": feedback.review, "review_html": markdown_to_html(feedback.review),
            "created_at": iso(feedback.created_at) or "",
        } if feedback else None,
        "last_error": order.last_error, "created_at": iso(order.created_at) or "", "updated_at": iso(order.updated_at) or "",
    }


# ---------------------------------------------------------------- who sees and moves an order


async def _order_for(ctx: Context, order_id: str) -> tuple[Order, Store, frozenset[str]]:
    """The order, its store and the caller's parts in it (buyer, manager, salesman: a store's staff
    may buy from it too); 404 to anyone with none."""
    actor = ctx.require_actor()
    order = await Order.get_or_none(id=order_id)
    if order is None:
        raise NotFound(f"there is no order {order_id!r}", code="order-not-found")
    store = await Store.get(id=order.store_id)
    role = await staff_role(store, ctx.user)
    parts = frozenset([*(["buyer"] if order.buyer_id == actor.id else []), *([role] if role else [])])
    if not parts:
        raise NotFound(f"there is no order {order_id!r}", code="order-not-found")
    return order, store, parts


def _may(parts: frozenset[str], source: str, target: str) -> None:
    who = ORDER_MOVES.get((source, target))
    if who is None:
        raise Conflict(f"an order that is {source} cannot become {target}", code="order-state",
                       extra={"state": source})
    allowed = {"buyer": {"buyer"}, "staff": {"manager", "salesman"}, "buyer or staff": {"buyer", "manager", "salesman"}}[who]
    if not parts & allowed:
        raise Forbidden(f"only the {who} moves an order from {source} to {target}", code="order-party")


async def _move(ctx: Context, order: Order, target: str, note: str, **values: Any) -> Order:
    """The person's move, conditional on the state the order was read in; 409 if it moved meanwhile."""
    entry = {"state": target, "at": iso(_now()) or "", "by": _by(ctx), "note": note}
    if not await move(STORE_ORDERS, order.id, order.state, target, history=[*order.history, entry], **values):
        raise Conflict("the order changed meanwhile; read it again", code="order-state")
    return await Order.get(id=order.id)


async def _emit(ctx: Context, order: Order, store: Store, note: str, name: str | None = None, **extra: Any) -> None:
    price_type = await TokenType.get(id=order.price_type_id)
    await ctx.emit(f"store.order.{name or order.state}", "store_order", order.id, {
        "store": store.id, "order": order.id, "state": order.state, "by": _by(ctx),
        "note": note, "total": to_decimal_string(order.total, price_type.smallest_unit), **extra,
    })


# ---------------------------------------------------------------- ledger movements


async def _hold_stock(ctx: Context, store: Store, order: Order) -> None:
    """The units of every line, from the organization's stock to the store's escrow; 409 out-of-stock."""
    octx = await store_context(ctx, store)
    owner = octx.require_actor()
    escrow = await Actor.get(id=store.escrow_id)
    lines = await OrderLine.filter(order_id=order.id).select_related("item").order_by("item_id", "id")
    now = _now()
    for item_id in sorted({line.item_id for line in lines}):  # the rows' locks, in one order: buyers queue here
        await StoreItem.filter(id=item_id).update(updated_at=now)
    for line in lines:
        token_type = await TokenType.get(id=line.item.type_id)
        why = f"reserved for order {order.id}"
        try:
            if token_type.fungible:
                holds, tokens = [await hold(octx, owner, token_type, int(line.quantity), escrow, why)], []
            else:
                pieces = int(line.quantity) // unit(token_type)
                found = await free_pieces(store, token_type, pieces)
                if len(found) < pieces:
                    raise Conflict("out of stock", code="insufficient")
                holds = [await hold_token(octx, owner, piece, token_type, escrow, why) for piece in found]
                tokens = [piece.id for piece in found]
        except Conflict as error:
            if error.code not in ("insufficient", "token-not-held", "concurrent-spend"):
                raise
            raise Conflict(f"{line.item.title!r} is out of stock", code="out-of-stock",
                           extra={"item": line.item_id}) from None
        await OrderLine.filter(id=line.id).update(holds=holds, tokens=tokens, updated_at=now)


async def _give_lines(ectx: Context, order: Order, to: Actor, why: str) -> list[str]:
    """Every line's held units out of the escrow to `to` (the buyer, or the organization back)."""
    entries = []
    for line in await OrderLine.filter(order_id=order.id).select_related("item").order_by("id"):
        token_type = await TokenType.get(id=line.item.type_id)
        if token_type.fungible:
            entries += [await pay_out(ectx, token_type, int(line.quantity), hold_id, to, why) for hold_id in line.holds]
            continue
        for token_id in line.tokens:
            token = await Token.get(id=token_id)
            spent = await spend_token_unit(ectx.require_actor(), token)
            view = await record_entry(ectx, EntryKind.GIVE, token_type, unit(token_type), to, spent, why, token)
            await transfer_token(ectx, token, to)
            entries.append(str(view["id"]))
    return entries


async def _escrow_context(ctx: Context, store: Store) -> Context:
    return as_escrow(ctx, await Actor.get(id=store.escrow_id))


async def _organization_actor(store: Store) -> Actor:
    organization = await Organization.get(id=store.organization_id)
    return await Actor.get(id=organization.actor_id)


async def _settle(ctx: Context, store: Store, order: Order) -> list[str]:
    """Close the books: units to the buyer, commission to the salesman, the rest to the organization."""
    ectx = await _escrow_context(ctx, store)
    buyer = await Actor.get(id=order.buyer_id)
    entries = await _give_lines(ectx, order, buyer, f"bought in order {order.id}")
    price_type = await TokenType.get(id=order.price_type_id)
    commission = order.total * order.commission_percent // 100 if order.salesman_id else 0
    hold_id = order.payment_hold_id
    if hold_id is None:  # nothing was paid (a free order)
        return entries
    if commission:
        salesman = await User.get(id=order.salesman_id).select_related("actor")
        entries.append(await pay_out(ectx, price_type, commission, hold_id, salesman.actor,
                                     f"commission on order {order.id}"))
    if order.total - commission:
        entries.append(await pay_out(ectx, price_type, order.total - commission, hold_id, await _organization_actor(store),
                                     f"payment for order {order.id}"))
    return entries


async def _refund(ctx: Context, store: Store, order: Order) -> list[str]:
    """The payment back to the buyer, the units back to stock."""
    ectx = await _escrow_context(ctx, store)
    entries = await _give_lines(ectx, order, await _organization_actor(store), f"returned from order {order.id}")
    price_type = await TokenType.get(id=order.price_type_id)
    if order.payment_hold_id is not None:
        entries.append(await pay_out(ectx, price_type, order.total, order.payment_hold_id,
                                     await Actor.get(id=order.buyer_id), f"refund of order {order.id}"))
    return entries


# ---------------------------------------------------------------- the basket


class LineInput(Input):
    item: str = ID
    quantity: str = Field("1", min_length=1, max_length=60, description="units (unique items: whole pieces)")


class OrderCreateInput(Input):
    slug: str = SLUG
    lines: list[LineInput] = Field(min_length=1, max_length=MAX_LINES)
    salesman: str | None = Field(None, min_length=1, max_length=64, description="the staff member who made the sale")
    note: str = NOTE

    @field_validator("lines")
    @classmethod
    def _distinct(cls, lines: list[LineInput]) -> list[LineInput]:
        if len({line.item for line in lines}) != len(lines):
            raise ValueError("name each item once (with its quantity)")
        return lines


@REGISTRY.operation("stores.orders.create", OrderCreateInput, output=StoreOrderOut)
async def create_order(ctx: Context, params: OrderCreateInput) -> dict[str, Any]:
    """Put items in a basket at today's prices (nothing is reserved until you order)."""
    buyer = ctx.require_actor()
    store, _ = await visible_store(ctx, params.slug)
    if not store.is_open:
        raise Conflict("the store is closed", code="store-closed")
    salesman = None
    if params.salesman is not None:
        staff = await StoreStaff.filter(store_id=store.id, user__username=params.salesman.lower().lstrip("@")).first()
        if staff is None:
            raise NotFound(f"{params.salesman!r} does not sell for this store", code="salesman-not-found",
                           errors=[{"field": "salesman", "message": "not on the store's staff"}])
        salesman = await User.get(id=staff.user_id)
    rows: list[tuple[StoreItem, int, int]] = []
    price_types = set()
    for index, line in enumerate(params.lines):
        item = await item_of(ctx, store, line.item, None)
        token_type = await TokenType.get(id=item.type_id)
        quantity = to_minor(line.quantity, token_type.smallest_unit, field=f"lines.{index}.quantity")
        if not token_type.fungible and ctx.remote:
            raise Unprocessable(f"{item.title!r} is a unique piece: those are sold to this server's users only (a "
                                "token's ownership cannot move to another server yet)", code="unique-type",
                                errors=[{"field": f"lines.{index}.item", "message": "a unique item"}])
        if not token_type.fungible and quantity % unit(token_type):
            raise BadInput("unique pieces are bought whole", code="invalid-amount",
                           errors=[{"field": f"lines.{index}.quantity", "message": "a whole number of pieces"}])
        cost, rest = divmod(quantity * item.price, unit(token_type))
        if rest:
            raise Unprocessable(f"{line.quantity} of {item.title!r} costs less than the price type's smallest unit",
                                code="price-not-exact", errors=[{"field": f"lines.{index}.quantity", "message": "not exact"}])
        rows.append((item, quantity, cost))
        price_types.add(item.price_type_id)
    if len(price_types) > 1:
        raise Unprocessable("one order pays in one token type: order these items separately", code="mixed-price-types")
    total = sum(cost for _, _, cost in rows)
    history = [{"state": OrderState.BASKET.value, "at": iso(_now()) or "", "by": _by(ctx), "note": params.note}]
    order = await Order.create(
        store=store, buyer=buyer, salesman=salesman, price_type_id=price_types.pop(), total=total,
        commission_percent=store.commission_percent, state=OrderState.BASKET.value, history=history,
    )
    await OrderLine.bulk_create([
        OrderLine(order=order, item=item, quantity=quantity, unit_price=item.price, amount=cost)
        for item, quantity, cost in rows
    ])
    await _emit(ctx, order, store, params.note)
    return await order_view(order)


# ---------------------------------------------------------------- moves


class MoveInput(Input):
    id: str = ID
    note: str = NOTE


async def _start(ctx: Context, order_id: str, target: str) -> tuple[Order, Store]:
    order, store, parts = await _order_for(ctx, order_id)
    _may(parts, order.state, target)
    return order, store


@REGISTRY.operation("stores.orders.place", MoveInput, output=StoreOrderOut)
async def place_order(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Order the basket: its units are reserved in the store's escrow (409 out-of-stock)."""
    order, store = await _start(ctx, params.id, OrderState.ORDERED.value)
    if not store.is_open:
        raise Conflict("the store is closed", code="store-closed")
    now = _now()
    order = await _move(ctx, order, OrderState.ORDERED.value, params.note, ordered_at=now)
    await _hold_stock(ctx, store, order)
    await PaymentDeadline.create(order=order, state=DeadlineState.PENDING.value,
                                 next_at=now + timedelta(seconds=store.pay_within_seconds))
    await _emit(ctx, order, store, params.note)
    return await order_view(order)


async def _payment_settled(order: Order) -> None:
    """Paid or cancelled first: the payment deadline has nothing left to do (drops a runner's claim)."""
    deadline = await PaymentDeadline.get_or_none(order_id=order.id, state=DeadlineState.PENDING.value)
    if deadline is not None:
        await move(STORE_PAYMENT_DEADLINES, deadline.id, DeadlineState.PENDING.value, DeadlineState.DONE.value)


@REGISTRY.operation("stores.orders.pay", MoveInput, output=StoreOrderOut)
async def pay_order(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Pay: the total is held in the store's escrow until you confirm delivery (or the deadline passes)."""
    order, store = await _start(ctx, params.id, OrderState.PAID.value)
    price_type = await TokenType.get(id=order.price_type_id)
    escrow = await Actor.get(id=store.escrow_id)
    payment = None
    if order.total:
        try:
            payment = await hold(ctx, ctx.require_actor(), price_type, order.total, escrow, f"payment for order {order.id}")
        except Conflict as error:
            if error.code != "insufficient":
                raise
            raise Conflict(f"you do not hold {to_decimal_string(order.total, price_type.smallest_unit)} "
                           f"{price_type.symbol} unreserved", code="insufficient") from None
    order = await _move(ctx, order, OrderState.PAID.value, params.note, paid_at=_now(), payment_hold_id=payment)
    await _payment_settled(order)
    await _emit(ctx, order, store, params.note)
    return await order_view(order)


@REGISTRY.operation("stores.orders.cancel", MoveInput, output=StoreOrderOut)
async def cancel_order(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Cancel before payment (the buyer; staff once ordered): reserved units go back to stock."""
    order, store, parts = await _order_for(ctx, params.id)
    _may(parts, order.state, OrderState.CANCELLED.value)
    await _cancel(ctx, store, order, params.note)
    return await order_view(await Order.get(id=order.id))


async def _cancel(ctx: Context, store: Store, order: Order, note: str, *, by_deadline: bool = False) -> None:
    """basket or ordered -> cancelled: reserved units go back to stock (and the payment deadline
    is closed, unless it is the deadline cancelling)."""
    was = order.state
    order = await _move(ctx, order, OrderState.CANCELLED.value, note, ended_at=_now())
    if was == OrderState.ORDERED.value:
        entries = await _give_lines(await _escrow_context(ctx, store), order, await _organization_actor(store),
                                    f"released: order {order.id} cancelled")
        await Order.filter(id=order.id).update(settled=entries)
        if not by_deadline:
            await _payment_settled(order)
    await _emit(ctx, order, store, note)


@REGISTRY.operation("stores.orders.fulfil", MoveInput, output=StoreOrderOut)
async def fulfil_order(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Mark a paid order sent (store staff)."""
    order, store = await _start(ctx, params.id, OrderState.FULFILLED.value)
    order = await _move(ctx, order, OrderState.FULFILLED.value, params.note, fulfilled_at=_now())
    await _emit(ctx, order, store, params.note)
    return await order_view(order)


@REGISTRY.operation("stores.orders.deliver", MoveInput, output=StoreOrderOut)
async def deliver_order(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Mark a sent order delivered (store staff): the buyer has the store's confirmation time to object."""
    order, store = await _start(ctx, params.id, OrderState.DELIVERED.value)
    now = _now()
    order = await _move(ctx, order, OrderState.DELIVERED.value, params.note, delivered_at=now,
                        next_at=now + timedelta(seconds=store.confirm_seconds), attempts=0)
    await _emit(ctx, order, store, params.note)
    return await order_view(order)


@REGISTRY.operation("stores.orders.confirm", MoveInput, output=StoreOrderOut)
async def confirm_order(ctx: Context, params: MoveInput) -> dict[str, Any]:
    """Confirm delivery (the buyer): the units become yours and the store is paid."""
    order, store = await _start(ctx, params.id, OrderState.CLOSED.value)
    order = await _move(ctx, order, OrderState.CLOSED.value, params.note, ended_at=_now(), next_at=None)
    entries = await _settle(ctx, store, order)
    await Order.filter(id=order.id).update(settled=entries)
    await _emit(ctx, order, store, params.note)
    return await order_view(await Order.get(id=order.id))


class IssueInput(Input):
    id: str = ID
    note: str = Field(min_length=1, max_length=2000, description="what went wrong")


@REGISTRY.operation("stores.orders.issue", IssueInput, output=StoreOrderOut)
async def open_issue(ctx: Context, params: IssueInput) -> dict[str, Any]:
    """Report a problem with a paid order (the buyer): the payment stays held until the store resolves it."""
    order, store = await _start(ctx, params.id, OrderState.ISSUE_OPENED.value)
    order = await _move(ctx, order, OrderState.ISSUE_OPENED.value, params.note, next_at=None)
    await _emit(ctx, order, store, params.note)
    return await order_view(order)


class ResolveInput(Input):
    id: str = ID
    resolution: Literal["refund", "replacement"]
    note: str = NOTE


@REGISTRY.operation("stores.orders.resolve", ResolveInput, output=StoreOrderOut)
async def resolve_issue(ctx: Context, params: ResolveInput) -> dict[str, Any]:
    """Resolve an issue (store staff): a refund (stores that take returns) or a replacement (settled as closed)."""
    order, store = await _start(ctx, params.id, OrderState.ISSUE_RESOLVED.value)
    if params.resolution == "refund" and store.returns == "final":
        raise Unprocessable("this store's sales are final: resolve by a replacement", code="sales-final")
    order = await _move(ctx, order, OrderState.ISSUE_RESOLVED.value, params.note, ended_at=_now(),
                        resolution=params.resolution)
    entries = await (_refund if params.resolution == "refund" else _settle)(ctx, store, order)
    await Order.filter(id=order.id).update(settled=entries)
    await _emit(ctx, order, store, params.note, resolution=params.resolution)
    return await order_view(await Order.get(id=order.id))


class FeedbackInput(Input):
    id: str = ID
    rating: int = Field(ge=1, le=5)
    review: str = Field("", max_length=10_000, description="markdown")


@REGISTRY.operation("stores.orders.feedback", FeedbackInput, output=StoreOrderOut)
async def give_feedback(ctx: Context, params: FeedbackInput) -> dict[str, Any]:
    """Rate an order that ended (the buyer, once): shown on its items and its store."""
    order, store, parts = await _order_for(ctx, params.id)
    if "buyer" not in parts:
        raise Forbidden("only the buyer rates an order", code="order-party")
    if order.state not in (OrderState.CLOSED.value, OrderState.ISSUE_RESOLVED.value):
        raise Conflict("rate an order once it is closed or its issue resolved", code="order-state",
                       extra={"state": order.state})
    try:
        async with in_transaction():
            await OrderFeedback.create(order=order, store=store, rating=params.rating, review=params.review)
    except IntegrityError:
        raise Conflict("you rated this order already", code="feedback-given") from None
    await _emit(ctx, order, store, "", name="feedback", rating=params.rating)
    return await order_view(order)


# ---------------------------------------------------------------- reading


class OrderRefInput(Input):
    id: str = ID


@REGISTRY.operation("stores.orders.get", OrderRefInput, output=StoreOrderOut, access=Access.USER)
async def get_order(ctx: Context, params: OrderRefInput) -> dict[str, Any]:
    """An order with its lines, history and feedback (its buyer and the store's staff)."""
    order, _, _ = await _order_for(ctx, params.id)
    return await order_view(order)


class OrderListInput(ListInput):
    store: str | None = Field(None, min_length=2, max_length=40, description="a store's orders board (its staff)")
    state: OrderState | None = None
    salesman: str | None = Field(None, min_length=1, max_length=64, description="the board: one salesman's sales")


@REGISTRY.operation("stores.orders.list", OrderListInput, output=Paged[StoreOrderOut], access=Access.USER)
async def list_orders(ctx: Context, params: OrderListInput) -> Any:
    """Your orders, newest first; with `store`, that store's orders board (its staff)."""
    actor = ctx.require_actor()
    if params.store is None:
        if params.salesman is not None:
            raise BadInput("salesman filters a store's board: give store too", code="store-required",
                           errors=[{"field": "salesman", "message": "needs store"}])
        query = Order.filter(buyer_id=actor.id)
    else:
        store, role = await visible_store(ctx, params.store)
        if role is None:
            raise Forbidden("a store's orders board is for its staff", code="store-role-required")
        query = Order.filter(store_id=store.id)
        if params.salesman:
            query = query.filter(salesman__username=params.salesman.lower().lstrip("@"))
    if params.state:
        query = query.filter(state=params.state.value)
    page = await paginate(query, params)
    views = {row.id: await order_view(row) for row in page.items}
    return page.map(lambda row: views[row.id])


# ---------------------------------------------------------------- the deadline


@STORE_ORDERS.handler(may={OrderState.CLOSED.value})
async def close_unconfirmed(site: Site, order: Order, lease: Lease) -> Outcome:
    """The buyer neither confirmed nor objected by the deadline: settle and close, with the row's
    move in one transaction (a buyer's move meanwhile drops our claim and this rolls back)."""
    ctx = Context(site=site)
    store = await Store.get(id=order.store_id)
    now = lease.now()
    async with in_transaction():
        await lease.save(order, ended_at=now)  # the row's lock, as a buyer's move takes it; LostLease if moved meanwhile
        entries = await _settle(ctx, store, order)
        note = "closed: the buyer did not answer before the deadline"
        history = [*order.history, {"state": OrderState.CLOSED.value, "at": iso(now) or "", "by": None, "note": note}]
        order.state = OrderState.CLOSED.value
        await _emit(ctx, order, store, note)
        return await lease.commit(order, Go(OrderState.CLOSED.value, values={
            "history": history, "settled": entries,
        }))



@STORE_PAYMENT_DEADLINES.handler(may={DeadlineState.DONE.value})
async def cancel_unpaid(site: Site, deadline: PaymentDeadline, lease: Lease) -> Outcome:
    """The order was not paid in time: cancel it and give its units back, with the row's move in one
    transaction (paying meanwhile closes the row by hand, so this rolls back)."""
    ctx = Context(site=site)
    async with in_transaction():
        await lease.save(deadline)  # LostLease if the order was paid or cancelled meanwhile
        order = await Order.get(id=deadline.order_id)
        if order.state == OrderState.ORDERED.value:
            await _cancel(ctx, await Store.get(id=order.store_id), order, "cancelled: not paid in time", by_deadline=True)
        return await lease.commit(deadline, Go(DeadlineState.DONE.value))

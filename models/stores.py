"""Stores (issue 20, items 1-3): an organization's shop, its staff, its inventory and its orders.

A store belongs to an organization: its base token type, every item's type (a child of the
base type) and the units in stock are the organization's. A store has one escrow actor (an
Actor of kind "escrow" with no user, as a market lot has): placing an order gives the units
it buys from the organization to the escrow, paying gives the buyer's payment there, and the
order's end gives them out again (to the buyer and the organization, or back). Every movement
is an ordinary ledger give, so stock is never sold twice and a balance is always the sum of
its unspent outputs.

An order is a row of the STORE_ORDERS machine (models/machines.py). People move it along
(`ORDER_MOVES`, declared there as manual moves); the machine's one due state is `delivered`:
when the buyer neither confirms nor opens an issue before the store's confirmation time,
the handler closes it and pays the store.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields

from .base import APP, Entity
from .engine import Durable

if TYPE_CHECKING:  # relation annotations only
    from .actors import Actor, User
    from .organizations import Organization
    from .tokens import TokenType

__all__ = [
    "ORDER_MOVES", "DeadlineState", "Order", "OrderFeedback", "OrderLine", "OrderState", "PaymentDeadline",
    "RemoteOrder", "ReturnsPolicy", "STORE_ESCROW_PREFIX", "StoreRequest",
    "StaffRole", "Store", "StoreCollection", "StoreItem", "StoreStaff", "store_escrow_username", "store_of_escrow",
]

STORE_ESCROW_PREFIX = "escrow.store."


def store_escrow_username(store_id: str) -> str:
    """A store's escrow username: dots, which no user's name may have, and the store's id."""
    return f"{STORE_ESCROW_PREFIX}{store_id}"


def store_of_escrow(username: str) -> str | None:
    """The id of the store whose escrow this is (by its username), or None for another escrow."""
    return username.removeprefix(STORE_ESCROW_PREFIX) if username.startswith(STORE_ESCROW_PREFIX) else None


class StaffRole(StrEnum):
    MANAGER = "manager"  # edits the store and its items, manages staff, and everything a salesman does
    SALESMAN = "salesman"  # sees the orders board, fulfils, marks delivered, resolves issues; earns commission


class ReturnsPolicy(StrEnum):
    RETURNS = "returns"  # an issue may be resolved by a refund (the units come back to stock)
    FINAL = "final"  # sales are final: an issue is resolved by a replacement


class Store(Entity):
    organization_id: str
    organization: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        f"{APP}.Organization", related_name="stores", on_delete=fields.RESTRICT
    )
    slug = fields.CharField(max_length=40, unique=True)  # its handle in URLs
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")  # markdown
    categories: fields.JSONField[list[str]] = fields.JSONField(default=list)
    base_type_id: str
    base_type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="stores", on_delete=fields.RESTRICT
    )
    escrow_id: str
    escrow: fields.OneToOneRelation[Actor] = fields.OneToOneField(
        f"{APP}.Actor", related_name="store_escrow", on_delete=fields.RESTRICT
    )
    returns = fields.CharField(max_length=8, default=ReturnsPolicy.RETURNS.value)
    commission_percent = fields.IntField(default=0)  # of an order's total, to the salesman named on it
    confirm_seconds = fields.IntField(default=14 * 86400)  # after delivery, the store is paid if the buyer is silent
    pay_within_seconds = fields.IntField(default=86400)  # an order not paid by then is cancelled (its units go back)
    is_open = fields.BooleanField(default=True)  # closed stores take no new orders
    version = fields.IntField(default=1)

    class Meta:
        app = APP
        table = "stores"
        indexes = (("organization_id",),)


class StoreStaff(Entity):
    store_id: str
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        f"{APP}.Store", related_name="staff", on_delete=fields.CASCADE
    )
    user_id: str
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="store_roles", on_delete=fields.CASCADE
    )
    role = fields.CharField(max_length=10)

    class Meta:
        app = APP
        table = "store_staff"
        unique_together = (("store", "user"),)
        indexes = (("user_id",),)


class StoreItem(Entity):
    """Something a store sells: a token type derived from the store's base type, and its price."""

    # Stock is the organization's unspent units of the type (unique types: the tokens it holds);
    # a variant is an item whose type derives from another item's type (`variant_of`), with the
    # attributes that set it apart (`variant`).

    store_id: str
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        f"{APP}.Store", related_name="items", on_delete=fields.CASCADE
    )
    type_id: str
    type: fields.OneToOneRelation[TokenType] = fields.OneToOneField(
        f"{APP}.TokenType", related_name="store_item", on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")  # markdown
    category = fields.CharField(max_length=60, null=True)
    price = fields.BigIntField()  # minor units of the price type, for one whole unit
    price_type_id: str
    price_type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="priced_store_items", on_delete=fields.RESTRICT
    )
    variant_of_id: str | None
    variant_of: fields.ForeignKeyNullableRelation[StoreItem] = fields.ForeignKeyField(
        f"{APP}.StoreItem", related_name="variants", null=True, on_delete=fields.RESTRICT
    )
    variant: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    is_listed = fields.BooleanField(default=True)  # unlisted items are not sold (nor shown to buyers)
    version = fields.IntField(default=1)

    class Meta:
        app = APP
        table = "store_items"
        indexes = (("store_id", "is_listed"),)


class StoreCollection(Entity):
    """Items a store promotes together (issue 20 item 2), shown as a section of its storefront.

    Its own small table, not a token set (models/sets.py): a set holds tokens, but most items are
    fungible types whose units have no token of their own (only unique pieces do), so a set could
    not name a mug or a tee. The collection names items (`item_ids`, in the order shown)."""

    store_id: str
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        f"{APP}.Store", related_name="collections", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")  # markdown
    item_ids: fields.JSONField[list[str]] = fields.JSONField(default=list)  # items of this store, in order
    version = fields.IntField(default=1)

    class Meta:
        app = APP
        table = "store_collections"
        unique_together = (("store", "name"),)


class OrderState(StrEnum):
    BASKET = "basket"  # chosen, nothing held
    ORDERED = "ordered"  # the units are held in the store's escrow
    PAID = "paid"  # the payment is held too
    FULFILLED = "fulfilled"  # the store sent it
    DELIVERED = "delivered"  # the store says it arrived; due at the confirmation deadline (next_at)
    CLOSED = "closed"  # settled: units to the buyer, payment to the store (less commission)
    ISSUE_OPENED = "issue_opened"  # the buyer reported a problem; the holds stay put
    ISSUE_RESOLVED = "issue_resolved"  # refunded (units back to stock) or replaced (settled as closed)
    CANCELLED = "cancelled"  # before payment: the units went back to stock
    FAILED = "failed"  # the automatic close kept failing (last_error); the holds stay put


# A person's moves: (from, to) -> who may make it. The machine declares them as manual moves.
ORDER_MOVES: dict[tuple[str, str], str] = {
    (OrderState.BASKET.value, OrderState.ORDERED.value): "buyer",
    (OrderState.BASKET.value, OrderState.CANCELLED.value): "buyer",
    (OrderState.ORDERED.value, OrderState.PAID.value): "buyer",
    (OrderState.ORDERED.value, OrderState.CANCELLED.value): "buyer or staff",
    (OrderState.PAID.value, OrderState.FULFILLED.value): "staff",
    (OrderState.FULFILLED.value, OrderState.DELIVERED.value): "staff",
    (OrderState.DELIVERED.value, OrderState.CLOSED.value): "buyer",
    (OrderState.PAID.value, OrderState.ISSUE_OPENED.value): "buyer",
    (OrderState.FULFILLED.value, OrderState.ISSUE_OPENED.value): "buyer",
    (OrderState.DELIVERED.value, OrderState.ISSUE_OPENED.value): "buyer",
    (OrderState.ISSUE_OPENED.value, OrderState.ISSUE_RESOLVED.value): "staff",
}


class Order(Durable, Entity):
    """A buyer's order from one store: a STORE_ORDERS row (see the module)."""

    store_id: str
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        f"{APP}.Store", related_name="orders", on_delete=fields.RESTRICT
    )
    buyer_id: str
    buyer: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="store_orders", on_delete=fields.RESTRICT
    )
    salesman_id: str | None  # the staff member the sale is attributed to
    salesman: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        f"{APP}.User", related_name="store_sales", null=True, on_delete=fields.RESTRICT
    )
    price_type_id: str
    price_type: fields.ForeignKeyRelation[TokenType] = fields.ForeignKeyField(
        f"{APP}.TokenType", related_name="store_orders", on_delete=fields.RESTRICT
    )
    total = fields.BigIntField(default=0)  # minor units of the price type
    commission_percent = fields.IntField(default=0)  # the store's rule when it was ordered
    payment_hold_id = fields.CharField(max_length=26, null=True)  # the escrow's output holding the payment
    resolution = fields.CharField(max_length=12, null=True)  # refund or replacement
    history: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)  # each move: state, at, by, note
    settled: fields.JSONField[list[str]] = fields.JSONField(default=list)  # the entries that settled it
    ordered_at = fields.DatetimeField(null=True)
    paid_at = fields.DatetimeField(null=True)
    fulfilled_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)  # closed, resolved or cancelled

    class Meta:
        app = APP
        table = "store_orders"
        indexes = (("store_id", "state"), ("buyer_id", "state"), ("salesman_id",), ("state", "next_at"))


class OrderLine(Entity):
    order_id: str
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        f"{APP}.Order", related_name="lines", on_delete=fields.CASCADE
    )
    item_id: str
    item: fields.ForeignKeyRelation[StoreItem] = fields.ForeignKeyField(
        f"{APP}.StoreItem", related_name="order_lines", on_delete=fields.RESTRICT
    )
    quantity = fields.BigIntField()  # minor units of the item's type (a unique piece counts one whole unit)
    unit_price = fields.BigIntField()  # the price when it was put in the basket
    amount = fields.BigIntField()  # what the line costs, minor units of the price type
    holds: fields.JSONField[list[str]] = fields.JSONField(default=list)  # the escrow's outputs holding its units
    tokens: fields.JSONField[list[str]] = fields.JSONField(default=list)  # unique pieces held, by id

    class Meta:
        app = APP
        table = "store_order_lines"
        indexes = (("order_id",), ("item_id",))


class OrderFeedback(Entity):
    """The buyer's rating and review of an order that ended: shown on its items and its store."""

    order_id: str
    order: fields.OneToOneRelation[Order] = fields.OneToOneField(
        f"{APP}.Order", related_name="feedback", on_delete=fields.CASCADE
    )
    store_id: str
    store: fields.ForeignKeyRelation[Store] = fields.ForeignKeyField(
        f"{APP}.Store", related_name="feedback", on_delete=fields.CASCADE
    )
    rating = fields.IntField()  # 1 to 5
    review = fields.TextField(default="")  # markdown

    class Meta:
        app = APP
        table = "store_feedback"
        indexes = (("store_id",),)


class DeadlineState(StrEnum):
    PENDING = "pending"  # due at the order's payment deadline
    DONE = "done"  # the order was paid or cancelled first, or the deadline cancelled it
    FAILED = "failed"  # the cancel kept failing (last_error); the units stay held


class PaymentDeadline(Durable, Entity):
    """When a placed order must be paid by: a STORE_PAYMENT_DEADLINES row, due at next_at."""

    order_id: str
    order: fields.OneToOneRelation[Order] = fields.OneToOneField(
        f"{APP}.Order", related_name="payment_deadline", on_delete=fields.CASCADE
    )

    class Meta:
        app = APP
        table = "store_payment_deadlines"
        indexes = (("state", "next_at"),)


class StoreRequest(Entity):
    """A remote buyer's signed request this store carried out, by the request's id: a repeat (the
    buyer's server asking again after a lost answer) gets the same answer and moves nothing."""

    request_uri = fields.CharField(max_length=2048, unique=True)
    actor_id: str
    actor: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="store_requests", on_delete=fields.CASCADE
    )
    order_id: str
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        f"{APP}.Order", related_name="requests", on_delete=fields.CASCADE
    )
    entry_id = fields.CharField(max_length=26, null=True)  # a payment's hold entry

    class Meta:
        app = APP
        table = "store_requests"


class RemoteOrder(Entity):
    """An order one of our users has with a store of another server (the buyer's side): its URL
    there and its document as that server last answered. The order lives there."""

    buyer_id: str
    buyer: fields.ForeignKeyRelation[Actor] = fields.ForeignKeyField(
        f"{APP}.Actor", related_name="remote_store_orders", on_delete=fields.CASCADE
    )
    uri = fields.CharField(max_length=2048, unique=True)
    store_uri = fields.CharField(max_length=2048)
    store_title = fields.CharField(max_length=200, default="")
    state = fields.CharField(max_length=16)
    document: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        app = APP
        table = "remote_store_orders"
        indexes = (("buyer_id",),)

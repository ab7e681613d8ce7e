"""Buyers on other servers (issue 20, item 5): dave on B buys from a store on A.

The order lives on A, the store's server; B keeps only its users' orders as A last answered
(models/stores.py RemoteOrder). Every request is a signed POST by dave's key to A's order
endpoint (`<A>/store-orders`, named `orderEndpoint` in A's storefront document), answered at
once with A's verdict, as a contract request is (federation/remote_contracts.py):

- `Create` of a `StoreOrder` {store, orderLines: [{item, quantity}], note}: a basket (201).
- `Create` of a `StoreOrderStep` {order, step: place|pay|cancel|confirm|issue|feedback, note,
  rating, review}: the move, as the local buyer's (models/operations/stores_remote.py). `pay`
  holds the total from the units of the price type dave holds on A's ledger (a price type is
  always A's) in the store's escrow; the hold's entry is authored by dave, so B debits his
  holding from the answer at once.
- `Read` of the order's URL: the order as it stands (the store's staff fulfil and deliver on A).

The answer is `{"order": <the order's document>, "entry": <the payment's entry document, or
null>}`; a repeat of a request id answers the same and moves nothing (200). The storefront is
the store's public document (`<A>/stores/<id>`, by content negotiation), fetched behind the
SSRF guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import unescape
from re import sub
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from tortoise.transactions import in_transaction

from models.actors import Actor, local_actor_url
from models.base import iso
from models.context import Context, Site
from models.errors import BadInput, DomainError, Forbidden, NotFound, Unprocessable
from models.federation import RemoteActor, RemoteCredit
from models.holdings import remote_holdings
from models.operations.stores_remote import REMOTE_STEPS, carry_out_order, carry_out_step, read_order
from models.outputs import Output, Paged, Timestamp
from models.paging import ListInput, paginate
from models.registry import REGISTRY, Access, Input, Transaction
from models.stores import Order, RemoteOrder, Store

from . import asking, documents
from .as2 import as_id, as_list, domain_of, type_of
from .asking import ask
from .fetch import FetchError, fetch_json
from .httpsig_core import IncomingRequest
from .inbox import checked_sender, parse_activity
from .objects import actor_url
from .remote_gives import apply_confirmed_entry
from .signed_objects import signed_document

__all__ = ["receive_store_request"]

MAX_NOTE = 2000


class OriginRefused(asking.OriginRefused):
    """The store's server said no; its status and code are passed on (set per refusal)."""

    status, code, title = 409, "origin-refused", "Refused by the store's server"


class OriginUnreachable(asking.OriginUnreachable):
    status, code, title = 503, "origin-unreachable", "The store's server did not answer"


class OriginAnswer(DomainError):
    """The store's server answered, but not with the order asked about."""

    status, code, title = 502, "origin-bad-answer", "The store's server answered something else"


def _endpoint(url: str) -> str:
    """Where the server of `url` takes order requests."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{documents.STORE_ORDERS_PATH}"


def _url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("a URL on another server, starting with https://")
    return value.strip()


def _text(html: Any) -> str:
    """A remote document's HTML as plain text (it is never rendered as HTML here)."""
    return " ".join(unescape(sub(r"<[^>]*>", " ", html)).split()) if isinstance(html, str) else ""


# ---------------------------------------------------------------- the buyer's server: the storefront


class RemoteStoreItemOut(Output):
    id: str = Field(description="the item's URL on the store's server")
    name: str
    description: str = Field(description="as plain text")
    category: str | None
    price: str
    price_type: str = Field(description="the price type's URL (a type of the store's server)")
    symbol: str
    stock: str
    unique: bool = Field(description="unique pieces are sold to the store server's users only")
    held: str | None = Field(description="what you hold of the price type here (null: none)")


class RemoteStorefrontOut(Output):
    store: str = Field(description="the store's URL (its ActivityPub id)")
    name: str
    description: str = Field(description="as plain text")
    page: str = Field(description="the storefront's page on its server")
    organization: str = Field(description="the organization's actor URL")
    returns: str
    is_open: bool
    items: list[RemoteStoreItemOut]


def _store_url(site: Site, url: str) -> str:
    """A store's URL as pasted: its ActivityPub id, or its page (`/app/stores/<slug>`)."""
    if url.startswith(f"{site.base_url}/"):
        raise Unprocessable("this store is on this server: buy from it here", code="local-store")
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.startswith("/app/stores/") and path.count("/") == 3:
        return f"{parts.scheme}://{parts.netloc}/{documents.OBJECT_PATHS['store']}/{path.rsplit('/', 1)[1]}"
    return url


async def remote_store(site: Site, url: str) -> dict[str, Any]:
    """The store's document from its server, checked: a Store of that server whose items are priced
    in types of it."""
    url = _store_url(site, url)
    try:
        store = await fetch_json(site, url)
    except FetchError as error:
        raise Unprocessable(f"the store {url} cannot be read: {error.detail}", code="store-unavailable") from None
    store_id = str(as_id(store) or "")
    if type_of(store) != "Store" or domain_of(store_id) != domain_of(url):
        raise Unprocessable(f"{url} is not a store of its own server", code="not-a-store")
    items = store.get("items")
    for item in as_list(items.get("items") if isinstance(items, Mapping) else None):
        if not isinstance(item, Mapping) or domain_of(str(item.get("priceType") or "")) != domain_of(store_id):
            raise Unprocessable(f"{url} lists an item not priced in a type of its own server", code="not-a-store")
    return store


async def _held(holder_id: str, type_uris: list[str]) -> dict[str, str]:
    """What the holder holds here of each type (its remote holdings), by type URL."""
    held = {}
    for holding in await remote_holdings(holder_id):
        if holding.type_uri in type_uris:
            held[holding.type_uri] = str(holding.view(domain="")["balance"])
    return held


async def _storefront_view(ctx: Context, store: Mapping[str, Any]) -> dict[str, Any]:
    items = store.get("items")
    rows = [item for item in as_list(items.get("items") if isinstance(items, Mapping) else None) if isinstance(item, Mapping)]
    held = await _held(ctx.require_actor().id, [str(item.get("priceType")) for item in rows])
    return {
        "store": str(as_id(store)), "name": str(store.get("name") or "")[:200], "description": _text(store.get("content"))[:10_000],
        "page": str(store.get("url") or as_id(store)), "organization": str(as_id(store.get("attributedTo")) or ""),
        "returns": str(store.get("returnsPolicy") or ""), "is_open": store.get("storeOpen") is not False,
        "items": [{
            "id": str(as_id(item) or ""), "name": str(item.get("name") or "")[:200],
            "description": _text(item.get("content"))[:10_000],
            "category": str(item["category"])[:60] if isinstance(item.get("category"), str) else None,
            "price": str(item.get("price") or ""), "price_type": str(item.get("priceType") or ""),
            "symbol": str(item.get("symbol") or "")[:64], "stock": str(item.get("stock") or "0"),
            "unique": item.get("unique") is True, "held": held.get(str(item.get("priceType"))),
        } for item in rows],
    }


class RemoteStoreInput(Input):
    store: str = Field(min_length=8, max_length=2048, description="the store's URL on its server, or its page's")

    _checked = field_validator("store")(_url)


@REGISTRY.operation("stores.remote.storefront", RemoteStoreInput, output=RemoteStorefrontOut, access=Access.USER,
                    transaction=Transaction.NONE)
async def remote_storefront(ctx: Context, params: RemoteStoreInput) -> dict[str, Any]:
    """A store of another server: its items and prices, with what you hold here of each price type."""
    ctx.require_actor()
    return await _storefront_view(ctx, await remote_store(ctx.site, params.store))


# ---------------------------------------------------------------- the buyer's server: orders


class RemoteStoreOrderLineOut(Output):
    item: str
    name: str
    quantity: str
    amount: str


class RemoteStoreOrderOut(Output):
    id: str
    order: str = Field(description="the order's URL on the store's server")
    store: str = Field(description="the store's URL")
    store_name: str
    state: str = Field(description="as the store's server last answered")
    lines: list[RemoteStoreOrderLineOut]
    total: str
    price_type: str
    symbol: str
    resolution: str | None
    due_at: str | None = Field(description="delivered: when the store is paid if you neither confirm nor object")
    rating: int | None = Field(description="your rating, once given")
    updated_at: Timestamp


class RemoteStorePaymentOut(RemoteStoreOrderOut):
    entry: str | None = Field(description="the payment's ledger entry on the store's server (null for other steps)")


def _view(row: RemoteOrder, entry: str | None = None, *, with_entry: bool = False) -> dict[str, Any]:
    document = row.document or {}
    lines = [line for line in as_list(document.get("orderLines")) if isinstance(line, Mapping)]
    feedback = document.get("feedback")
    rating = feedback.get("rating") if isinstance(feedback, Mapping) else None
    view = {
        "id": row.id, "order": row.uri, "store": row.store_uri, "store_name": row.store_title, "state": row.state,
        "lines": [{"item": str(line.get("item") or ""), "name": str(line.get("name") or "")[:200],
                   "quantity": str(line.get("quantity") or ""), "amount": str(line.get("amount") or "")} for line in lines],
        "total": str(document.get("amount") or ""), "price_type": str(document.get("priceType") or ""),
        "symbol": str(document.get("symbol") or ""),
        "resolution": document["resolution"] if isinstance(document.get("resolution"), str) else None,
        "due_at": document["endTime"] if isinstance(document.get("endTime"), str) else None,
        "rating": rating if isinstance(rating, int) and not isinstance(rating, bool) else None,
        "updated_at": iso(row.updated_at),
    }
    return {**view, "entry": entry} if with_entry else view


async def _ask(ctx: Context, buyer: Actor, target: str, activity: dict[str, Any]) -> dict[str, Any]:
    """A request signed by the buyer to the server of `target` (federation/asking.py)."""
    return await ask(ctx, buyer, _endpoint(target), "store-requests", activity,
                     refused=OriginRefused, unreachable=OriginUnreachable)


def _order_of(answer: Mapping[str, Any], buyer_url: str, *, uri: str | None = None) -> dict[str, Any]:
    """The order document in an answer, checked: a StoreOrder of the answering store's server,
    of our buyer (and the one asked about)."""
    order = answer.get("order")
    if not isinstance(order, Mapping) or type_of(order) != "StoreOrder":
        raise OriginAnswer("the store's server answered without an order")
    order_id = str(as_id(order) or "")
    if (uri is not None and order_id != uri) or as_id(order.get("buyer")) != buyer_url:
        raise OriginAnswer("the store's server answered with another order than the one asked for")
    if domain_of(str(as_id(order.get("store")) or "")) != domain_of(order_id) or not isinstance(order.get("orderState"), str):
        raise OriginAnswer("the order is of a store of another server than its own")
    return dict(order)


async def _record(buyer: Actor, order: dict[str, Any], store_title: str | None = None) -> RemoteOrder:
    uri = str(as_id(order))
    values: dict[str, Any] = {"buyer_id": buyer.id, "store_uri": str(as_id(order.get("store"))),
                              "state": str(order["orderState"])[:16], "document": order}
    if store_title is not None:
        values["store_title"] = store_title[:200]
    row = await RemoteOrder.get_or_none(uri=uri)
    if row is None:
        return await RemoteOrder.create(uri=uri, **values)
    await RemoteOrder.filter(id=row.id).update(**values)
    return await RemoteOrder.get(id=row.id)


class RemoteLineInput(Input):
    item: str = Field(min_length=8, max_length=2048, description="the item's URL on the store's server")
    quantity: str = Field("1", min_length=1, max_length=60)

    _checked = field_validator("item")(_url)


class RemoteOrderInput(Input):
    store: str = Field(min_length=8, max_length=2048, description="the store's URL on its server, or its page's")
    lines: list[RemoteLineInput] = Field(min_length=1, max_length=50)
    note: str = Field("", max_length=MAX_NOTE)
    place: bool = Field(False, description="order it at once (its units are reserved), not only a basket")

    _checked = field_validator("store")(_url)


@REGISTRY.operation("stores.remote.orders.create", RemoteOrderInput, output=RemoteStoreOrderOut, transaction=Transaction.OWN)
async def create_remote_order(ctx: Context, params: RemoteOrderInput) -> dict[str, Any]:
    """Put items of a store of another server in a basket there (with `place`: order them at once);
    that server's refusal (out-of-stock, closed, ...) comes back as is."""
    buyer = ctx.require_actor()
    store = await remote_store(ctx.site, params.store)
    store_url = str(as_id(store))
    buyer_url = local_actor_url(ctx.site.base_url, buyer)
    obj = {"type": "StoreOrder", "store": store_url, "note": params.note,
           "orderLines": [{"item": line.item, "quantity": line.quantity} for line in params.lines]}
    order = _order_of(await _ask(ctx, buyer, store_url, {"type": "Create", "object": obj}), buyer_url)
    async with in_transaction():
        row = await _record(buyer, order, str(store.get("name") or ""))
    if params.place:
        answer = await _ask(ctx, buyer, row.uri, {"type": "Create", "object": {
            "type": "StoreOrderStep", "order": row.uri, "step": "place", "note": params.note}})
        async with in_transaction():
            row = await _record(buyer, _order_of(answer, buyer_url, uri=row.uri))
    ctx.extra["status"] = 201
    ctx.extra["location"] = f"/api/v1/remote-orders/{row.id}"
    return _view(row)


async def _mine(buyer: Actor, order_id: str) -> RemoteOrder:
    row = await RemoteOrder.get_or_none(id=order_id, buyer_id=buyer.id)
    if row is None:
        raise NotFound(f"you have no order elsewhere {order_id!r}", code="remote-order-not-found")
    return row


async def _step(ctx: Context, order_id: str, step: str, **fields: Any) -> dict[str, Any]:
    """Ask the store's server for a move on one of our orders there; the order as it answered."""
    buyer = ctx.require_actor()
    row = await _mine(buyer, order_id)
    buyer_url = local_actor_url(ctx.site.base_url, buyer)
    answer = await _ask(ctx, buyer, row.uri, {"type": "Create", "object": {
        "type": "StoreOrderStep", "order": row.uri, "step": step, **fields}})
    order = _order_of(answer, buyer_url, uri=row.uri)
    entry = answer.get("entry")
    if isinstance(entry, Mapping) and (
        type_of(entry) != "LedgerEntry" or as_id(entry.get("attributedTo")) != buyer_url
        or as_id(entry.get("tokenType")) != as_id(order.get("priceType")) or domain_of(str(as_id(entry))) != domain_of(row.uri)
    ):
        raise OriginAnswer("the store's server answered with another payment than the one asked for")
    async with in_transaction():
        row = await _record(buyer, order)
        if isinstance(entry, Mapping):  # the store's confirmation: our buyer's holding is debited at once
            type_uri = str(as_id(entry.get("tokenType")) or "")
            credit = await RemoteCredit.filter(recipient_id=buyer.id, type_uri=type_uri).order_by("id").first()
            await apply_confirmed_entry(ctx.site, entry, symbol=credit.symbol if credit else "")
    return _view(row, str(as_id(entry)) if isinstance(entry, Mapping) else None, with_entry=step == "pay")


class RemoteMoveInput(Input):
    id: str = Field(min_length=1, max_length=26)
    note: str = Field("", max_length=MAX_NOTE, description="a note kept with the move")


class RemoteIssueInput(Input):
    id: str = Field(min_length=1, max_length=26)
    note: str = Field(min_length=1, max_length=MAX_NOTE, description="what went wrong")


class RemoteFeedbackInput(Input):
    id: str = Field(min_length=1, max_length=26)
    rating: int = Field(ge=1, le=5)
    review: str = Field("", max_length=10_000, description="markdown")


@REGISTRY.operation("stores.remote.orders.place", RemoteMoveInput, output=RemoteStoreOrderOut, transaction=Transaction.OWN)
async def place_remote_order(ctx: Context, params: RemoteMoveInput) -> dict[str, Any]:
    """Order your basket at a store of another server: its units are reserved there."""
    return await _step(ctx, params.id, "place", note=params.note)


@REGISTRY.operation("stores.remote.orders.pay", RemoteMoveInput, output=RemoteStorePaymentOut, transaction=Transaction.OWN)
async def pay_remote_order(ctx: Context, params: RemoteMoveInput) -> dict[str, Any]:
    """Pay an order at a store of another server, from the units of its price type you hold on that
    server's ledger: held in the store's escrow until you confirm delivery."""
    return await _step(ctx, params.id, "pay", note=params.note)


@REGISTRY.operation("stores.remote.orders.cancel", RemoteMoveInput, output=RemoteStoreOrderOut, transaction=Transaction.OWN)
async def cancel_remote_order(ctx: Context, params: RemoteMoveInput) -> dict[str, Any]:
    """Cancel an order at a store of another server before you pay: its units go back to stock."""
    return await _step(ctx, params.id, "cancel", note=params.note)


@REGISTRY.operation("stores.remote.orders.confirm", RemoteMoveInput, output=RemoteStoreOrderOut, transaction=Transaction.OWN)
async def confirm_remote_order(ctx: Context, params: RemoteMoveInput) -> dict[str, Any]:
    """Confirm delivery of an order at a store of another server: the units are given to you there
    (and reach you here) and the store is paid."""
    return await _step(ctx, params.id, "confirm", note=params.note)


@REGISTRY.operation("stores.remote.orders.issue", RemoteIssueInput, output=RemoteStoreOrderOut, transaction=Transaction.OWN)
async def open_remote_issue(ctx: Context, params: RemoteIssueInput) -> dict[str, Any]:
    """Report a problem with a paid order at a store of another server: the payment stays held."""
    return await _step(ctx, params.id, "issue", note=params.note)


@REGISTRY.operation("stores.remote.orders.feedback", RemoteFeedbackInput, output=RemoteStoreOrderOut,
                    transaction=Transaction.OWN)
async def remote_feedback(ctx: Context, params: RemoteFeedbackInput) -> dict[str, Any]:
    """Rate an order at a store of another server once it ended (once)."""
    return await _step(ctx, params.id, "feedback", rating=params.rating, review=params.review)


class RemoteOrdersInput(ListInput):
    pass


@REGISTRY.operation("stores.remote.orders.list", RemoteOrdersInput, output=Paged[RemoteStoreOrderOut], access=Access.USER)
async def list_remote_orders(ctx: Context, params: RemoteOrdersInput) -> Any:
    """Your orders at stores of other servers, newest first, as their servers last answered."""
    page = await paginate(RemoteOrder.filter(buyer_id=ctx.require_actor().id), params)
    page.items = [_view(row) for row in page.items]
    return page


class RemoteOrderRefInput(Input):
    id: str = Field(min_length=1, max_length=26)


@REGISTRY.operation("stores.remote.orders.get", RemoteOrderRefInput, output=RemoteStoreOrderOut, access=Access.USER,
                    transaction=Transaction.NONE)
async def get_remote_order(ctx: Context, params: RemoteOrderRefInput) -> dict[str, Any]:
    """One of your orders at a store of another server, as that server answers now (its staff send
    and deliver there); the last answer when it does not answer."""
    buyer = ctx.require_actor()
    row = await _mine(buyer, params.id)
    try:
        answer = await _ask(ctx, buyer, row.uri, {"type": "Read", "object": row.uri})
        order = _order_of(answer, local_actor_url(ctx.site.base_url, buyer), uri=row.uri)
    except (OriginUnreachable, OriginAnswer, Forbidden):
        return _view(row)
    async with in_transaction():
        row = await _record(buyer, order)
    return _view(row)


# ---------------------------------------------------------------- the store's server


def _local_id(site: Site, value: Any, field: str, *, kind: str) -> str:
    """The id of one of our stores, items or orders from its URL, or 404."""
    text = str(as_id(value) or "")
    if kind == "order":
        prefix = documents.store_order_url(site.base_url, "")
    else:
        prefix = documents.object_url(site.base_url, kind, "")
    rest = text[len(prefix):] if text.startswith(prefix) else ""
    if not rest or "/" in rest or len(rest) > 26:
        code = {"store": "store-not-found", "store_item": "item-not-found", "order": "order-not-found"}[kind]
        what = {"store": "store", "store_item": "store item", "order": "store order"}[kind]
        raise NotFound(f"{field}: {text!r} is not a {what} of this server", code=code)
    return rest


async def _sender(site: Site, request: IncomingRequest, activity: Mapping[str, Any]) -> RemoteActor:
    """The remote actor that signed the request, who must be its actor, with the request's id on
    its server (the checks of the ledger endpoint)."""
    actor_uri = str(as_id(activity["actor"]))
    signer = await checked_sender(site, request, actor_uri)
    if domain_of(str(activity["id"])) != domain_of(actor_uri):
        raise Forbidden("a request's id must live on its actor's server", code="origin-mismatch")
    return signer


async def _answer(site: Site, buyer: Actor, order_id: str, entry_id: str | None = None) -> dict[str, Any]:
    order = await Order.get(id=order_id)
    store = await Store.get(id=order.store_id).select_related("organization__actor")
    document = documents.store_order_document(
        await read_order(buyer, order_id), base_url=site.base_url, store_id=store.id,
        buyer_url=actor_url(site, buyer), organization_url=actor_url(site, store.organization.actor),
    )
    return {"order": document, "entry": await signed_document(site, "ledger", entry_id, reveal=True) if entry_id else None}


def _string(obj: Mapping[str, Any], name: str, limit: int) -> str:
    value = obj.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit:
        raise BadInput(f"{name} must be text of at most {limit} characters", code="malformed-request")
    return value


def _lines(site: Site, value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not value:
        raise BadInput("orderLines must be a list of {item, quantity}", code="malformed-request")
    lines = []
    for index, line in enumerate(value[:51]):
        quantity = line.get("quantity") if isinstance(line, Mapping) else None
        if not isinstance(quantity, str):
            raise BadInput(f"orderLines.{index}: an item URL and a quantity (a decimal string)", code="malformed-request")
        lines.append((_local_id(site, line.get("item"), f"orderLines.{index}.item", kind="store_item"), quantity))
    return lines


async def receive_store_request(site: Site, request: IncomingRequest) -> tuple[int, dict[str, Any]]:
    """A remote buyer's signed request (a basket, a move on their order, or reading it): (status,
    {"order": document, "entry": document | null}); a DomainError says why not."""
    activity = parse_activity(request.body, site.federation.inbox_max_bytes)
    sender = await _sender(site, request, activity)
    buyer = await Actor.get(id=sender.actor_id)
    request_uri = str(activity["id"])
    obj = activity.get("object")
    if activity["type"] == "Read":
        order_id = _local_id(site, obj, "object", kind="order")
        await read_order(buyer, order_id)  # 404 unless it is theirs
        return 200, await _answer(site, buyer, order_id)
    kind = type_of(obj) if isinstance(obj, Mapping) else None
    if activity["type"] != "Create" or kind not in ("StoreOrder", "StoreOrderStep"):
        raise BadInput("an order request is a Create of a StoreOrder or a StoreOrderStep, or a Read of an order",
                       code="malformed-request")
    assert isinstance(obj, Mapping)
    note = _string(obj, "note", MAX_NOTE)
    if kind == "StoreOrder":
        store_id = _local_id(site, obj.get("store"), "store", kind="store")
        order_id, _, made = await carry_out_order(site, buyer, request_uri, store_id=store_id,
                                                  lines=_lines(site, obj.get("orderLines")), note=note)
        return (201 if made else 200), await _answer(site, buyer, order_id)
    step = obj.get("step")
    if step not in REMOTE_STEPS:
        raise BadInput(f"step must be one of {', '.join(REMOTE_STEPS)}", code="malformed-request")
    order_id = _local_id(site, obj.get("order"), "order", kind="order")
    order_id, entry_id, made = await carry_out_step(
        site, buyer, request_uri, order_id=order_id, step=str(step), note=note, rating=obj.get("rating"),
        review=_string(obj, "review", 10_000),
    )
    return (201 if made and step == "pay" else 200), await _answer(site, buyer, order_id, entry_id)

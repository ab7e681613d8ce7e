"""Stores (issue 20, items 1-2): a store of an organization, its staff, and its inventory.

A store is made by its organization's owner or an admin. It gets a base token type owned by
the organization (a child of the organization's share type when it has one: the store
"inherits from the organization token") and an escrow actor that holds what orders reserve.
An item is a token type derived from the base type (a variant: from another item's type),
with a price in some token type; its stock is the organization's units of it, minted when
the item is made or restocked (unique pieces: one token each). Orders: stores_orders.py.

Everyone sees open stores and their listed items (a storefront); staff (managers, salesmen)
and the organization's owner and admins see the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from ..actors import Actor, User
from ..amounts import to_decimal_string, to_minor
from ..base import iso
from ..context import Context
from ..errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from ..ledger import LedgerEntry
from ..markdown import markdown_to_html
from ..market import ESCROW_KIND
from ..organizations import MemberRole, Organization, OrgMember
from ..outputs import Output, Paged
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Input
from ..stores import OrderFeedback, StaffRole, Store, StoreItem, StoreStaff, store_escrow_username
from ..tokens import Token, TokenType
from .organizations import as_organization, organization_of

__all__ = ["as_manager", "item_of", "staff_role", "store_of", "visible_store"]

SLUG = Field(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$", description="the store's handle: a-z, 0-9, -")
ID = Field(min_length=1, max_length=26)
USER = Field(min_length=1, max_length=64)
CATEGORY = Field(None, min_length=1, max_length=60)
MAX_STOCK_TOKENS = 100  # unique pieces minted by one call
ORG_MANAGERS = frozenset({MemberRole.OWNER.value, MemberRole.ADMIN.value})
# The attributes every item's type inherits from the store's base type: what a buyer sees.
BASE_ATTRIBUTES: list[dict[str, Any]] = [
    {"name": "title", "type": "string", "max": 200, "description": "what the item is called in the store"},
    {"name": "description", "type": "markdown", "description": "the item's description"},
    {"name": "image", "type": "media", "description": "a picture of the item"},
]


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- look-ups and roles


async def store_of(slug: str) -> Store:
    store = await Store.get_or_none(slug=slug.lower())
    if store is None:
        raise NotFound(f"there is no store {slug!r}", code="store-not-found")
    return store


async def staff_role(store: Store, user: User | None) -> str | None:
    """manager or salesman; the organization's owner and admins count as managers."""
    if user is None:
        return None
    member = await OrgMember.get_or_none(organization_id=store.organization_id, user_id=user.id)
    if member is not None and member.role in ORG_MANAGERS:
        return StaffRole.MANAGER.value
    staff = await StoreStaff.get_or_none(store_id=store.id, user_id=user.id)
    return staff.role if staff else None


async def visible_store(ctx: Context, slug: str) -> tuple[Store, str | None]:
    """The store and the caller's role in it; a closed store is 404 to all but its staff."""
    store = await store_of(slug)
    role = await staff_role(store, ctx.user)
    if not store.is_open and role is None:
        raise NotFound(f"there is no store {slug!r}", code="store-not-found")
    return store, role


async def as_manager(ctx: Context, slug: str) -> tuple[Store, str]:
    """The store, when the caller manages it (403 for others who see it, 404 for the rest)."""
    store, role = await visible_store(ctx, slug)
    ctx.require_user()
    if role != StaffRole.MANAGER.value:
        raise Forbidden(f"this needs the manager role in the store {slug!r}", code="store-role-required")
    return store, role


async def _as_manager(ctx: Context, slug: str) -> Store:
    return (await as_manager(ctx, slug))[0]


async def store_context(ctx: Context, store: Store) -> Context:
    """A context in which the store's organization acts (its types, its stock)."""
    organization = await Organization.get(id=store.organization_id)
    return as_organization(ctx, organization, await Actor.get(id=organization.actor_id))


async def item_of(ctx: Context, store: Store, item_id: str, role: str | None) -> StoreItem:
    item = await StoreItem.get_or_none(id=item_id, store_id=store.id)
    if item is None or (not item.is_listed and role is None):
        raise NotFound(f"there is no item {item_id!r} in the store {store.slug!r}", code="item-not-found")
    return item


# ---------------------------------------------------------------- views


class StoreStaffOut(Output):
    username: str
    role: str


class StoreRatingOut(Output):
    average: float | None = Field(description="the average rating, 1 to 5; null when nobody rated")
    count: int


class StoreOut(Output):
    id: str
    slug: str
    title: str
    description: str
    description_html: str
    organization: str
    base_type: str
    categories: list[str]
    returns: str
    commission_percent: int
    confirm_seconds: int
    pay_within_seconds: int
    is_open: bool
    rating: StoreRatingOut
    staff: list[StoreStaffOut] | None = Field(None, description="shown to the store's staff")
    role: str | None = Field(None, description="your role in the store: manager or salesman (null: none)")
    version: int
    created_at: str
    updated_at: str


class StoreReviewOut(Output):
    rating: int
    review_html: str
    created_at: str


SHOWN_REVIEWS = 10


async def _reviews(store_id: str, item_id: str) -> list[dict[str, Any]]:
    """The latest ratings with a review of orders that bought the item (buyers are not named)."""
    rows = await OrderFeedback.filter(store_id=store_id, order__lines__item_id=item_id).exclude(review="").distinct(
    ).order_by("-id").limit(SHOWN_REVIEWS)
    return [
        {"rating": row.rating, "review_html": markdown_to_html(row.review), "created_at": iso(row.created_at) or ""}
        for row in rows
    ]


async def _rating(store_id: str, item_id: str | None = None) -> dict[str, Any]:
    query = OrderFeedback.filter(store_id=store_id)
    if item_id is not None:
        query = query.filter(order__lines__item_id=item_id)
    rows = await query.distinct().values("id", "rating")
    ratings = [int(row["rating"]) for row in {row["id"]: row for row in rows}.values()]
    return {"average": round(sum(ratings) / len(ratings), 2) if ratings else None, "count": len(ratings)}


async def store_view(store: Store, role: str | None) -> dict[str, Any]:
    organization = await Organization.get(id=store.organization_id).select_related("actor")
    view: dict[str, Any] = {
        "id": store.id, "slug": store.slug, "title": store.title, "description": store.description,
        "description_html": markdown_to_html(store.description), "organization": organization.actor.username,
        "base_type": store.base_type_id, "categories": store.categories, "returns": store.returns,
        "commission_percent": store.commission_percent, "confirm_seconds": store.confirm_seconds,
        "pay_within_seconds": store.pay_within_seconds, "is_open": store.is_open,
        "rating": await _rating(store.id), "version": store.version,
        "created_at": iso(store.created_at) or "", "updated_at": iso(store.updated_at) or "", "staff": None,
        "role": role,
    }
    if role is not None:
        staff = await StoreStaff.filter(store_id=store.id).select_related("user").order_by("created_at", "id")
        view["staff"] = [{"username": row.user.username, "role": row.role} for row in staff]
    return view


class StoreItemOut(Output):
    id: str
    store: str
    type: str
    title: str
    description: str
    description_html: str
    category: str | None
    price: str
    price_type: str
    price_symbol: str
    unique: bool
    stock: str = Field(description="units the organization holds, not reserved by an order")
    variant_of: str | None
    variant: dict[str, Any]
    variants: list[str] = Field(description="the ids of the items that are variants of this one")
    is_listed: bool
    rating: StoreRatingOut
    reviews: list[StoreReviewOut] = Field(description="the latest reviews of orders that bought it")
    version: int
    created_at: str


async def stock_of(store: Store, token_type: TokenType) -> int:
    """The organization's unreserved units of the type (minor units)."""
    organization = await Organization.get(id=store.organization_id)
    rows = await LedgerEntry.filter(type_id=token_type.id, recipient_id=organization.actor_id, remaining__gt=0).annotate(
        total=Sum("remaining")
    ).values("total")
    return int(rows[0]["total"] or 0) if rows else 0


async def item_view(store: Store, item: StoreItem) -> dict[str, Any]:
    token_type = await TokenType.get(id=item.type_id)
    price_type = await TokenType.get(id=item.price_type_id)
    variants = await StoreItem.filter(variant_of_id=item.id).order_by("id").values_list("id", flat=True)
    return {
        "id": item.id, "store": store.slug, "type": item.type_id, "title": item.title, "description": item.description,
        "description_html": markdown_to_html(item.description), "category": item.category,
        "price": to_decimal_string(item.price, price_type.smallest_unit), "price_type": price_type.id,
        "price_symbol": price_type.symbol, "unique": not token_type.fungible,
        "stock": to_decimal_string(await stock_of(store, token_type), token_type.smallest_unit),
        "variant_of": item.variant_of_id, "variant": item.variant, "variants": [str(v) for v in variants],
        "is_listed": item.is_listed, "rating": await _rating(store.id, item.id),
        "reviews": await _reviews(store.id, item.id), "version": item.version,
        "created_at": iso(item.created_at) or "",
    }


# ---------------------------------------------------------------- stores


class StoreCreateInput(Input):
    organization: str = Field(min_length=1, max_length=30, description="the organization's name")
    slug: str = SLUG
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000, description="markdown")
    categories: list[str] = Field(default_factory=list, max_length=50)
    returns: Literal["returns", "final"] = Field("returns", description="returns: an issue may be refunded; final: replaced")
    commission_percent: int = Field(0, ge=0, le=100, description="of an order's total, paid to the salesman named on it")
    confirm_seconds: int = Field(14 * 86400, ge=60, le=180 * 86400, description="after delivery, paid to the store if the buyer is silent")
    pay_within_seconds: int = Field(86400, ge=60, le=30 * 86400, description="a placed order not paid by then is cancelled")


def _categories(values: list[str]) -> list[str]:
    cleaned = []
    for value in values:
        text = value.strip()
        if not 1 <= len(text) <= 60:
            raise BadInput("a category is 1 to 60 characters", code="invalid-category",
                           errors=[{"field": "categories", "message": "1 to 60 characters"}])
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


@REGISTRY.operation("stores.create", StoreCreateInput, output=StoreOut)
async def create_store(ctx: Context, params: StoreCreateInput) -> dict[str, Any]:
    """Open a store for an organization (its owner or an admin): a base type and an escrow come with it."""
    user = ctx.require_user()
    organization, actor = await organization_of(params.organization)
    member = await OrgMember.get_or_none(organization_id=organization.id, user_id=user.id)
    if member is None:
        raise NotFound(f"you are not a member of {params.organization!r}", code="not-a-member")
    if member.role not in ORG_MANAGERS:
        raise Forbidden("only the organization's owner or an admin opens a store", code="organization-role-required")
    if await Store.filter(slug=params.slug).exists():
        raise Conflict(f"the store name {params.slug!r} is taken", code="store-slug-taken")
    octx = as_organization(ctx, organization, actor)
    base = await REGISTRY.get("types.create").run(octx, REGISTRY.parse("types.create", {
        "name": f"{params.title} (store)", "symbol": params.slug.upper()[:32], "fungible": True, "smallest_unit": 0,
        "description": f"The base type of the items of the store {params.slug}.", "licensing": "closed",
        "parents": [organization.share_type_id] if organization.share_type_id else [], "attributes": BASE_ATTRIBUTES,
    }, ctx))
    store = Store(
        organization=organization, slug=params.slug, title=params.title, description=params.description,
        categories=_categories(params.categories), base_type_id=str(base["id"]), returns=params.returns,
        commission_percent=params.commission_percent, confirm_seconds=params.confirm_seconds,
        pay_within_seconds=params.pay_within_seconds,
    )
    escrow = await Actor.create(
        kind=ESCROW_KIND, username=store_escrow_username(store.id), display_name=f"Escrow of the store {params.slug}"
    )
    store.escrow = escrow
    try:
        async with in_transaction():
            await store.save()
    except IntegrityError:
        raise Conflict(f"the store name {params.slug!r} is taken", code="store-slug-taken") from None
    await ctx.emit("store.created", "store", store.id,
                   {"store": store.id, "organization": organization.id, "slug": store.slug})
    return await store_view(store, StaffRole.MANAGER.value)


class SlugInput(Input):
    slug: str = SLUG


@REGISTRY.operation("stores.get", SlugInput, output=StoreOut, access=Access.PUBLIC)
async def get_store(ctx: Context, params: SlugInput) -> dict[str, Any]:
    """A storefront: the store, its policy and its average rating (staff also see the staff)."""
    store, role = await visible_store(ctx, params.slug)
    return await store_view(store, role)


class StoreListInput(ListInput):
    organization: str | None = Field(None, min_length=1, max_length=30)


@REGISTRY.operation("stores.list", StoreListInput, output=Paged[StoreOut], access=Access.PUBLIC)
async def list_stores(ctx: Context, params: StoreListInput) -> Any:
    """Open stores, newest first; filter by organization."""
    query = Store.filter(is_open=True)
    if params.organization:
        query = query.filter(organization__actor__username=params.organization.lower(), organization__actor__domain="")
    page = await paginate(query, params)
    views = {row.id: await store_view(row, None) for row in page.items}
    return page.map(lambda row: views[row.id])


class StoreUpdateInput(Input):
    slug: str = SLUG
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    categories: list[str] | None = Field(None, max_length=50)
    returns: Literal["returns", "final"] | None = None
    commission_percent: int | None = Field(None, ge=0, le=100)
    confirm_seconds: int | None = Field(None, ge=60, le=180 * 86400)
    pay_within_seconds: int | None = Field(None, ge=60, le=30 * 86400)
    is_open: bool | None = None


@REGISTRY.operation("stores.update", StoreUpdateInput, output=StoreOut)
async def update_store(ctx: Context, params: StoreUpdateInput) -> dict[str, Any]:
    """Change a store's text, categories and rules, or close it (managers; If-Match: its version)."""
    store = await _as_manager(ctx, params.slug)
    ctx.check_version(store.version, "store")
    changes = {name: getattr(params, name) for name in sorted(params.model_fields_set - {"slug"})}
    if any(value is None for value in changes.values()):
        raise BadInput("a field cannot be null", code="validation-failed",
                       errors=[{"field": name, "message": "cannot be null"} for name, v in changes.items() if v is None])
    if "categories" in changes:
        changes["categories"] = _categories(changes["categories"])
    if not changes:
        return await store_view(store, StaffRole.MANAGER.value)
    moved = await Store.filter(id=store.id, version=store.version).update(
        **changes, version=store.version + 1, updated_at=_now()
    )
    if not moved:
        raise Conflict("the store changed meanwhile; read it again", code="version-mismatch")
    await ctx.emit("store.updated", "store", store.id, {
        "store": store.id, "organization": store.organization_id, "slug": store.slug, "fields": sorted(changes),
    })
    return await store_view(await Store.get(id=store.id), StaffRole.MANAGER.value)


class StaffInput(Input):
    slug: str = SLUG
    username: str = USER
    role: Literal["manager", "salesman"] = "salesman"


@REGISTRY.operation("stores.staff.add", StaffInput, output=StoreOut)
async def add_staff(ctx: Context, params: StaffInput) -> dict[str, Any]:
    """Make a user a manager or salesman of the store (managers), or change their role."""
    store = await _as_manager(ctx, params.slug)
    user = await User.get_or_none(username=params.username.lower().lstrip("@"))
    if user is None:
        raise NotFound(f"there is no user named {params.username!r}", code="user-not-found",
                       errors=[{"field": "username", "message": "unknown user"}])
    existing = await StoreStaff.get_or_none(store_id=store.id, user_id=user.id)
    if existing is None:
        await StoreStaff.create(store=store, user=user, role=params.role)
    else:
        await StoreStaff.filter(id=existing.id).update(role=params.role, updated_at=_now())
    await ctx.emit("store.staff.added", "store", store.id, {
        "store": store.id, "organization": store.organization_id, "slug": store.slug, "username": user.username,
        "role": params.role,
    })
    return await store_view(store, StaffRole.MANAGER.value)


class StaffRefInput(Input):
    slug: str = SLUG
    username: str = USER


@REGISTRY.operation("stores.staff.remove", StaffRefInput, output=StoreOut)
async def remove_staff(ctx: Context, params: StaffRefInput) -> dict[str, Any]:
    """Take a user off the store's staff (managers)."""
    store = await _as_manager(ctx, params.slug)
    name = params.username.lower().lstrip("@")
    removed = await StoreStaff.filter(store_id=store.id, user__username=name).first()
    if removed is None:
        raise NotFound(f"{params.username!r} is not on the store's staff", code="staff-not-found")
    await StoreStaff.filter(id=removed.id).delete()
    await ctx.emit("store.staff.removed", "store", store.id, {
        "store": store.id, "organization": store.organization_id, "slug": store.slug, "username": name,
    })
    return await store_view(store, StaffRole.MANAGER.value)


# ---------------------------------------------------------------- inventory


class ItemCreateInput(Input):
    slug: str = SLUG
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000, description="markdown")
    symbol: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    category: str | None = CATEGORY
    price: str = Field(min_length=1, max_length=60, description="for one whole unit, in the price type's units")
    price_type: str = Field(min_length=1, max_length=26, description="the token type buyers pay in")
    unique: bool = Field(False, description="unique pieces (a token each) rather than fungible units")
    smallest_unit: int = Field(0, ge=0, le=8, description="fungible items: decimal places of a unit")
    stock: str = Field("0", min_length=1, max_length=60, description="units (or pieces) to mint into stock now")
    variant_of: str | None = Field(None, min_length=1, max_length=26, description="the item this is a variant of")
    variant: dict[str, str] = Field(default_factory=dict, max_length=10, description="what sets the variant apart")
    attributes: dict[str, Any] = Field(default_factory=dict, description="unique pieces: their token attributes")


def _stock(text: str, decimals: int) -> int:
    if text.strip() in ("0", "0.0", ""):
        return 0
    return to_minor(text, decimals, field="stock")


async def _restock(ctx: Context, store: Store, item: StoreItem, token_type: TokenType, amount: int,
                   attributes: dict[str, Any]) -> None:
    """Mint `amount` into the organization's stock (unique: one token per whole unit)."""
    octx = await store_context(ctx, store)
    if token_type.fungible:
        await REGISTRY.get("ledger.create").run(octx, REGISTRY.parse("ledger.create", {
            "type": token_type.id, "amount": to_decimal_string(amount, token_type.smallest_unit),
            "description": f"stock of {item.title}",
        }, ctx))
        return
    pieces = amount // (10**token_type.smallest_unit)
    if pieces > MAX_STOCK_TOKENS:
        raise Unprocessable(f"mint at most {MAX_STOCK_TOKENS} unique pieces at a time", code="too-many-pieces")
    values = {"title": item.title, **attributes}
    for _ in range(pieces):
        await REGISTRY.get("tokens.create").run(octx, REGISTRY.parse("tokens.create", {
            "type": token_type.id, "attributes": values,
        }, ctx))


@REGISTRY.operation("stores.items.create", ItemCreateInput, output=StoreItemOut)
async def create_item(ctx: Context, params: ItemCreateInput) -> dict[str, Any]:
    """Add an item to the store (managers): a token type derived from the store's, its price and stock."""
    store = await _as_manager(ctx, params.slug)
    if params.category is not None and params.category not in store.categories:
        raise Unprocessable(f"the store has no category {params.category!r}", code="unknown-category",
                            errors=[{"field": "category", "message": "not one of the store's categories"}])
    price_type = await TokenType.get_or_none(id=params.price_type, is_deleted=False)
    if price_type is None:
        raise NotFound(f"there is no token type with id {params.price_type!r}", code="type-not-found",
                       errors=[{"field": "price_type", "message": "unknown type"}])
    price = to_minor(params.price, price_type.smallest_unit, field="price")
    parent_type = store.base_type_id
    if params.variant_of is not None:
        base_item = await StoreItem.get_or_none(id=params.variant_of, store_id=store.id)
        if base_item is None:
            raise NotFound(f"there is no item {params.variant_of!r} in this store", code="item-not-found",
                           errors=[{"field": "variant_of", "message": "unknown item"}])
        if base_item.variant_of_id is not None:
            raise Unprocessable("a variant's variants are not kept: derive from the main item", code="nested-variant")
        if not params.variant:
            raise BadInput("a variant says what sets it apart", code="variant-required",
                           errors=[{"field": "variant", "message": "at least one attribute"}])
        parent_type = base_item.type_id
    elif params.variant:
        raise BadInput("only a variant (variant_of) has variant attributes", code="variant-without-item",
                       errors=[{"field": "variant", "message": "needs variant_of"}])
    decimals = 0 if params.unique else params.smallest_unit
    amount = _stock(params.stock, decimals)
    if params.attributes and not params.unique:
        raise BadInput("only unique pieces carry token attributes", code="attributes-for-unique",
                       errors=[{"field": "attributes", "message": "needs unique"}])
    octx = await store_context(ctx, store)
    created = await REGISTRY.get("types.create").run(octx, REGISTRY.parse("types.create", {
        "name": params.title + (f" ({', '.join(params.variant.values())})" if params.variant else ""),
        "symbol": params.symbol, "fungible": not params.unique, "smallest_unit": decimals,
        "description": params.description, "parents": [parent_type], "licensing": "closed",
    }, ctx))
    item = await StoreItem.create(
        store=store, type_id=str(created["id"]), title=params.title, description=params.description,
        category=params.category, price=price, price_type=price_type, variant_of_id=params.variant_of,
        variant=params.variant,
    )
    token_type = await TokenType.get(id=item.type_id)
    if amount:
        await _restock(ctx, store, item, token_type, amount, params.attributes)
    await ctx.emit("store.item.created", "store_item", item.id, {
        "store": store.id, "item": item.id, "type": item.type_id,
        **({"stock_added": to_decimal_string(amount, decimals)} if amount else {}),
    })
    return await item_view(store, item)


class ItemListInput(ListInput):
    slug: str = SLUG
    category: str | None = CATEGORY
    q: str | None = Field(None, min_length=1, max_length=100, description="words in the title")


@REGISTRY.operation("stores.items.list", ItemListInput, output=Paged[StoreItemOut], access=Access.PUBLIC)
async def list_items(ctx: Context, params: ItemListInput) -> Any:
    """A store's items, newest first (unlisted ones to its staff only); filter by category or title."""
    store, role = await visible_store(ctx, params.slug)
    query = StoreItem.filter(store_id=store.id)
    if role is None:
        query = query.filter(is_listed=True)
    if params.category:
        query = query.filter(category=params.category)
    if params.q:
        query = query.filter(title__icontains=params.q)
    page = await paginate(query, params)
    views = {row.id: await item_view(store, row) for row in page.items}
    return page.map(lambda row: views[row.id])


class ItemRefInput(Input):
    slug: str = SLUG
    id: str = ID


@REGISTRY.operation("stores.items.get", ItemRefInput, output=StoreItemOut, access=Access.PUBLIC)
async def get_item(ctx: Context, params: ItemRefInput) -> dict[str, Any]:
    """An item: its price, stock, variants and average rating."""
    store, role = await visible_store(ctx, params.slug)
    return await item_view(store, await item_of(ctx, store, params.id, role))


class ItemUpdateInput(Input):
    slug: str = SLUG
    id: str = ID
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    category: str | None = CATEGORY
    price: str | None = Field(None, min_length=1, max_length=60)
    is_listed: bool | None = None
    add_stock: str | None = Field(None, min_length=1, max_length=60, description="units (or pieces) to mint into stock")


@REGISTRY.operation("stores.items.update", ItemUpdateInput, output=StoreItemOut)
async def update_item(ctx: Context, params: ItemUpdateInput) -> dict[str, Any]:
    """Change an item's text, category, price or listing, or add stock (managers; If-Match: its version).
    A new price applies to baskets made after it."""
    store = await _as_manager(ctx, params.slug)
    item = await item_of(ctx, store, params.id, StaffRole.MANAGER.value)
    ctx.check_version(item.version, "item")
    changes: dict[str, Any] = {}
    for name in ("title", "description", "is_listed", "category"):
        if name in params.model_fields_set:
            value = getattr(params, name)
            if value is None and name != "category":
                raise BadInput(f"{name} cannot be null", code="validation-failed",
                               errors=[{"field": name, "message": "cannot be null"}])
            changes[name] = value
    if changes.get("category") is not None and changes["category"] not in store.categories:
        raise Unprocessable(f"the store has no category {changes['category']!r}", code="unknown-category",
                            errors=[{"field": "category", "message": "not one of the store's categories"}])
    if params.price is not None:
        price_type = await TokenType.get(id=item.price_type_id)
        changes["price"] = to_minor(params.price, price_type.smallest_unit, field="price")
    token_type = await TokenType.get(id=item.type_id)
    added = to_minor(params.add_stock, token_type.smallest_unit, field="add_stock") if params.add_stock else 0
    if not changes and not added:
        raise BadInput("nothing to change", code="nothing-to-change")
    if changes:
        moved = await StoreItem.filter(id=item.id, version=item.version).update(
            **changes, version=item.version + 1, updated_at=_now()
        )
        if not moved:
            raise Conflict("the item changed meanwhile; read it again", code="version-mismatch")
        item = await StoreItem.get(id=item.id)
    if added:
        await _restock(ctx, store, item, token_type, added, {})
    await ctx.emit("store.item.updated", "store_item", item.id, {
        "store": store.id, "item": item.id, "type": item.type_id, "fields": sorted(changes),
        **({"stock_added": to_decimal_string(added, token_type.smallest_unit)} if added else {}),
    })
    return await item_view(store, item)


async def free_pieces(store: Store, token_type: TokenType, limit: int) -> list[Token]:
    """Unique pieces the organization holds (unreserved), oldest first."""
    organization = await Organization.get(id=store.organization_id)
    return list(await Token.filter(type_id=token_type.id, owner_id=organization.actor_id).order_by("id").limit(limit))

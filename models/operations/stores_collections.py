"""Store collections (issue 20 item 2): items a store promotes together, each a section of its
storefront with a page of its own.

Managers make, change and delete them; everyone who sees the store sees its collections, with
the items they may see (unlisted items to the staff only). Why a table of its own and not a
token set: models/stores.py, StoreCollection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from ..base import iso
from ..context import Context
from ..errors import BadInput, Conflict, NotFound, Unprocessable
from ..markdown import markdown_to_html
from ..outputs import Output, Paged
from ..paging import ListInput, paginate
from ..registry import REGISTRY, Access, Input
from ..stores import Store, StoreCollection, StoreItem
from .stores import ID, SLUG, StoreItemOut, as_manager, item_view, visible_store

__all__ = ["collection_of"]

MAX_ITEMS = 100
NAME = Field(min_length=1, max_length=200, description="what the collection is called on the storefront")
ITEMS = Field(max_length=MAX_ITEMS, description="the ids of items of this store, in the order shown")


class CollectionOut(Output):
    id: str
    store: str
    name: str
    description: str
    description_html: str
    item_ids: list[str] = Field(description="every item in it, in order (unlisted ones too, for the staff)")
    items: list[StoreItemOut] = Field(description="the items you may see, in order")
    version: int
    created_at: str
    updated_at: str


async def collection_of(store: Store, collection_id: str) -> StoreCollection:
    collection = await StoreCollection.get_or_none(id=collection_id, store_id=store.id)
    if collection is None:
        raise NotFound(f"there is no collection {collection_id!r} in the store {store.slug!r}",
                       code="collection-not-found")
    return collection


async def collection_view(store: Store, collection: StoreCollection, role: str | None) -> dict[str, Any]:
    rows = {row.id: row for row in await StoreItem.filter(id__in=collection.item_ids, store_id=store.id)}
    shown = [rows[i] for i in collection.item_ids if i in rows and (rows[i].is_listed or role is not None)]
    return {
        "id": collection.id, "store": store.slug, "name": collection.name, "description": collection.description,
        "description_html": markdown_to_html(collection.description),
        "item_ids": collection.item_ids if role is not None else [row.id for row in shown],
        "items": [await item_view(store, row) for row in shown], "version": collection.version,
        "created_at": iso(collection.created_at) or "", "updated_at": iso(collection.updated_at) or "",
    }


def _name(text: str) -> str:
    name = text.strip()
    if not name:
        raise BadInput("a collection needs a name", code="validation-failed",
                       errors=[{"field": "name", "message": "cannot be blank"}])
    return name


async def _items(store: Store, ids: list[str]) -> list[str]:
    """The ids, checked: each an item of this store, none twice (422 otherwise)."""
    if len(set(ids)) != len(ids):
        raise BadInput("an item is in a collection once", code="duplicate-item",
                       errors=[{"field": "items", "message": "an item is named twice"}])
    found = {str(row) for row in await StoreItem.filter(id__in=ids, store_id=store.id).values_list("id", flat=True)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise Unprocessable(f"the store {store.slug!r} has no item {missing[0]!r}", code="item-not-in-store",
                            errors=[{"field": "items", "message": f"not an item of this store: {', '.join(missing)}"}])
    return ids


class CollectionCreateInput(Input):
    slug: str = SLUG
    name: str = NAME
    description: str = Field("", max_length=10_000, description="markdown")
    items: list[str] = Field(default_factory=list, max_length=MAX_ITEMS, description=ITEMS.description)


@REGISTRY.operation("stores.collections.create", CollectionCreateInput, output=CollectionOut)
async def create_collection(ctx: Context, params: CollectionCreateInput) -> dict[str, Any]:
    """Make a collection of the store's items (managers)."""
    store, role = await as_manager(ctx, params.slug)
    name = _name(params.name)
    items = await _items(store, params.items)
    try:
        async with in_transaction():
            collection = await StoreCollection.create(store=store, name=name, description=params.description,
                                                      item_ids=items)
    except IntegrityError:
        raise Conflict(f"the store has a collection called {name!r}", code="collection-name-taken",
                       errors=[{"field": "name", "message": "taken in this store"}]) from None
    await ctx.emit("store.collection.created", "store_collection", collection.id,
                   {"store": store.id, "collection": collection.id, "name": name, "items": items})
    return await collection_view(store, collection, role)


class CollectionListInput(ListInput):
    slug: str = SLUG


@REGISTRY.operation("stores.collections.list", CollectionListInput, output=Paged[CollectionOut], access=Access.PUBLIC)
async def list_collections(ctx: Context, params: CollectionListInput) -> Any:
    """A store's collections, newest first, each with the items you may see."""
    store, role = await visible_store(ctx, params.slug)
    page = await paginate(StoreCollection.filter(store_id=store.id), params)
    views = {row.id: await collection_view(store, row, role) for row in page.items}
    return page.map(lambda row: views[row.id])


class CollectionRefInput(Input):
    slug: str = SLUG
    id: str = ID


@REGISTRY.operation("stores.collections.get", CollectionRefInput, output=CollectionOut, access=Access.PUBLIC)
async def get_collection(ctx: Context, params: CollectionRefInput) -> dict[str, Any]:
    """A collection and its items, in order."""
    store, role = await visible_store(ctx, params.slug)
    return await collection_view(store, await collection_of(store, params.id), role)


class CollectionUpdateInput(Input):
    slug: str = SLUG
    id: str = ID
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    items: list[str] | None = Field(None, max_length=MAX_ITEMS, description=ITEMS.description)


@REGISTRY.operation("stores.collections.update", CollectionUpdateInput, output=CollectionOut)
async def update_collection(ctx: Context, params: CollectionUpdateInput) -> dict[str, Any]:
    """Rename a collection, change its text, or set its items and their order (managers; If-Match: its version)."""
    store, role = await as_manager(ctx, params.slug)
    collection = await collection_of(store, params.id)
    ctx.check_version(collection.version, "collection")
    changes: dict[str, Any] = {}
    for name in sorted(params.model_fields_set & {"name", "description", "items"}):
        value = getattr(params, name)
        if value is None:
            raise BadInput(f"{name} cannot be null", code="validation-failed",
                           errors=[{"field": name, "message": "cannot be null"}])
        changes[name] = value
    if not changes:
        raise BadInput("nothing to change", code="nothing-to-change")
    if "name" in changes:
        changes["name"] = _name(changes["name"])
    if "items" in changes:
        changes["item_ids"] = await _items(store, changes.pop("items"))
    try:
        async with in_transaction():
            moved = await StoreCollection.filter(id=collection.id, version=collection.version).update(
                **changes, version=collection.version + 1, updated_at=datetime.now(UTC)
            )
    except IntegrityError:
        raise Conflict(f"the store has a collection called {changes['name']!r}", code="collection-name-taken",
                       errors=[{"field": "name", "message": "taken in this store"}]) from None
    if not moved:
        raise Conflict("the collection changed meanwhile; read it again", code="version-mismatch")
    collection = await StoreCollection.get(id=collection.id)
    fields = sorted("items" if name == "item_ids" else name for name in changes)
    await ctx.emit("store.collection.updated", "store_collection", collection.id, {
        "store": store.id, "collection": collection.id, "name": collection.name, "items": collection.item_ids,
        "fields": fields,
    })
    return await collection_view(store, collection, role)


@REGISTRY.operation("stores.collections.delete", CollectionRefInput, output=None)
async def delete_collection(ctx: Context, params: CollectionRefInput) -> None:
    """Delete a collection (managers); its items stay in the store."""
    store, _ = await as_manager(ctx, params.slug)
    collection = await collection_of(store, params.id)
    await StoreCollection.filter(id=collection.id).delete()
    await ctx.emit("store.collection.deleted", "store_collection", collection.id,
                   {"store": store.id, "collection": collection.id, "name": collection.name})

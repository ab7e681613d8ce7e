"""Running a store from its pages (issue 20): the list of stores and "Open a store" for an
organization's owner or admins, and the management page of a store for its managers: its
settings, its staff (add, remove after a confirm page) and its items (add, edit, add stock).

They call the stores operations as the API does (models/operations/stores.py), which check
who may do what; the page only decides which forms to show. Plain forms, no JavaScript.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models.errors import Forbidden, NotFound
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .wording import moment

__all__ = [
    "add_collection", "add_item", "add_staff", "delete_collection", "edit_collection", "edit_collection_form", "confirm_remove_staff", "edit_item", "edit_item_form", "manage_page", "open_store",
    "remove_staff", "stores_page", "update_settings",
]

ORG_MANAGERS = ("owner", "admin")
HOUR = 3600
# Form fields that are not the operation's own names.
SETTINGS_NAMES = {"confirm_seconds": "confirm_hours", "pay_within_seconds": "pay_within_hours"}


def _categories(text: str) -> list[str]:
    """Categories typed one a line or separated by commas."""
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _hours(form: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    """A whole number of hours as seconds; a message beside the field otherwise."""
    text = form.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit():
        errors[name] = "a whole number of hours"
        return None
    return int(text) * HOUR


def _settings_body(form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": form.get("title", ""), "description": form.get("description", ""),
        "categories": _categories(form.get("categories", "")), "returns": form.get("returns", "returns"),
        "commission_percent": form.get("commission_percent", "").strip() or "0",
    }
    for field, seconds in (("confirm_hours", "confirm_seconds"), ("pay_within_hours", "pay_within_seconds")):
        value = _hours(form, field, errors)
        if value is not None:
            body[seconds] = value
    return body


# ---------------------------------------------------------------- the list of stores


async def _managed_organizations(request: web.Request) -> list[tuple[str, str]]:
    """The organizations the signed-in user may open a store for (owner or admin)."""
    ctx = request[CTX]
    if ctx.user is None:
        return []
    mine = (await REGISTRY.call(ctx, "organizations.mine", {"page_size": page_size(ctx)})).items
    return [(row["name"], row["display_name"] or row["name"]) for row in mine if row["role"] in ORG_MANAGERS]


async def _stores_page(request: web.Request, *, values: dict[str, str] | None = None,
                       errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    query: dict[str, Any] = {"page_size": page_size(ctx)}
    organization = request.query.get("organization", "").strip()
    if organization:
        query["organization"] = organization
    stores = (await REGISTRY.call(ctx, "stores.list", query)).items
    organizations = await _managed_organizations(request)
    defaults = {"organization": organization or (organizations[0][0] if organizations else ""),
                "returns": "returns", "commission_percent": "0", "confirm_hours": "336", "pay_within_hours": "24"}
    return render(request, "stores.html.j2", status=status, stores=stores, organizations=organizations,
                  organization=organization, values=values or defaults, errors=errors or {}, error=error,
                  moment=moment)


@page
async def stores_page(request: web.Request) -> web.StreamResponse:
    return await _stores_page(request)


@page
async def open_store(request: web.Request) -> web.StreamResponse:
    """Open a store for an organization (the operation checks its owner or admin is asking)."""
    require_signed_in(request)
    form = await read_form(request)
    values = {key: form.get(key, "").strip() for key in (
        "organization", "slug", "title", "description", "categories", "returns", "commission_percent",
        "confirm_hours", "pay_within_hours")}
    errors: dict[str, str] = {}
    body = {"organization": values["organization"], "slug": values["slug"], **_settings_body(form, errors)}
    if errors:
        return await _stores_page(request, values=values, errors=errors, status=400,
                                  error="Please correct the fields marked below.")
    try:
        store = await call(request, "stores.create", body, SETTINGS_NAMES)
    except FormError as failed:
        fields = dict(failed.fields)
        if failed.problem.code == "store-slug-taken":
            fields["slug"] = failed.problem.detail
        return await _stores_page(request, values=values, errors=fields, status=failed.status,
                                  error=failed.general if not fields else "Please correct the fields marked below.")
    raise redirect(f"/app/stores/{store['slug']}/manage", "Store opened. Add its items and staff here.")


# ---------------------------------------------------------------- the management page


async def _managed_store(request: web.Request) -> dict[str, Any]:
    """The store if the signed-in user manages it: a manager on its staff, or the organization's
    owner or an admin. Others get what the API gives them: 404 for a closed store, else 403."""
    ctx = request[CTX]
    slug = request.match_info["slug"]
    store: dict[str, Any] = await REGISTRY.call(ctx, "stores.get", {"slug": slug})
    me = ctx.user.username if ctx.user is not None else None
    if store["staff"] is not None and any(s["username"] == me and s["role"] == "manager" for s in store["staff"]):
        return store
    organization = await REGISTRY.call(ctx, "organizations.get", {"name": store["organization"]})
    if any(m["username"] == me and m["role"] in ORG_MANAGERS for m in organization["members"]):
        return store
    raise Forbidden(f"this needs the manager role in the store {slug!r}", code="store-role-required")


def _category_choices(store: dict[str, Any]) -> list[tuple[str, str]]:
    return [("", "None"), *((c, c) for c in store["categories"])]


def _store_values(store: dict[str, Any]) -> dict[str, str]:
    return {
        "title": store["title"], "description": store["description"], "categories": ", ".join(store["categories"]),
        "returns": store["returns"], "commission_percent": str(store["commission_percent"]),
        "confirm_hours": str(store["confirm_seconds"] // HOUR), "pay_within_hours": str(store["pay_within_seconds"] // HOUR),
        "is_open": "on" if store["is_open"] else "", "version": str(store["version"]),
    }


async def _manage_page(request: web.Request, store: dict[str, Any], *, failed: str = "",
                       values: dict[str, str] | None = None, errors: dict[str, str] | None = None, error: str = "",
                       status: int = 200) -> web.Response:
    ctx = request[CTX]
    items = (await REGISTRY.call(ctx, "stores.items.list", {"slug": store["slug"], "page_size": page_size(ctx)})).items
    collections = (await REGISTRY.call(ctx, "stores.collections.list", {
        "slug": store["slug"], "page_size": page_size(ctx)})).items
    return render(
        request, "store_manage.html.j2", status=status, store=store, items=items, collections=collections,
        failed=failed,
        settings=values if failed == "settings" and values else _store_values(store),
        values=values or {}, errors=errors or {}, error=error,
        price_types={i["price_type"]: i["price_symbol"] for i in items}, category_choices=_category_choices(store),
        variant_choices=[("", "None: a new item")] + [(i["id"], i["title"]) for i in items if not i["variant_of"]],
        moment=moment,
    )


@page
async def manage_page(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _manage_page(request, await _managed_store(request))


async def _refused(request: web.Request, store: dict[str, Any], form: str, values: dict[str, str],
                   failed: FormError) -> web.Response:
    return await _manage_page(request, store, failed=form, values=values, errors=failed.fields,
                              error=failed.general, status=failed.status)


@page
async def update_settings(request: web.Request) -> web.StreamResponse:
    """Save the store's text and rules; a change made meanwhile is shown, not overwritten."""
    require_signed_in(request)
    store = await _managed_store(request)
    form = await read_form(request)
    values = {key: form.get(key, "").strip() for key in _store_values(store)}
    errors: dict[str, str] = {}
    body = {"slug": store["slug"], **_settings_body(form, errors), "is_open": bool(form.get("is_open"))}
    if errors:
        return await _manage_page(request, store, failed="settings", values=values, errors=errors, status=400,
                                  error="Please correct the fields marked below.")
    request[CTX].if_match = values["version"] or None
    try:
        await call(request, "stores.update", body, SETTINGS_NAMES)
    except FormError as failed:
        if failed.problem.code == "version-mismatch":
            return await _manage_page(request, store, error="Someone changed this store while you were editing. "
                                      "Here is their version; make your change again if you still want it.", status=409,
                                      failed="settings")
        return await _refused(request, store, "settings", values, failed)
    raise redirect(f"/app/stores/{store['slug']}/manage", "Store saved.")


@page
async def add_staff(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    store = await _managed_store(request)
    form = await read_form(request)
    values = {"username": form.get("username", "").strip(), "role": form.get("role", "salesman")}
    try:
        await call(request, "stores.staff.add", {"slug": store["slug"], **values})
    except FormError as failed:
        return await _refused(request, store, "staff", values, failed)
    role = "a manager" if values["role"] == "manager" else "a salesman"
    raise redirect(f"/app/stores/{store['slug']}/manage", f"{values['username'].lstrip('@')} is {role} of the store now.")


def _staff_member(store: dict[str, Any], username: str) -> dict[str, Any]:
    member: dict[str, Any] | None = next((s for s in store["staff"] or [] if s["username"] == username), None)
    if member is None:
        raise NotFound(f"{username!r} is not on the store's staff", code="staff-not-found")
    return member


@page
async def confirm_remove_staff(request: web.Request) -> web.StreamResponse:
    """The confirm page: what taking someone off the staff does, and the button that does it."""
    require_signed_in(request)
    store = await _managed_store(request)
    member = _staff_member(store, request.match_info["username"])
    return render(request, "store_manage_remove.html.j2", store=store, member=member, error="")


@page
async def remove_staff(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    store = await _managed_store(request)
    member = _staff_member(store, request.match_info["username"])
    try:
        await call(request, "stores.staff.remove", {"slug": store["slug"], "username": member["username"]})
    except FormError as failed:
        return render(request, "store_manage_remove.html.j2", status=failed.status, store=store, member=member,
                      error=failed.problem.detail)
    raise redirect(f"/app/stores/{store['slug']}/manage", f"{member['username']} is off the store's staff.")


# ---------------------------------------------------------------- items

ITEM_FIELDS = ("title", "symbol", "description", "price", "price_type", "category", "unique", "smallest_unit",
               "stock", "variant_of", "variant")


def _variant(text: str) -> dict[str, str] | None:
    """"size=L, colour=red" as {"size": "L", "colour": "red"}; None when a part has no "=" or no name."""
    pairs: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            return None
        pairs[name.strip()] = value.strip()
    return pairs


@page
async def add_item(request: web.Request) -> web.StreamResponse:
    """Add an item: its type, price and first stock (fungible units or unique pieces)."""
    require_signed_in(request)
    store = await _managed_store(request)
    form = await read_form(request)
    values = {key: form.get(key, "").strip() for key in ITEM_FIELDS}
    body: dict[str, Any] = {
        "slug": store["slug"], "title": values["title"], "symbol": values["symbol"],
        "description": values["description"], "price": values["price"], "price_type": values["price_type"],
        "unique": bool(values["unique"]), "stock": values["stock"] or "0",
        "smallest_unit": values["smallest_unit"] or "0",
    }
    if values["category"]:
        body["category"] = values["category"]
    if values["variant_of"]:
        body["variant_of"] = values["variant_of"]
    variant = _variant(values["variant"])
    if variant is None:
        return await _manage_page(request, store, failed="item", values=values, status=400,
                                  errors={"variant": 'write it as name=value, such as size=L'},
                                  error="Please correct the fields marked below.")
    if variant:
        body["variant"] = variant
    try:
        item = await call(request, "stores.items.create", body)
    except FormError as failed:
        return await _refused(request, store, "item", values, failed)
    raise redirect(f"/app/stores/{store['slug']}/manage#item-{item['id']}", f"{item['title']} added.")


def _item_values(item: dict[str, Any]) -> dict[str, str]:
    return {"title": item["title"], "description": item["description"], "category": item["category"] or "",
            "price": item["price"], "is_listed": "on" if item["is_listed"] else "", "add_stock": "",
            "version": str(item["version"])}


async def _item_form(request: web.Request, store: dict[str, Any], *, values: dict[str, str] | None = None,
                     errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    item = await REGISTRY.call(request[CTX], "stores.items.get", {"slug": store["slug"], "id": request.match_info["id"]})
    return render(request, "store_manage_item.html.j2", status=status, store=store, item=item,
                  values=values or _item_values(item), errors=errors or {}, error=error,
                  category_choices=_category_choices(store), moment=moment)


@page
async def edit_item_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _item_form(request, await _managed_store(request))


@page
async def edit_item(request: web.Request) -> web.StreamResponse:
    """Change an item's text, category, price or listing, or add stock."""
    require_signed_in(request)
    store = await _managed_store(request)
    form = await read_form(request)
    values = {key: form.get(key, "").strip() for key in ("title", "description", "category", "price", "add_stock",
                                                          "version")}
    values["is_listed"] = "on" if form.get("is_listed") else ""
    body: dict[str, Any] = {
        "slug": store["slug"], "id": request.match_info["id"], "title": values["title"],
        "description": values["description"], "category": values["category"] or None, "price": values["price"],
        "is_listed": bool(values["is_listed"]),
    }
    if values["add_stock"]:
        body["add_stock"] = values["add_stock"]
    request[CTX].if_match = values["version"] or None
    try:
        item = await call(request, "stores.items.update", body)
    except FormError as failed:
        if failed.problem.code == "version-mismatch":
            return await _item_form(request, store, status=409, error="Someone changed this item while you were "
                                    "editing. Here is their version; make your change again if you still want it.")
        return await _item_form(request, store, values=values, errors=failed.fields, error=failed.general,
                                status=failed.status)
    raise redirect(f"/app/stores/{store['slug']}/manage#item-{item['id']}", f"{item['title']} saved.")


# ---------------------------------------------------------------- collections


@page
async def add_collection(request: web.Request) -> web.StreamResponse:
    """Make a collection of the ticked items (in the order the form lists them)."""
    require_signed_in(request)
    store = await _managed_store(request)
    data = await request.post()
    picked = [value for value in data.getall("items", []) if isinstance(value, str)]
    values = {key: str(data.get(key, "")).strip() for key in ("name", "description")}
    try:
        made = await call(request, "stores.collections.create", {"slug": store["slug"], **values, "items": picked})
    except FormError as failed:
        return await _manage_page(request, store, failed="collection", values={**values, "items": ",".join(picked)},
                                  errors=failed.fields, error=failed.general, status=failed.status)
    raise redirect(f"/app/stores/{store['slug']}/manage#collection-{made['id']}", f"{made['name']} made.")


@page
async def delete_collection(request: web.Request) -> web.StreamResponse:
    """Delete a collection (its button names it); its items stay in the store."""
    require_signed_in(request)
    store = await _managed_store(request)
    await REGISTRY.call(request[CTX], "stores.collections.delete", {"slug": store["slug"], "id": request.match_info["id"]})
    raise redirect(f"/app/stores/{store['slug']}/manage#collections", "Collection deleted; its items are still for sale.")


async def _collection_form(request: web.Request, store: dict[str, Any], *, values: dict[str, Any] | None = None,
                           errors: dict[str, str] | None = None, error: str = "", status: int = 200) -> web.Response:
    ctx = request[CTX]
    collection = await REGISTRY.call(ctx, "stores.collections.get", {"slug": store["slug"], "id": request.match_info["id"]})
    items = (await REGISTRY.call(ctx, "stores.items.list", {"slug": store["slug"], "page_size": page_size(ctx)})).items
    if values is None:
        values = {"name": collection["name"], "description": collection["description"], "version": str(collection["version"]),
                  "positions": {item_id: str(n) for n, item_id in enumerate(collection["item_ids"], 1)}}
    return render(request, "store_collection_edit.html.j2", status=status, store=store, collection=collection,
                  items=items, values=values, errors=errors or {}, error=error)


@page
async def edit_collection_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return await _collection_form(request, await _managed_store(request))


@page
async def edit_collection(request: web.Request) -> web.StreamResponse:
    """Rename a collection, change its text, or its items and their order: an item is in it when
    it has a position; positions sort it (ties keep the page's order)."""
    require_signed_in(request)
    store = await _managed_store(request)
    form = await read_form(request)
    values: dict[str, Any] = {key: form.get(key, "").strip() for key in ("name", "description", "version")}
    values["positions"] = {key.removeprefix("pos-"): value.strip() for key, value in form.items()
                           if key.startswith("pos-") and value.strip()}
    try:
        ordered = sorted(values["positions"], key=lambda item_id: float(values["positions"][item_id]))
    except ValueError:
        return await _collection_form(request, store, values=values, status=400,
                                      errors={"items": "A position is a number, like 1, 2 or 3."})
    request[CTX].if_match = values["version"] or None
    body = {"slug": store["slug"], "id": request.match_info["id"], "name": values["name"],
            "description": values["description"], "items": ordered}
    try:
        collection = await call(request, "stores.collections.update", body)
    except FormError as failed:
        if failed.problem.code == "version-mismatch":
            return await _collection_form(request, store, status=409, error="Someone changed this collection while "
                                          "you were editing. Here is their version; make your change again if you still want it.")
        return await _collection_form(request, store, values=values, errors=failed.fields, error=failed.general,
                                      status=failed.status)
    raise redirect(f"/app/stores/{store['slug']}/collections/{collection['id']}", f"{collection['name']} saved.")

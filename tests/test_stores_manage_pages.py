"""Store management pages (issue 20): an organization's owner opens a store from /app/stores, then
runs it from its management page (settings, staff, items) in the browser, without JavaScript.
Each form: it works, bad input is shown beside the field with the input kept, a non-manager is
refused as the API refuses (403, or 404 for what they may not see), and a post without CSRF fails."""

from __future__ import annotations

import re

from .conftest import Api
from .pagehelpers import Browser
from .test_pages_session import assert_labelled
from .test_stores import SHOP, shop

MANAGE = "/app/stores/acme-shop/manage"


async def test_stores_page__lists_stores_and_an_owner_opens_one(api: Api) -> None:
    await shop(api)
    browser = Browser(api.client)
    listed = await browser.get("/app/stores", expect=200)  # public
    assert "Acme shop" in listed and 'id="open-store-form"' not in listed
    await browser.sign_in("ben")  # no organization of his: nothing to open a store for
    assert 'id="open-store-form"' not in await browser.get("/app/stores", expect=200)
    await browser.sign_in("alice")
    organization = await browser.get("/app/organizations/acme", expect=200)
    assert 'href="/app/stores?organization=acme"' in organization.text
    opened = await browser.get("/app/stores?organization=acme", expect=200)
    assert 'id="open-store-form"' in opened and "The stores of acme" in opened and "<script" not in opened.text
    assert_labelled(opened.text)
    form = {"organization": "acme", "slug": "acme-books", "title": "Acme books", "description": "Good *reads*.",
            "categories": "novels, poems", "returns": "final", "commission_percent": "5", "confirm_hours": "48",
            "pay_within_hours": "2"}
    refused = await browser.post("/app/stores", {**form, "slug": "Bad Slug!"}, csrf=opened.csrf(), expect=400)
    assert refused.field_error("slug") and 'value="Acme books"' in refused.text and 'id="open-store-form"' in refused
    hours = await browser.post("/app/stores", {**form, "confirm_hours": "soon"}, csrf=opened.csrf(), expect=400)
    assert hours.field_error("confirm_hours") == "a whole number of hours"
    taken = await browser.post("/app/stores", {**form, "slug": "acme-shop"}, csrf=opened.csrf(), expect=409)
    assert "taken" in (taken.field_error("slug") or "")
    await browser.post("/app/stores", form, expect=403)  # no CSRF token
    made = await browser.post("/app/stores", form, csrf=opened.csrf(), expect=200)
    assert "Store opened" in made and "Manage Acme books" in made and made.url.endswith("/app/stores/acme-books/manage")
    store = (await api.get("/api/v1/stores/acme-books", expect=200)).body
    assert (store["categories"], store["returns"], store["commission_percent"]) == (["novels", "poems"], "final", 5)
    assert (store["confirm_seconds"], store["pay_within_seconds"]) == (48 * 3600, 2 * 3600)
    await browser.sign_in("zed")  # not a member of acme: the API's 404
    zed = await browser.get("/app/stores", expect=200)
    assert 'id="open-store-form"' not in zed
    await browser.post("/app/stores", {**form, "slug": "zed-shop"}, csrf=zed.csrf(), expect=404)


async def test_manage_page__settings_for_managers_only(api: Api) -> None:
    m = await shop(api)
    browser = Browser(api.client)
    await browser.sign_in("alice")  # the organization's owner counts as a manager
    front = await browser.get("/app/stores/acme-shop", expect=200)
    assert f'href="{MANAGE}"' in front.text
    page = await browser.get(MANAGE, expect=200)
    assert "Manage Acme shop" in page and 'id="settings-form"' in page and "sam" in page and "Mug" in page
    assert "<script" not in page.text
    assert_labelled(page.text)
    ids = re.findall(r' id="([^"]+)"', page.text)
    assert len(ids) == len(set(ids)), "each label names one field: no id twice on the page"
    settings = {"title": "Acme shop", "description": "We sell *things*.", "categories": "kitchen, clothes, art",
                "returns": "returns", "commission_percent": "10", "confirm_hours": "1", "pay_within_hours": "24",
                "is_open": "on", "version": "1"}
    bad = await browser.post(f"{MANAGE}/settings", {**settings, "commission_percent": "150", "title": "Acme store"},
                             csrf=page.csrf(), expect=400)
    assert bad.field_error("commission_percent") and 'value="Acme store"' in bad.text
    await browser.post(f"{MANAGE}/settings", settings, expect=403)  # no CSRF token
    saved = await browser.post(f"{MANAGE}/settings", {**settings, "title": "Acme store", "is_open": ""},
                               csrf=page.csrf(), expect=200)
    assert "Store saved" in saved and "Manage Acme store" in saved and "closed: only its staff see it" in saved
    store = (await api.get(SHOP, token=m["alice"], expect=200)).body
    assert (store["title"], store["is_open"], store["version"]) == ("Acme store", False, 2)
    stale = await browser.post(f"{MANAGE}/settings", {**settings, "title": "Old"}, csrf=page.csrf(), expect=409)
    assert "Someone changed this store" in stale and 'value="Acme store"' in stale.text
    await browser.get("/app/stores/acme-shop", expect=200)  # closed: still its staff's
    await browser.sign_in("sam")  # a salesman sees the store (closed) but may not manage it
    await browser.get(MANAGE, expect=403)
    salesman = await browser.get("/app/stores/acme-shop/orders", expect=200)
    await browser.post(f"{MANAGE}/settings", settings, csrf=salesman.csrf(), expect=403)
    await browser.sign_in("ben")  # a buyer: the closed store is not there for him
    await browser.get(MANAGE, expect=404)


async def test_manage_page__staff_added_and_removed_after_a_confirm(api: Api) -> None:
    m = await shop(api)
    browser = Browser(api.client)
    await browser.sign_in("alice")
    page = await browser.get(MANAGE, expect=200)
    ghost = await browser.post(f"{MANAGE}/staff", {"username": "ghost", "role": "manager"}, csrf=page.csrf(), expect=404)
    assert ghost.field_error("username") == "unknown user" and 'value="ghost"' in ghost.text
    await browser.post(f"{MANAGE}/staff", {"username": "bea", "role": "manager"}, expect=403)  # no CSRF token
    added = await browser.post(f"{MANAGE}/staff", {"username": "bea", "role": "manager"}, csrf=page.csrf(), expect=200)
    assert "bea is a manager of the store now" in added and 'id="staff-bea"' in added.text
    confirm = await browser.get(f"{MANAGE}/staff/sam/remove", expect=200)
    assert "Remove sam from the staff of Acme shop?" in confirm
    await browser.get(f"{MANAGE}/staff/ben/remove", expect=404)  # not on the staff
    await browser.post(f"{MANAGE}/staff/sam/remove", {}, expect=403)  # no CSRF token
    removed = await browser.post(f"{MANAGE}/staff/sam/remove", {}, csrf=confirm.csrf(), expect=200)
    assert "sam is off the store's staff" in removed and 'id="staff-sam"' not in removed.text
    staff = (await api.get(SHOP, token=m["alice"], expect=200)).body["staff"]
    assert {row["username"]: row["role"] for row in staff} == {"sue": "salesman", "bea": "manager"}
    await browser.sign_in("bea")  # a manager on the staff manages it too
    bea = await browser.get(MANAGE, expect=200)
    await browser.post(f"{MANAGE}/staff/sue/remove", {}, csrf=bea.csrf(), expect=200)
    await browser.sign_in("sue")  # no longer staff: the store is open, so the API's 403
    await browser.get(MANAGE, expect=403)
    sue = await browser.get("/app/stores/acme-shop", expect=200)
    assert "Manage the store" not in sue
    await browser.post(f"{MANAGE}/staff", {"username": "sue", "role": "manager"}, csrf=sue.csrf(), expect=403)
    await browser.post(f"{MANAGE}/staff/bea/remove", {}, csrf=sue.csrf(), expect=403)


async def test_manage_page__items_added_and_edited(api: Api) -> None:
    m = await shop(api)
    browser = Browser(api.client)
    await browser.sign_in("alice")
    page = await browser.get(MANAGE, expect=200)
    assert f'value="{m["coin"]}"' in page.text  # the price type the store already uses is offered
    item = {"title": "Cup", "symbol": "CUP", "description": "A *cup*.", "price": "3", "price_type": m["coin"],
            "category": "kitchen", "smallest_unit": "0", "stock": "7", "variant_of": "", "variant": ""}
    bad = await browser.post(f"{MANAGE}/items", {**item, "price": "-1"}, csrf=page.csrf(), expect=400)
    assert bad.field_error("price") and 'value="Cup"' in bad.text
    variant = await browser.post(f"{MANAGE}/items", {**item, "variant": "size"}, csrf=page.csrf(), expect=400)
    assert "name=value" in (variant.field_error("variant") or "")
    await browser.post(f"{MANAGE}/items", item, expect=403)  # no CSRF token
    added = await browser.post(f"{MANAGE}/items", item, csrf=page.csrf(), expect=200)
    assert "Cup added" in added and "7 in stock" in added
    large = await browser.post(f"{MANAGE}/items", {**item, "title": "Tee", "symbol": "TEEXL", "price": "15",
                                                   "category": "clothes", "stock": "2", "variant_of": m["tee"]["id"],
                                                   "variant": "size=XL"}, csrf=page.csrf(), expect=200)
    assert "(size: XL)" in large
    pieces = await browser.post(f"{MANAGE}/items", {**item, "title": "Vase", "symbol": "VASE", "unique": "on",
                                                    "stock": "2"}, csrf=page.csrf(), expect=200)
    assert "2 pieces" in pieces
    listing = (await api.get(f"{SHOP}/items", params={"q": "Cup"}, expect=200)).body["items"]
    cup = listing[0]
    assert (cup["stock"], cup["category"], cup["description"]) == ("7", "kitchen", "A *cup*.")
    edit_path = f"{MANAGE}/items/{cup['id']}"
    edit = await browser.get(edit_path, expect=200)
    assert 'id="item-edit-form"' in edit and "<script" not in edit.text
    assert_labelled(edit.text)
    change = {"title": "Big cup", "description": "A *cup*.", "category": "kitchen", "price": "4", "is_listed": "on",
              "add_stock": "3", "version": "1"}
    wrong = await browser.post(edit_path, {**change, "price": "lots"}, csrf=edit.csrf(), expect=400)
    assert wrong.field_error("price") and 'value="Big cup"' in wrong.text
    await browser.post(edit_path, change, expect=403)  # no CSRF token
    saved = await browser.post(edit_path, change, csrf=edit.csrf(), expect=200)
    assert "Big cup saved" in saved and "Big cup" in saved and "10 in stock" in saved
    stale = await browser.post(edit_path, change, csrf=edit.csrf(), expect=409)
    assert "Someone changed this item" in stale
    hidden = await browser.post(edit_path, {**change, "is_listed": "", "add_stock": "", "version": "2"},
                                csrf=edit.csrf(), expect=200)
    assert "not listed" in hidden
    await api.get(f"{SHOP}/items/{cup['id']}", expect=404)  # unlisted: buyers no longer see it
    await browser.sign_in("sam")  # a salesman may not add or change items
    await browser.get(edit_path, expect=403)
    front = await browser.get("/app/stores/acme-shop", expect=200)
    await browser.post(f"{MANAGE}/items", {**item, "symbol": "CUP2"}, csrf=front.csrf(), expect=403)
    await browser.post(edit_path, {**change, "version": "3"}, csrf=front.csrf(), expect=403)

"""Store collections (issue 20 item 2): a manager makes a collection of the store's items; the
storefront shows it as a section and it has a page of its own (at phone width); bad input
(an item of another store, a blank name) and callers who may not manage it are refused."""

from __future__ import annotations

from typing import Any

from models.events import Event

from .conftest import Api, assert_problem
from .pagehelpers import Browser, assert_fits_phone
from .test_pages_session import assert_labelled
from .test_stores import ORGS, SHOP, STORES, shop

COLLECTIONS = f"{SHOP}/collections"


async def _collection(api: Api, m: dict[str, Any], **body: Any) -> dict[str, Any]:
    base = {"name": "Breakfast", "description": "For *slow* mornings.", "items": [m["tee"]["id"], m["mug"]["id"]]}
    return (await api.post(COLLECTIONS, {**base, **body}, token=m["alice"], expect=201)).body


async def test_collection__made_shown_in_order_changed_and_deleted(api: Api) -> None:
    m = await shop(api)
    made = await api.post(COLLECTIONS, {"name": "Breakfast", "description": "For *slow* mornings.",
                                        "items": [m["tee"]["id"], m["mug"]["id"]]}, token=m["alice"], expect=201)
    collection = made.body
    assert made.headers["Location"].endswith(f"/stores/acme-shop/collections/{collection['id']}")
    assert [i["title"] for i in collection["items"]] == ["Tee", "Mug"]  # the manager's order, not the store's
    assert "<em>slow</em>" in collection["description_html"]
    assert (await api.get(f"{COLLECTIONS}/{collection['id']}", expect=200)).body["item_ids"] == collection["item_ids"]
    listed = (await api.get(COLLECTIONS, expect=200)).body["items"]
    assert [c["name"] for c in listed] == ["Breakfast"]
    # an unlisted item leaves the buyers' view of the collection but stays in it for the staff
    await api.patch(f"{SHOP}/items/{m['tee']['id']}", {"is_listed": False}, token=m["alice"], expect=200)
    assert [i["title"] for i in (await api.get(f"{COLLECTIONS}/{collection['id']}", expect=200)).body["items"]] == ["Mug"]
    staff_view = (await api.get(f"{COLLECTIONS}/{collection['id']}", token=m["sam"], expect=200)).body
    assert [i["title"] for i in staff_view["items"]] == ["Tee", "Mug"]
    # reorder and rename, with the version
    changed = (await api.patch(f"{COLLECTIONS}/{collection['id']}", {"name": "Mornings", "items": [m["mug"]["id"], m["tee"]["id"]]},
                               token=m["alice"], headers={"If-Match": '"1"'}, expect=200)).body
    assert (changed["name"], changed["item_ids"], changed["version"]) == ("Mornings", [m["mug"]["id"], m["tee"]["id"]], 2)
    assert_problem(await api.patch(f"{COLLECTIONS}/{collection['id']}", {"name": "Late"}, token=m["alice"],
                                   headers={"If-Match": '"1"'}), 409, "version-mismatch")
    await api.delete(f"{COLLECTIONS}/{collection['id']}", token=m["alice"], expect=204)
    assert_problem(await api.get(f"{COLLECTIONS}/{collection['id']}"), 404, "collection-not-found")
    assert (await api.get(f"{SHOP}/items/{m['mug']['id']}", expect=200)).body["title"] == "Mug"  # items stay
    names = [e.name for e in await Event.filter(name__startswith="store.collection.").order_by("created_at", "id")]
    assert names == ["store.collection.created", "store.collection.updated", "store.collection.deleted"]


async def test_collection__bad_input(api: Api) -> None:
    m = await shop(api)
    await api.post(ORGS, {"name": "other"}, token=m["zed"], expect=201)
    await api.post(STORES, {"organization": "other", "slug": "other-shop", "title": "Other"}, token=m["zed"], expect=201)
    elsewhere = (await api.post(f"{STORES}/other-shop/items", {"title": "Cup", "symbol": "CUP", "price": "1",
                                                               "price_type": m["coin"]}, token=m["zed"], expect=201)).body
    body = {"name": "Breakfast", "items": [m["mug"]["id"]]}
    assert_problem(await api.post(COLLECTIONS, {**body, "items": [m["mug"]["id"], elsewhere["id"]]}, token=m["alice"]),
                   422, "item-not-in-store")
    assert_problem(await api.post(COLLECTIONS, {**body, "items": ["nope"]}, token=m["alice"]), 422, "item-not-in-store")
    assert_problem(await api.post(COLLECTIONS, {**body, "name": ""}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.post(COLLECTIONS, {**body, "name": "   "}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.post(COLLECTIONS, {**body, "items": [m["mug"]["id"]] * 2}, token=m["alice"]),
                   400, "duplicate-item")
    assert_problem(await api.post(COLLECTIONS, {**body, "colour": "red"}, token=m["alice"]), 400, "validation-failed")
    collection = await _collection(api, m, name="Breakfast")
    assert_problem(await api.post(COLLECTIONS, body, token=m["alice"]), 409, "collection-name-taken")
    path = f"{COLLECTIONS}/{collection['id']}"
    assert_problem(await api.patch(path, {"items": [elsewhere["id"]]}, token=m["alice"]), 422, "item-not-in-store")
    assert_problem(await api.patch(path, {"name": None}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.patch(path, {}, token=m["alice"]), 400, "nothing-to-change")
    assert_problem(await api.get(f"{STORES}/other-shop/collections/{collection['id']}"), 404, "collection-not-found")
    assert (await api.get(path, expect=200)).body["item_ids"] == [m["tee"]["id"], m["mug"]["id"]]  # unchanged


async def test_collection__managers_only(api: Api) -> None:
    m = await shop(api)
    collection = await _collection(api, m)
    path = f"{COLLECTIONS}/{collection['id']}"
    body = {"name": "Mine", "items": [m["mug"]["id"]]}
    assert_problem(await api.post(COLLECTIONS, body), 401)
    for who in ("sam", "ben"):  # a salesman, a buyer: they see the store but may not change it
        assert_problem(await api.post(COLLECTIONS, body, token=m[who]), 403, "store-role-required")
        assert_problem(await api.patch(path, {"name": "Mine"}, token=m[who]), 403, "store-role-required")
        assert_problem(await api.delete(path, token=m[who]), 403, "store-role-required")
    await api.patch(SHOP, {"is_open": False}, token=m["alice"], expect=200)  # closed: the outsider cannot see it
    assert_problem(await api.post(COLLECTIONS, body, token=m["zed"]), 404, "store-not-found")
    assert_problem(await api.delete(path, token=m["zed"]), 404, "store-not-found")
    assert_problem(await api.get(path, token=m["ben"]), 404, "store-not-found")
    await api.post(f"{SHOP}/staff", {"username": "sue", "role": "manager"}, token=m["alice"], expect=200)
    assert (await api.patch(path, {"name": "Sue's"}, token=m["sue"], expect=200)).body["name"] == "Sue's"


async def test_collection__pages_make_show_and_delete_it_at_phone_width(api: Api) -> None:
    m = await shop(api)
    browser = Browser(api.client)
    await browser.sign_in("alice")
    manage = await browser.get("/app/stores/acme-shop/manage", expect=200)
    assert 'id="collection-form"' in manage and "No collections yet." in manage
    assert_labelled(manage.text)
    blank = await browser.post("/app/stores/acme-shop/manage/collections", {"name": "", "items": m["mug"]["id"]},
                               csrf=manage.csrf(), expect=400)
    assert blank.field_error("name")
    made = await browser.post("/app/stores/acme-shop/manage/collections",
                              [("name", "Gifts"), ("description", "For *friends*."), ("items", m["print"]["id"]),
                               ("items", m["mug"]["id"])],
                              csrf=manage.csrf(), expect=200)
    assert "Gifts made." in made
    collection = (await api.get(COLLECTIONS, expect=200)).body["items"][0]
    assert [i["title"] for i in collection["items"]] == ["Print", "Mug"]  # in the order the form sent them
    await browser.sign_in("ben")
    front = await browser.get("/app/stores/acme-shop", expect=200)
    assert f'href="/app/stores/acme-shop/collections/{collection["id"]}">Gifts</a>' in front.text
    assert "<em>friends</em>" in front.text and "All items" in front.text
    assert_fits_phone(front.text)
    page = await browser.get(f"/app/stores/acme-shop/collections/{collection['id']}", expect=200)
    assert "<h1>Gifts</h1>" in page.text and "Print" in page and "Mug" in page and "Tee" not in page
    assert "<script" not in page.text
    assert_fits_phone(page.text)
    await browser.post(f"/app/stores/acme-shop/manage/collections/{collection['id']}/delete", {}, csrf=page.csrf(),
                       expect=403)  # a buyer: not a manager (the page refuses as the API refuses)
    await browser.sign_in("alice")
    manage = await browser.get("/app/stores/acme-shop/manage", expect=200)
    deleted = await browser.post(f"/app/stores/acme-shop/manage/collections/{collection['id']}/delete", {},
                                 csrf=manage.csrf(), expect=200)
    assert "Collection deleted" in deleted and "No collections yet." in deleted
    await browser.get(f"/app/stores/acme-shop/collections/{collection['id']}", expect=404)


async def test_collection__edit_page_renames_reorders_and_explains_a_conflict(api: Api) -> None:
    m = await shop(api)
    collection = await _collection(api, m)  # Tee, Mug
    browser = Browser(api.client)
    await browser.sign_in("alice")
    manage = await browser.get("/app/stores/acme-shop/manage", expect=200)
    assert f'href="/app/stores/acme-shop/manage/collections/{collection["id"]}">Edit</a>' in manage.text
    form = await browser.get(f"/app/stores/acme-shop/manage/collections/{collection['id']}", expect=200)
    assert_labelled(form.text)
    assert_fits_phone(form.text)
    assert f'name="pos-{m["tee"]["id"]}" value="1"' in form.text and f'name="pos-{m["mug"]["id"]}" value="2"' in form.text
    edit = f"/app/stores/acme-shop/manage/collections/{collection['id']}"
    bad = await browser.post(edit, {"name": "Mornings", "description": "", "version": "1", f"pos-{m['mug']['id']}": "x"},
                             csrf=form.csrf(), expect=400)
    assert "A position is a number" in bad
    saved = await browser.post(edit, {"name": "Mornings", "description": "Coffee first.", "version": "1",
                                      f"pos-{m['mug']['id']}": "1", f"pos-{m['print']['id']}": "2"},
                               csrf=form.csrf(), expect=200)
    assert "Mornings saved." in saved and "<h1>Mornings</h1>" in saved.text
    read = (await api.get(f"{COLLECTIONS}/{collection['id']}", expect=200)).body
    assert ([i["title"] for i in read["items"]], read["description"], read["version"]) == (["Mug", "Print"], "Coffee first.", 2)
    stale = await browser.post(edit, {"name": "Evenings", "description": "", "version": "1",
                                      f"pos-{m['tee']['id']}": "1"}, csrf=form.csrf(), expect=409)
    assert "Someone changed this collection while you were editing" in stale and 'value="Mornings"' in stale.text
    assert (await api.get(f"{COLLECTIONS}/{collection['id']}", expect=200)).body["name"] == "Mornings"

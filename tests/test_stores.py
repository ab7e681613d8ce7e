"""Stores (issue 20, items 1-3): one store of an organization with 3 items and 2 salesmen; orders
run to closed with feedback, an issue is refunded, a cancel before payment gives the stock back,
a silent buyer's order closes at the deadline, and 50 buyers racing for 10 units get 10 orders."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from models.actors import User
from models.engine import run_claimed, run_due
from models.engine.runner import claim
from models.events import Event
from models.machines import STORE_ORDERS, STORE_PAYMENT_DEADLINES
from models.webhooks import can_see

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .test_ledger import balance, minted

ORGS = "/api/v1/organizations"
STORES = "/api/v1/stores"
SHOP = f"{STORES}/acme-shop"
ORDERS = "/api/v1/orders"


async def shop(api: Api, *, returns: str = "returns") -> dict[str, Any]:
    """acme (alice owns it) opens acme-shop: sam and sue sell (10% commission), mug (20 units), tee
    (5, with an L variant of 4) and print (3 unique pieces) priced in coin; ben and bea hold 500 coin."""
    m: dict[str, Any] = {name: await api.user(name) for name in ("alice", "sam", "sue", "ben", "bea", "zed")}
    await api.post(ORGS, {"name": "acme"}, token=m["alice"], expect=201)
    m["coin"] = await minted(api, m["zed"], "5000", smallest_unit=0)
    for buyer in ("ben", "bea"):
        await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "500", "to": buyer}, token=m["zed"], expect=201)
    m["store"] = (await api.post(STORES, {
        "organization": "acme", "slug": "acme-shop", "title": "Acme shop", "description": "We sell *things*.",
        "categories": ["kitchen", "clothes", "art"], "returns": returns, "commission_percent": 10,
        "confirm_seconds": 3600,
    }, token=m["alice"], expect=201)).body
    for name in ("sam", "sue"):
        await api.post(f"{SHOP}/staff", {"username": name, "role": "salesman"}, token=m["alice"], expect=200)

    async def item(body: dict[str, Any]) -> dict[str, Any]:
        base = {"price_type": m["coin"], "category": "kitchen"}
        return (await api.post(f"{SHOP}/items", {**base, **body}, token=m["alice"], expect=201)).body

    m["mug"] = await item({"title": "Mug", "symbol": "MUG", "price": "5", "stock": "20", "description": "A **mug**."})
    m["tee"] = await item({"title": "Tee", "symbol": "TEE", "price": "12", "stock": "5", "category": "clothes"})
    m["tee_l"] = await item({"title": "Tee", "symbol": "TEEL", "price": "14", "stock": "4", "category": "clothes",
                             "variant_of": m["tee"]["id"], "variant": {"size": "L"}})
    m["print"] = await item({"title": "Print", "symbol": "PRT", "price": "50", "stock": "3", "unique": True,
                             "category": "art", "attributes": {"description": "signed"}})
    return m


async def basket(api: Api, m: dict[str, Any], buyer: str, lines: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"slug": "acme-shop", "lines": [{"item": m[name]["id"], "quantity": q} for name, q in lines.items()], **extra}
    return (await api.post(ORDERS, body, token=m[buyer], expect=201)).body


async def step(api: Api, m: dict[str, Any], order: dict[str, Any], verb: str, who: str, **body: Any) -> dict[str, Any]:
    return (await api.post(f"{ORDERS}/{order['id']}/{verb}", body, token=m[who], expect=200)).body


async def stock(api: Api, m: dict[str, Any], name: str) -> str:
    return (await api.get(f"{SHOP}/items/{m[name]['id']}", expect=200)).body["stock"]


async def paid_order(api: Api, m: dict[str, Any], buyer: str = "ben", **extra: Any) -> dict[str, Any]:
    order = await basket(api, m, buyer, {"mug": "2", "print": "1"}, **extra)
    await step(api, m, order, "place", buyer)
    return await step(api, m, order, "pay", buyer)


async def test_store__belongs_to_the_organization_with_a_base_type_items_and_staff(api: Api) -> None:
    m = await shop(api)
    store = m["store"]
    assert store["organization"] == "acme" and store["description_html"] == "<p>We sell <em>things</em>.</p>\n"
    base = (await api.get(f"/api/v1/types/{store['base_type']}", expect=200)).body
    assert base["owner"]["username"] == "acme" and {a["name"] for a in base["attributes"]} >= {"title", "image"}
    tee_l = (await api.get(f"/api/v1/types/{m['tee_l']['type']}", expect=200)).body
    assert tee_l["parents"] == [m["tee"]["type"]]  # a variant derives from its item
    tee = (await api.get(f"/api/v1/types/{m['tee']['type']}", expect=200)).body
    assert tee["parents"] == [store["base_type"]]
    assert m["tee"]["variants"] == [] and (await api.get(f"{SHOP}/items/{m['tee']['id']}", expect=200)).body["variants"] == [m["tee_l"]["id"]]
    assert m["mug"]["stock"] == "20" and m["print"]["stock"] == "3" and m["print"]["unique"] is True
    assert await balance(api, m["mug"]["type"], "acme") == "20"  # stock is the organization's units
    public = (await api.get(SHOP, expect=200)).body
    assert public["staff"] is None  # a storefront does not list the staff
    staff = (await api.get(SHOP, token=m["sam"], expect=200)).body
    assert {s["username"]: s["role"] for s in staff["staff"]} == {"sam": "salesman", "sue": "salesman"}
    listed = (await api.get(f"{SHOP}/items", params={"category": "clothes"}, expect=200)).body
    assert sorted(i["symbol"] if "symbol" in i else i["title"] for i in listed["items"]) == ["Tee", "Tee"]
    assert [s["slug"] for s in (await api.get(STORES, params={"organization": "acme"}, expect=200)).body["items"]] == ["acme-shop"]


async def test_order__runs_to_closed_with_commission_and_feedback(api: Api) -> None:
    m = await shop(api)
    order = await basket(api, m, "ben", {"mug": "2", "print": "1"}, salesman="sam", note="gift wrap please")
    assert order["state"] == "basket" and order["total"] == "60" and order["salesman"] == "sam"
    assert await stock(api, m, "mug") == "20"  # a basket holds nothing
    order = await step(api, m, order, "place", "ben")
    assert order["state"] == "ordered" and len(order["lines"][1]["tokens"]) == 1
    assert (await stock(api, m, "mug"), await stock(api, m, "print")) == ("18", "2")
    order = await step(api, m, order, "pay", "ben")
    assert order["state"] == "paid" and await balance(api, m["coin"], "ben") == "440"
    order = await step(api, m, order, "fulfil", "sam", note="sent by post")
    order = await step(api, m, order, "deliver", "sue")
    assert order["state"] == "delivered" and order["due_at"]
    order = await step(api, m, order, "confirm", "ben")
    assert order["state"] == "closed"
    assert [h["state"] for h in order["history"]] == ["basket", "ordered", "paid", "fulfilled", "delivered", "closed"]
    assert [h["by"] for h in order["history"]] == ["ben", "ben", "ben", "sam", "sue", "ben"]
    assert order["history"][3]["note"] == "sent by post"
    assert await balance(api, m["mug"]["type"], "ben") == "2"
    assert await balance(api, m["print"]["type"], "ben") == "1"
    token = (await api.get(f"/api/v1/tokens/{order['lines'][1]['tokens'][0]}", expect=200)).body
    assert token["owner"]["username"] == "ben"
    assert await balance(api, m["coin"], "sam") == "6"  # 10% of 60
    assert await balance(api, m["coin"], "acme") == "54"
    order = await step(api, m, order, "feedback", "ben", rating=4, review="Nice *mug*")
    assert order["feedback"]["rating"] == 4 and "<em>mug</em>" in order["feedback"]["review_html"]
    assert_problem(await api.post(f"{ORDERS}/{order['id']}/feedback", {"rating": 5}, token=m["ben"]), 409, "feedback-given")
    other = await paid_order(api, m, "bea")
    for verb, who in (("fulfil", "sue"), ("deliver", "sue"), ("confirm", "bea")):
        other = await step(api, m, other, verb, who)
    await step(api, m, other, "feedback", "bea", rating=2)
    mug = (await api.get(f"{SHOP}/items/{m['mug']['id']}", expect=200)).body
    assert mug["rating"] == {"average": 3.0, "count": 2}
    assert [(r["rating"], r["review_html"]) for r in mug["reviews"]] == [(4, "<p>Nice <em>mug</em></p>\n")]  # bea wrote none
    assert (await api.get(f"{SHOP}/items/{m['tee']['id']}", expect=200)).body["rating"] == {"average": None, "count": 0}
    assert (await api.get(SHOP, expect=200)).body["rating"] == {"average": 3.0, "count": 2}
    board = (await api.get(ORDERS, params={"store": "acme-shop", "salesman": "sam"}, token=m["sue"], expect=200)).body
    assert [o["id"] for o in board["items"]] == [order["id"]]  # sam's sales, attributed to him
    sent = await Event.get(name="store.order.fulfilled", object_id=order["id"])  # webhooks: who hears of it
    hears = {name: await can_see(await User.get(username=name), sent) for name in ("ben", "sue", "alice", "bea", "zed")}
    assert hears == {"ben": True, "sue": True, "alice": True, "bea": False, "zed": False}


async def test_order__issue_resolved_by_refund_gives_everything_back(api: Api) -> None:
    m = await shop(api)
    order = await paid_order(api, m)
    order = await step(api, m, order, "fulfil", "sam")
    order = await step(api, m, order, "issue", "ben", note="it arrived broken")
    assert order["state"] == "issue_opened"
    order = await step(api, m, order, "resolve", "sue", resolution="refund", note="sorry")
    assert order["state"] == "issue_resolved" and order["resolution"] == "refund"
    assert await balance(api, m["coin"], "ben") == "500" and await balance(api, m["coin"], "acme") == "0"
    assert (await stock(api, m, "mug"), await stock(api, m, "print")) == ("20", "3")
    await step(api, m, order, "feedback", "ben", rating=3)


async def test_order__final_sales_are_replaced_not_refunded(api: Api) -> None:
    m = await shop(api, returns="final")
    order = await paid_order(api, m, salesman="sue")
    order = await step(api, m, order, "issue", "ben", note="wrong colour")
    assert_problem(await api.post(f"{ORDERS}/{order['id']}/resolve", {"resolution": "refund"}, token=m["sam"]),
                   422, "sales-final")
    order = await step(api, m, order, "resolve", "sam", resolution="replacement")
    assert order["resolution"] == "replacement"
    assert await balance(api, m["coin"], "acme") == "54" and await balance(api, m["coin"], "sue") == "6"
    assert await balance(api, m["mug"]["type"], "ben") == "2"


async def test_order__cancelled_before_payment_releases_the_stock(api: Api) -> None:
    m = await shop(api)
    order = await basket(api, m, "ben", {"tee": "3", "tee_l": "4"})
    await step(api, m, order, "place", "ben")
    assert (await stock(api, m, "tee"), await stock(api, m, "tee_l")) == ("2", "0")
    too_many = await basket(api, m, "bea", {"tee_l": "1"})
    assert_problem(await api.post(f"{ORDERS}/{too_many['id']}/place", {}, token=m["bea"]), 409, "out-of-stock")
    order = await step(api, m, order, "cancel", "ben", note="changed my mind")
    assert order["state"] == "cancelled"
    assert (await stock(api, m, "tee"), await stock(api, m, "tee_l")) == ("5", "4")
    await step(api, m, too_many, "place", "bea")  # the released unit sells
    assert_problem(await api.post(f"{ORDERS}/{order['id']}/pay", {}, token=m["ben"]), 409, "order-state")


async def test_order__closes_at_the_deadline_when_the_buyer_is_silent(api: Api) -> None:
    m = await shop(api)
    order = await paid_order(api, m, salesman="sam")
    await step(api, m, order, "fulfil", "sam")
    order = await step(api, m, order, "deliver", "sam")
    due = datetime.fromisoformat(order["due_at"])
    assert await run_due(site_of(api), STORE_ORDERS, now=due - timedelta(seconds=5)) == 0  # not yet
    assert await balance(api, m["coin"], "acme") == "0"
    assert await run_due(site_of(api), STORE_ORDERS, now=due + timedelta(seconds=1)) == 1
    order = (await api.get(f"{ORDERS}/{order['id']}", token=m["ben"], expect=200)).body
    assert order["state"] == "closed" and order["history"][-1]["by"] is None
    assert await balance(api, m["coin"], "acme") == "54" and await balance(api, m["coin"], "sam") == "6"
    assert await balance(api, m["mug"]["type"], "ben") == "2"
    assert await run_due(site_of(api), STORE_ORDERS, now=due + timedelta(days=1)) == 0  # once


async def test_order__a_confirmed_order_is_not_closed_again_by_the_deadline(api: Api) -> None:
    m = await shop(api)
    order = await paid_order(api, m)
    await step(api, m, order, "fulfil", "sam")
    order = await step(api, m, order, "deliver", "sam")
    await step(api, m, order, "issue", "ben", note="missing a mug")
    due = datetime.fromisoformat(order["due_at"])
    assert await run_due(site_of(api), STORE_ORDERS, now=due + timedelta(seconds=1)) == 0
    assert await balance(api, m["coin"], "acme") == "0"  # still held for the issue


async def test_order__a_buyer_confirming_while_a_runner_holds_it_is_paid_once(api: Api) -> None:
    m = await shop(api)
    order = await paid_order(api, m, salesman="sam")
    await step(api, m, order, "fulfil", "sam")
    order = await step(api, m, order, "deliver", "sam")
    due = datetime.fromisoformat(order["due_at"])
    lease, rows = await claim(STORE_ORDERS, site_of(api), now=due + timedelta(seconds=1))
    assert [row.id for row in rows] == [order["id"]]  # a runner took it at the deadline ...
    await step(api, m, order, "confirm", "ben")  # ... and the buyer confirmed before it ran: the move drops its claim
    assert await run_claimed(lease, rows) == {order["id"]: None}  # the runner's close rolled back
    assert await balance(api, m["coin"], "acme") == "54" and await balance(api, m["coin"], "sam") == "6"
    assert await balance(api, m["mug"]["type"], "ben") == "2"
    shown = (await api.get(f"{ORDERS}/{order['id']}", token=m["ben"], expect=200)).body
    assert shown["state"] == "closed" and shown["history"][-1]["by"] == "ben"


async def test_order__not_paid_in_time_is_cancelled_and_its_units_go_back(api: Api) -> None:
    m = await shop(api)
    assert m["store"]["pay_within_seconds"] == 86400
    order = await basket(api, m, "ben", {"mug": "4", "print": "2"})
    order = await step(api, m, order, "place", "ben")
    paid = await basket(api, m, "bea", {"mug": "1"})
    paid = await step(api, m, paid, "place", "bea")
    await step(api, m, paid, "pay", "bea")  # paid in time: its deadline has nothing to do
    assert (await stock(api, m, "mug"), await stock(api, m, "print")) == ("15", "1")
    placed = datetime.fromisoformat(order["history"][-1]["at"])
    site = site_of(api)
    assert await run_due(site, STORE_PAYMENT_DEADLINES, now=placed + timedelta(hours=23)) == 0  # not yet
    assert await run_due(site, STORE_PAYMENT_DEADLINES, now=placed + timedelta(days=1, minutes=1)) == 1
    assert (await stock(api, m, "mug"), await stock(api, m, "print")) == ("19", "3")
    shown = (await api.get(f"{ORDERS}/{order['id']}", token=m["ben"], expect=200)).body
    assert shown["state"] == "cancelled" and shown["history"][-1] == {
        **shown["history"][-1], "by": None, "note": "cancelled: not paid in time",
    }
    assert (await api.get(f"{ORDERS}/{paid['id']}", token=m["bea"], expect=200)).body["state"] == "paid"
    assert_problem(await api.post(f"{ORDERS}/{order['id']}/pay", {}, token=m["ben"]), 409, "order-state")
    assert await run_due(site, STORE_PAYMENT_DEADLINES, now=placed + timedelta(days=3)) == 0  # once


async def test_order__paying_while_a_runner_holds_the_deadline_wins(api: Api) -> None:
    m = await shop(api)
    order = await basket(api, m, "ben", {"mug": "2"})
    order = await step(api, m, order, "place", "ben")
    placed = datetime.fromisoformat(order["history"][-1]["at"])
    lease, rows = await claim(STORE_PAYMENT_DEADLINES, site_of(api), now=placed + timedelta(days=2))
    assert len(rows) == 1
    await step(api, m, order, "pay", "ben")  # closes the deadline by hand: the runner's claim is gone
    assert await run_claimed(lease, rows) == {rows[0].id: None}
    assert (await api.get(f"{ORDERS}/{order['id']}", token=m["ben"], expect=200)).body["state"] == "paid"
    assert await stock(api, m, "mug") == "18"


async def test_order__staff_buying_from_their_own_store_act_as_both(api: Api) -> None:
    m = await shop(api)
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "50", "to": "sam"}, token=m["zed"], expect=201)
    order = await basket(api, m, "sam", {"mug": "1"})
    for verb in ("place", "pay", "fulfil", "deliver", "confirm"):
        order = await step(api, m, order, verb, "sam")
    assert order["state"] == "closed" and await balance(api, m["mug"]["type"], "sam") == "1"
    await step(api, m, order, "feedback", "sam", rating=5)


async def test_orders__fifty_buyers_for_ten_units_make_exactly_ten_orders(api: Api) -> None:
    m = await shop(api)
    await api.post(f"{SHOP}/items", {"title": "Lamp", "symbol": "LMP", "price": "1", "stock": "10",
                                     "price_type": m["coin"]}, token=m["alice"], expect=201)
    lamp = (await api.get(f"{SHOP}/items", params={"q": "lamp"}, expect=200)).body["items"][0]
    m["lamp"] = lamp
    buyers = [await api.user(f"buyer{n}") for n in range(50)]
    baskets = []
    for token in buyers:
        body = {"slug": "acme-shop", "lines": [{"item": lamp["id"], "quantity": "1"}]}
        baskets.append((token, (await api.post(ORDERS, body, token=token, expect=201)).body))
    replies = await asyncio.gather(*[
        api.post(f"{ORDERS}/{order['id']}/place", {}, token=token) for token, order in baskets
    ])
    statuses = sorted(reply.status for reply in replies)
    assert statuses.count(200) == 10 and statuses.count(409) == 40, statuses
    assert {reply.body["code"] for reply in replies if reply.status == 409} == {"out-of-stock"}
    assert await stock(api, m, "lamp") == "0"
    board = (await api.get(ORDERS, params={"store": "acme-shop", "state": "ordered"}, token=m["alice"], expect=200)).body
    assert len(board["items"]) == 10 and all(o["lines"][0]["quantity"] == "1" for o in board["items"])


# ---------------------------------------------------------------- bad input and permissions


async def test_stores__bad_input_and_permissions(api: Api) -> None:
    m = await shop(api)
    await api.post(f"{ORGS}/acme/members", {"username": "bea"}, token=m["alice"], expect=200)
    body = {"organization": "acme", "slug": "other", "title": "Other"}
    assert_problem(await api.post(STORES, body), 401)
    assert_problem(await api.post(STORES, body, token=m["zed"]), 404, "not-a-member")
    assert_problem(await api.post(STORES, body, token=m["bea"]), 403, "organization-role-required")
    assert_problem(await api.post(STORES, {**body, "organization": "nope"}, token=m["alice"]), 404, "organization-not-found")
    assert_problem(await api.post(STORES, {**body, "slug": "Bad Slug!"}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.post(STORES, {**body, "commission_percent": 101}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.post(STORES, {**body, "slug": "acme-shop"}, token=m["alice"]), 409, "store-slug-taken")
    assert_problem(await api.get(f"{STORES}/nope"), 404, "store-not-found")
    assert_problem(await api.get(STORES, params={"page_size": "0"}), 400, "validation-failed")
    # update: managers only; If-Match; closing hides the store from buyers
    assert_problem(await api.patch(SHOP, {"title": "Mine"}, token=m["sam"]), 403, "store-role-required")
    assert_problem(await api.patch(SHOP, {"title": None}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.patch(SHOP, {"title": "x"}, token=m["alice"], headers={"If-Match": '"7"'}), 409, "version-mismatch")
    assert_problem(await api.patch(SHOP, {"colour": "red"}, token=m["alice"]), 400, "validation-failed")
    updated = (await api.patch(SHOP, {"is_open": False}, token=m["alice"], expect=200)).body
    assert updated["version"] == 2
    assert_problem(await api.get(SHOP), 404, "store-not-found")
    assert (await api.get(SHOP, token=m["sam"], expect=200)).body["is_open"] is False
    assert_problem(await api.post(ORDERS, {"slug": "acme-shop", "lines": [{"item": m["mug"]["id"]}]}, token=m["ben"]),
                   404, "store-not-found")
    await api.patch(SHOP, {"is_open": True}, token=m["alice"], expect=200)
    # staff
    assert_problem(await api.post(f"{SHOP}/staff", {"username": "ben"}, token=m["sam"]), 403, "store-role-required")
    assert_problem(await api.post(f"{SHOP}/staff", {"username": "ghost"}, token=m["alice"]), 404, "user-not-found")
    assert_problem(await api.post(f"{SHOP}/staff", {"username": "ben", "role": "boss"}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.delete(f"{SHOP}/staff/ben", token=m["alice"]), 404, "staff-not-found")
    assert_problem(await api.delete(f"{SHOP}/staff/sue", token=m["sam"]), 403, "store-role-required")
    await api.post(f"{SHOP}/staff", {"username": "sue", "role": "manager"}, token=m["alice"], expect=200)
    await api.delete(f"{SHOP}/staff/sam", token=m["sue"], expect=200)  # a manager manages staff
    assert_problem(await api.get(ORDERS, params={"store": "acme-shop"}, token=m["sam"]), 403, "store-role-required")


async def test_items__bad_input_and_permissions(api: Api) -> None:
    m = await shop(api)
    item = {"title": "Cup", "symbol": "CUP", "price": "3", "price_type": m["coin"]}
    assert_problem(await api.post(f"{SHOP}/items", item), 401)
    assert_problem(await api.post(f"{SHOP}/items", item, token=m["sam"]), 403, "store-role-required")
    assert_problem(await api.post(f"{STORES}/nope/items", item, token=m["alice"]), 404, "store-not-found")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "price": "-1"}, token=m["alice"]), 400, "invalid-amount")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "price": "1.5"}, token=m["alice"]), 400, "invalid-amount")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "price_type": "nope"}, token=m["alice"]), 404, "type-not-found")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "category": "toys"}, token=m["alice"]), 422, "unknown-category")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "variant": {"size": "S"}}, token=m["alice"]), 400, "variant-without-item")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "variant_of": m["tee"]["id"]}, token=m["alice"]), 400, "variant-required")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "variant_of": m["tee_l"]["id"], "variant": {"a": "b"}},
                                  token=m["alice"]), 422, "nested-variant")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "variant_of": "nope", "variant": {"a": "b"}},
                                  token=m["alice"]), 404, "item-not-found")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "attributes": {"x": 1}}, token=m["alice"]), 400, "attributes-for-unique")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "stock": "ten"}, token=m["alice"]), 400, "invalid-amount")
    assert_problem(await api.post(f"{SHOP}/items", {**item, "unique": True, "stock": "101"}, token=m["alice"]), 422, "too-many-pieces")
    path = f"{SHOP}/items/{m['mug']['id']}"
    assert_problem(await api.get(f"{SHOP}/items/nope"), 404, "item-not-found")
    assert_problem(await api.patch(path, {"price": "2"}, token=m["sam"]), 403, "store-role-required")
    assert_problem(await api.patch(path, {}, token=m["alice"]), 400, "nothing-to-change")
    assert_problem(await api.patch(path, {"title": None}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.patch(path, {"category": "toys"}, token=m["alice"]), 422, "unknown-category")
    assert_problem(await api.patch(path, {"price": "1"}, token=m["alice"], headers={"If-Match": '"9"'}), 409, "version-mismatch")
    mug = (await api.patch(path, {"price": "6", "add_stock": "5"}, token=m["alice"], expect=200)).body
    assert (mug["price"], mug["stock"], mug["version"]) == ("6", "25", 2)
    await api.patch(path, {"is_listed": False}, token=m["alice"], expect=200)
    assert_problem(await api.get(path), 404, "item-not-found")  # unlisted: the staff's only
    assert (await api.get(path, token=m["sam"], expect=200)).body["is_listed"] is False
    assert_problem(await api.post(ORDERS, {"slug": "acme-shop", "lines": [{"item": m["mug"]["id"]}]}, token=m["ben"]),
                   404, "item-not-found")


async def test_orders__bad_input_and_permissions(api: Api) -> None:
    m = await shop(api)
    line = [{"item": m["mug"]["id"], "quantity": "1"}]
    assert_problem(await api.post(ORDERS, {"slug": "acme-shop", "lines": line}), 401)
    assert_problem(await api.post(ORDERS, {"slug": "acme-shop", "lines": []}, token=m["ben"]), 400, "validation-failed")
    assert_problem(await api.post(ORDERS, {"slug": "acme-shop", "lines": line * 2}, token=m["ben"]), 400, "validation-failed")
    assert_problem(await api.post(ORDERS, {"slug": "acme-shop", "lines": [{"item": m["mug"]["id"], "quantity": "0"}]},
                                  token=m["ben"]), 400, "invalid-amount")
    assert_problem(await api.post(ORDERS, {"slug": "acme-shop", "lines": [{"item": m["print"]["id"], "quantity": "1.5"}]},
                                  token=m["ben"]), 400, "invalid-amount")
    assert_problem(await api.post(ORDERS, {"slug": "acme-shop", "lines": line, "salesman": "zed"}, token=m["ben"]),
                   404, "salesman-not-found")
    assert_problem(await api.post(ORDERS, {"slug": "nope", "lines": line}, token=m["ben"]), 404, "store-not-found")
    order = await basket(api, m, "ben", {"mug": "1"})
    path = f"{ORDERS}/{order['id']}"
    assert_problem(await api.get(path, token=m["bea"]), 404, "order-not-found")  # not hers
    assert_problem(await api.get(f"{ORDERS}/nope", token=m["ben"]), 404, "order-not-found")
    assert (await api.get(path, token=m["sam"], expect=200)).body["buyer"] == "ben"  # staff see it
    assert_problem(await api.post(f"{path}/place", {}, token=m["bea"]), 404, "order-not-found")
    assert_problem(await api.post(f"{path}/place", {}, token=m["sam"]), 403, "order-party")
    assert_problem(await api.post(f"{path}/pay", {}, token=m["ben"]), 409, "order-state")  # not ordered yet
    assert_problem(await api.post(f"{path}/fulfil", {}, token=m["sam"]), 409, "order-state")
    assert_problem(await api.post(f"{path}/place", {"note": "x" * 2001}, token=m["ben"]), 400, "validation-failed")
    await step(api, m, order, "place", "ben")
    poor = await api.user("poor")
    cheap = (await api.post(ORDERS, {"slug": "acme-shop", "lines": line}, token=poor, expect=201)).body
    await api.post(f"{ORDERS}/{cheap['id']}/place", {}, token=poor, expect=200)
    assert_problem(await api.post(f"{ORDERS}/{cheap['id']}/pay", {}, token=poor), 409, "insufficient")
    await api.post(f"{ORDERS}/{cheap['id']}/cancel", {}, token=m["sue"], expect=200)  # staff cancel an unpaid order
    await step(api, m, order, "pay", "ben")
    assert_problem(await api.post(f"{path}/cancel", {}, token=m["ben"]), 409, "order-state")  # paid: open an issue
    assert_problem(await api.post(f"{path}/fulfil", {}, token=m["ben"]), 403, "order-party")
    assert_problem(await api.post(f"{path}/issue", {}, token=m["ben"]), 400, "validation-failed")  # say what went wrong
    assert_problem(await api.post(f"{path}/issue", {"note": "x"}, token=m["sam"]), 403, "order-party")
    await step(api, m, order, "fulfil", "sam")
    assert_problem(await api.post(f"{path}/confirm", {}, token=m["ben"]), 409, "order-state")  # not delivered yet
    await step(api, m, order, "deliver", "sam")
    assert_problem(await api.post(f"{path}/confirm", {}, token=m["sam"]), 403, "order-party")
    assert_problem(await api.post(f"{path}/feedback", {"rating": 5}, token=m["ben"]), 409, "order-state")
    assert_problem(await api.post(f"{path}/resolve", {"resolution": "refund"}, token=m["sam"]), 409, "order-state")
    await step(api, m, order, "issue", "ben", note="late")
    assert_problem(await api.post(f"{path}/resolve", {"resolution": "refund"}, token=m["ben"]), 403, "order-party")
    assert_problem(await api.post(f"{path}/resolve", {"resolution": "keep"}, token=m["sam"]), 400, "validation-failed")
    await step(api, m, order, "resolve", "sam", resolution="replacement")
    assert_problem(await api.post(f"{path}/feedback", {"rating": 6}, token=m["ben"]), 400, "validation-failed")
    assert_problem(await api.post(f"{path}/feedback", {"rating": 5}, token=m["sam"]), 403, "order-party")
    assert_problem(await api.post(f"{path}/feedback", {"rating": 5}, token=m["bea"]), 404, "order-not-found")
    mine = (await api.get(ORDERS, token=m["ben"], expect=200)).body
    assert [o["id"] for o in mine["items"]] == [order["id"]]
    assert (await api.get(ORDERS, token=m["bea"], expect=200)).body["items"] == []
    assert_problem(await api.get(ORDERS), 401)
    assert_problem(await api.get(ORDERS, params={"state": "lost"}, token=m["ben"]), 400, "validation-failed")
    assert_problem(await api.get(ORDERS, params={"salesman": "sam"}, token=m["ben"]), 400, "store-required")
    assert_problem(await api.get(ORDERS, params={"store": "acme-shop"}, token=m["ben"]), 403, "store-role-required")

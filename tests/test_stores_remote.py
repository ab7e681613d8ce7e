"""Buyers on other servers (issue 20, item 5), the store's side and the buyer's bad input.

Our server is A, with acme's store (tests/test_stores.py `shop`): dave lives on a fake remote
server and sends the signed requests his server would (federation/remote_stores.py): a basket,
each move on it, reading it. Forged, foreign and malformed requests are refused with nothing
moved. The whole path between two real servers is tests/test_stores_remote_live.py.
"""

from __future__ import annotations

from typing import Any

import orjson

from federation.inbox import process_due
from federation.outbox import publish_due_events
from federation.signed_objects import verify_remote_object
from models.federation import Delivery, OutboxActivity
from models.stores import Order, StoreRequest

from .conftest import Api, Reply, assert_problem
from .fedhelpers import OTHER_KEY, FakeActor, Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .test_ledger import balance
from .test_stores import ORDERS, shop, step, stock

AP = {"Accept": "application/activity+json"}


class Buyer:
    """dave on the fake remote holds 100 coin on our ledger and orders from acme-shop."""

    def __init__(self, api: Api, remote: Remote, m: dict[str, Any]) -> None:
        self.api, self.remote, self.m = api, remote, m
        self.dave = remote.actor("dave")
        self.count = 0

    @property
    def url(self) -> str:
        return self.api.settings.base_url

    def item(self, name: str) -> str:
        return f"{self.url}/store-items/{self.m[name]['id']}"

    def request(self, kind: str, obj: Any, actor: FakeActor | None = None) -> dict[str, Any]:
        actor = actor or self.dave
        self.count += 1
        return {"id": f"{actor.uri}/store-requests/{self.count}", "type": kind, "actor": actor.uri, "object": obj}

    def basket(self, lines: dict[str, str], actor: FakeActor | None = None, **extra: Any) -> dict[str, Any]:
        obj = {"type": "StoreOrder", "store": f"{self.url}/stores/{self.m['store']['id']}",
               "orderLines": [{"item": self.item(name), "quantity": q} for name, q in lines.items()], **extra}
        return self.request("Create", obj, actor)

    def step(self, order: str, step: str, actor: FakeActor | None = None, **extra: Any) -> dict[str, Any]:
        return self.request("Create", {"type": "StoreOrderStep", "order": order, "step": step, **extra}, actor)

    async def send(self, request: dict[str, Any], actor: FakeActor | None = None, **kwargs: Any) -> Reply:
        return await signed_post(self.api, "/store-orders", request, actor or self.dave, **kwargs)

    async def ordered(self, lines: dict[str, str]) -> str:
        """dave's basket, placed; the order's URL."""
        made = await self.send(self.basket(lines))
        assert made.status == 201, made.text
        url = str(orjson.loads(made.text)["order"]["id"])
        placed = await self.send(self.step(url, "place"))
        assert placed.status == 200, placed.text
        return url

    async def order(self, url: str) -> dict[str, Any]:
        """The order as the store's staff see it through the API."""
        return (await self.api.get(f"{ORDERS}/{url.rsplit('/', 1)[1]}", token=self.m["alice"], expect=200)).body


async def _buyer(api: Api, remote: Remote, coin: str = "100") -> Buyer:
    m = await shop(api)
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": coin, "to": remote.actor("dave").handle},
                   token=m["zed"], expect=201)
    return Buyer(api, remote, m)


def _answer(reply: Reply) -> tuple[dict[str, Any], dict[str, Any] | None]:
    body = orjson.loads(reply.text)
    return body["order"], body["entry"]


async def test_storefront__is_served_as_activitypub_signed_by_the_organization(fed_api: Api, remote: Remote) -> None:
    b = await _buyer(fed_api, remote)
    store_id = b.m["store"]["id"]
    served = await fed_api.get(f"/stores/{store_id}", headers=AP, expect=200)
    document = orjson.loads(served.text)
    assert (document["type"], document["name"], document["orderEndpoint"]) == ("Store", "Acme shop", f"{b.url}/store-orders")
    assert document["attributedTo"] == f"{b.url}/users/acme" and document["escrow"] == f"{b.url}/stores/{store_id}/escrow"
    items = {item["name"] + item.get("variant", {}).get("size", ""): item for item in document["items"]["items"]}
    assert sorted(items) == ["Mug", "Print", "Tee", "TeeL"]
    mug = items["Mug"]
    assert (mug["price"], mug["priceType"], mug["stock"], mug["unique"]) == ("5", f"{b.url}/types/{b.m['coin']}", "20", False)
    assert (await verify_remote_object(site_of(fed_api), document)).signer == f"{b.url}/users/acme"
    item = orjson.loads((await fed_api.get(f"/store-items/{b.m['mug']['id']}", headers=AP, expect=200)).text)
    assert item["id"] == b.item("mug") and item["store"] == document["id"]
    page = await fed_api.client.get(f"/stores/{store_id}", headers={"Accept": "text/html"}, allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (303, f"{b.url}/app/stores/acme-shop")  # a person gets its page
    await fed_api.patch(f"/api/v1/stores/acme-shop/items/{b.m['tee']['id']}", {"is_listed": False},
                        token=b.m["alice"], headers={"If-Match": "1"}, expect=200)
    assert_problem(await fed_api.get(f"/store-items/{b.m['tee']['id']}", headers=AP), 404, "item-not-found")
    await fed_api.patch("/api/v1/stores/acme-shop", {"is_open": False}, token=b.m["alice"], headers={"If-Match": "1"},
                        expect=200)
    assert_problem(await fed_api.get(f"/stores/{store_id}", headers=AP), 404, "store-not-found")


async def test_remote_buyer__orders_pays_confirms_and_rates_like_a_local_buyer(fed_api: Api, remote: Remote) -> None:
    b = await _buyer(fed_api, remote)
    request = b.basket({"mug": "2"}, note="for the office")
    made = await b.send(request)
    assert made.status == 201, made.text
    order, entry = _answer(made)
    assert (order["type"], order["orderState"], order["buyer"], order["amount"], entry) == (
        "StoreOrder", "basket", b.dave.uri, "10", None)
    again = await b.send(request)  # dave's server lost the answer and asks again: the same order
    assert (again.status, _answer(again)[0]["id"]) == (200, order["id"])
    assert await Order.all().count() == 1

    placed, _ = _answer(await b.send(b.step(order["id"], "place")))
    assert placed["orderState"] == "ordered" and await stock(fed_api, b.m, "mug") == "18"
    pay = b.step(order["id"], "pay")
    paid = await b.send(pay)
    assert paid.status == 201, paid.text
    order, entry = _answer(paid)
    assert order["orderState"] == "paid" and entry is not None
    assert (entry["entryKind"], entry["amount"], entry["attributedTo"]) == ("give", "10", b.dave.uri)
    assert entry["target"] == f"{b.url}/stores/{b.m['store']['id']}/escrow"  # the store's escrow, not a lot's
    repeat = await b.send(pay)
    assert (repeat.status, _answer(repeat)[1]["id"]) == (200, entry["id"])  # nothing paid twice
    assert await balance(fed_api, b.m["coin"], b.dave.handle) == "90"

    seen = await b.order(order["id"])
    assert (seen["buyer"], seen["state"], [h["by"] for h in seen["history"]]) == (
        b.dave.handle, "paid", [b.dave.handle] * 3)
    await step(fed_api, b.m, seen, "fulfil", "sam")
    await step(fed_api, b.m, seen, "deliver", "sue")
    read = await b.send(b.request("Read", order["id"]))
    assert (read.status, _answer(read)[0]["orderState"]) == (200, "delivered")
    assert _answer(read)[0]["endTime"]

    closed, _ = _answer(await b.send(b.step(order["id"], "confirm", note="arrived")))
    assert closed["orderState"] == "closed"
    assert await balance(fed_api, b.m["mug"]["type"], b.dave.handle) == "2"  # the mugs are his, on our ledger
    assert await balance(fed_api, b.m["coin"], "acme") == "10"
    rated = await b.send(b.step(order["id"], "feedback", rating=4, review="Good *mugs*"))
    assert _answer(rated)[0]["feedback"] == {"rating": 4, "review": "Good *mugs*"}
    store = (await fed_api.get("/api/v1/stores/acme-shop", expect=200)).body
    assert store["rating"] == {"average": 4.0, "count": 1}
    assert_problem(await b.send(b.step(order["id"], "feedback", rating=5)), 409, "feedback-given")


async def test_remote_buyer__an_issue_refunded_gives_the_payment_back_to_his_holding(fed_api: Api, remote: Remote) -> None:
    b = await _buyer(fed_api, remote)
    url = await b.ordered({"tee": "2"})
    await b.send(b.step(url, "pay"), expect=201)
    assert await balance(fed_api, b.m["coin"], b.dave.handle) == "76"
    assert_problem(await b.send(b.step(url, "issue")), 400, "malformed-request")  # an issue says what went wrong
    opened, _ = _answer(await b.send(b.step(url, "issue", note="wrong colour")))
    assert opened["orderState"] == "issue_opened"
    await step(fed_api, b.m, await b.order(url), "resolve", "sam", resolution="refund")
    assert await balance(fed_api, b.m["coin"], b.dave.handle) == "100"
    assert await stock(fed_api, b.m, "tee") == "5"


async def test_remote_buyer__refusals_are_the_local_ones_and_move_nothing(fed_api: Api, remote: Remote) -> None:
    b = await _buyer(fed_api, remote, coin="10")
    url = await b.ordered({"tee": "1"})  # 12 coin: dave holds 10
    problem = assert_problem(await b.send(b.step(url, "pay")), 409, "insufficient")
    assert "12" in problem["detail"]
    assert (await b.order(url))["state"] == "ordered" and await balance(fed_api, b.m["coin"], b.dave.handle) == "10"
    assert_problem(await b.send(b.step(url, "confirm")), 409, "order-state")
    made = await b.send(b.basket({"mug": "21"}))
    assert made.status == 201, made.text
    assert_problem(await b.send(b.step(_answer(made)[0]["id"], "place")), 409, "out-of-stock")
    assert await stock(fed_api, b.m, "mug") == "20"
    assert_problem(await b.send(b.basket({"print": "1"})), 422, "unique-type")  # a token cannot move to his server yet
    cancelled, _ = _answer(await b.send(b.step(url, "cancel")))
    assert cancelled["orderState"] == "cancelled" and await stock(fed_api, b.m, "tee") == "5"


async def test_remote_buyer__forged_foreign_and_malformed_requests_are_refused(fed_api: Api, remote: Remote) -> None:
    b = await _buyer(fed_api, remote)
    url = await b.ordered({"mug": "1"})
    mallory = remote.actor("mallory")
    # signed with a key that is not dave's
    assert_problem(await b.send(b.step(url, "pay"), private_pem=OTHER_KEY.private_pem), 401, "bad-signature")
    # mallory's own key, in dave's name
    assert_problem(await b.send(b.step(url, "pay"), mallory), 403, "origin-mismatch")
    # mallory, honestly, on dave's order: not hers to see
    assert_problem(await b.send(b.step(url, "pay", mallory), mallory), 404, "order-not-found")
    assert_problem(await b.send(b.request("Read", url, mallory), mallory), 404, "order-not-found")
    # a request id on another server
    assert_problem(await b.send({**b.step(url, "pay"), "id": "http://127.0.0.1:9/requests/1"}), 403, "origin-mismatch")
    # malformed
    for obj in ({"type": "Note", "content": "hi"}, {"type": "StoreOrderStep", "order": url, "step": "steal"},
                {"type": "StoreOrderStep", "order": url, "step": "pay", "note": 5},
                {"type": "StoreOrder", "store": f"{b.url}/stores/{b.m['store']['id']}", "orderLines": []},
                {"type": "StoreOrder", "store": f"{b.url}/stores/{b.m['store']['id']}", "orderLines": [{"item": b.item("mug")}]},
                {"type": "StoreOrder", "store": f"{b.url}/stores/{b.m['store']['id']}",
                 "orderLines": [{"item": b.item("mug"), "quantity": "lots"}]},
                {"type": "StoreOrderStep", "order": url, "step": "feedback", "rating": 9}):
        assert_problem(await b.send(b.request("Create", obj)), 400)
    assert_problem(await b.send(b.request("Follow", url)), 400, "malformed-request")
    assert_problem(await b.send(b.step(f"{b.url}/store-orders/nope", "pay")), 404, "order-not-found")
    assert_problem(await b.send(b.step("http://127.0.0.1:9/store-orders/x", "pay")), 404, "order-not-found")
    assert_problem(await b.send(b.request("Create", {"type": "StoreOrder", "store": f"{b.url}/stores/nope",
                                                      "orderLines": [{"item": b.item("mug"), "quantity": "1"}]})),
                   404, "store-not-found")
    assert_problem(await b.send(b.basket({"mug": "1"}) | {"object": {**b.basket({"mug": "1"})["object"],
                                                                      "orderLines": [{"item": f"{b.url}/types/x", "quantity": "1"}]}}),
                   404, "item-not-found")
    # nothing moved: dave's order is as it was (his basket and its place were the only requests)
    assert (await b.order(url))["state"] == "ordered" and await balance(fed_api, b.m["coin"], b.dave.handle) == "100"
    assert await StoreRequest.all().count() == 2 and await Order.all().count() == 1


async def test_buyer_operations__bad_input_and_permission_are_refused(fed_api: Api) -> None:
    dave = await fed_api.user("dave")
    base = fed_api.settings.base_url
    for body in ({}, {"store": "not a url"}, {"store": "ftp://example.org/x"}, {"store": "https://x.example/" + "a" * 2100},
                 {"store": "https://x.example/s", "extra": 1}):
        assert_problem(await fed_api.post("/api/v1/remote-stores", body, token=dave), 400, "validation-failed")
    assert_problem(await fed_api.post("/api/v1/remote-stores", {"store": f"{base}/stores/x"}, token=dave), 422, "local-store")
    assert_problem(await fed_api.post("/api/v1/remote-stores", {"store": "http://127.0.0.1:9/stores/x"}, token=dave),
                   422, "store-unavailable")
    assert_problem(await fed_api.post("/api/v1/remote-stores", {"store": "https://x.example/s"}), 401)
    line = {"item": "https://x.example/store-items/1", "quantity": "1"}
    for body in ({}, {"store": "https://x.example/s"}, {"store": "https://x.example/s", "lines": []},
                 {"store": "https://x.example/s", "lines": [{"item": "nope"}]},
                 {"store": "https://x.example/s", "lines": [line], "place": "maybe"}):
        assert_problem(await fed_api.post("/api/v1/remote-orders", body, token=dave), 400, "validation-failed")
    assert_problem(await fed_api.post("/api/v1/remote-orders", {"store": "https://x.example/s", "lines": [line]}), 401)
    for verb in ("place", "pay", "cancel", "confirm"):
        assert_problem(await fed_api.post(f"/api/v1/remote-orders/nope/{verb}", {}, token=dave), 404, "remote-order-not-found")
    assert_problem(await fed_api.post("/api/v1/remote-orders/nope/issue", {}, token=dave), 400, "validation-failed")
    assert_problem(await fed_api.post("/api/v1/remote-orders/nope/feedback", {"rating": 0}, token=dave), 400,
                   "validation-failed")
    assert_problem(await fed_api.get("/api/v1/remote-orders/nope", token=dave), 404, "remote-order-not-found")
    assert (await fed_api.get("/api/v1/remote-orders", token=dave, expect=200)).body["items"] == []
    assert_problem(await fed_api.get("/api/v1/remote-orders"), 401)


async def test_storefront__followers_of_the_organization_hear_of_a_listed_item(fed_api: Api, remote: Remote) -> None:
    m = await shop(fed_api)
    fan = remote.actor("fan")
    base = fed_api.settings.base_url
    follow = {"id": f"{fan.uri}/follows/1", "type": "Follow", "actor": fan.uri, "object": f"{base}/users/acme"}
    assert (await signed_post(fed_api, "/users/acme/inbox", follow, fan)).status == 202
    assert await process_due(site_of(fed_api)) == 1
    await publish_due_events(site_of(fed_api))
    before = await OutboxActivity.all().count()
    bowl = (await fed_api.post("/api/v1/stores/acme-shop/items", {
        "title": "Bowl", "symbol": "BWL", "price": "7", "price_type": m["coin"], "stock": "3"}, token=m["alice"], expect=201)).body
    await publish_due_events(site_of(fed_api))
    made = [row.document for row in await OutboxActivity.all().order_by("created_at", "id").offset(before)]
    told = [(doc["type"], doc["actor"], doc["object"]["type"], doc["object"]["id"]) for doc in made
            if isinstance(doc["object"], dict) and doc["object"].get("type") == "StoreItem"]
    assert told == [("Create", f"{base}/users/acme", "StoreItem", f"{base}/store-items/{bowl['id']}")]
    activity = next(doc for doc in made if doc["object"].get("type") == "StoreItem")
    inboxes = await Delivery.filter(activity_uri=activity["id"]).values_list("inbox", flat=True)
    assert inboxes and all(str(inbox).startswith(remote.base) for inbox in inboxes)  # to the fan's server

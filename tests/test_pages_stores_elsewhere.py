"""The page for stores on other servers: a store's items by its address, the order form, your
orders there in words with the step you may take next; refusals shown on the page (the live
order across servers is tests/test_stores_remote_live.py). And the storefront's staff links."""

from __future__ import annotations

from typing import Any

from models.actors import Actor
from models.stores import RemoteOrder

from .conftest import Api
from .fedhelpers import Remote, fed_api, remote  # noqa: F401
from .pagehelpers import Browser
from .test_pages_session import assert_labelled
from .test_stores import shop

PAGE = "/app/stores-elsewhere"


def _storefront(remote: Remote) -> str:
    """A store on the fake remote with a cup (fungible) and a print (a unique piece); its URL."""
    url = f"{remote.base}/objects/store"
    price = f"{remote.base}/types/coin"
    remote.objects["store"] = {
        "id": url, "type": "Store", "name": "Far shop", "content": "<p>Far <em>away</em> &amp; near</p>",
        "url": f"{remote.base}/app/stores/far", "returnsPolicy": "final", "storeOpen": True,
        "items": {"type": "Collection", "totalItems": 2, "items": [
            {"id": f"{remote.base}/objects/cup", "type": "StoreItem", "name": "Cup", "price": "3", "priceType": price,
             "symbol": "CON", "stock": "7", "unique": False, "content": "<script>alert(1)</script>A cup"},
            {"id": f"{remote.base}/objects/print", "type": "StoreItem", "name": "Print", "price": "40", "priceType": price,
             "symbol": "CON", "stock": "1", "unique": True},
        ]},
    }
    return url


def _order(remote: Remote, n: int, state: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"{remote.base}/store-orders/{n}", "type": "StoreOrder", "store": f"{remote.base}/objects/store",
            "orderState": state, "amount": "6", "symbol": "CON", "priceType": f"{remote.base}/types/coin",
            "orderLines": [{"item": f"{remote.base}/objects/cup", "name": "Cup", "quantity": "2", "amount": "6"}],
            "feedback": None, "resolution": None, "endTime": None, **extra}


async def test_pages_stores_elsewhere__shows_a_store_its_items_and_refusals_on_the_page(
    fed_api: Api, remote: Remote,
) -> None:
    browser = Browser(fed_api.client)
    await browser.sign_up("dave")
    opened = await browser.get(PAGE, expect=200)
    assert_labelled(opened.text)
    assert "You have not ordered from a store of another server yet" in opened
    url = _storefront(remote)
    shown = await browser.get(PAGE, params={"store": url}, expect=200)
    assert_labelled(shown.text)
    assert "Far shop" in shown and "Far away & near" in shown and "sales are final" in shown
    assert "3 CON each · 7 in stock · you hold 0 CON here" in shown
    assert "<script>" not in shown.text and "A cup" in shown  # the other server's HTML is shown as text
    assert "sold to that server's users only" in shown and shown.text.count('action="/app/stores-elsewhere/order"') == 1
    # the fake server takes no orders: its refusal is on the page, nothing is recorded
    refused = await browser.post(f"{PAGE}/order", {"store": url, "item": f"{remote.base}/objects/cup", "quantity": "2"},
                                 csrf=shown.csrf(), expect=404)
    assert "refused" in refused and await RemoteOrder.all().count() == 0
    bad = await browser.get(PAGE, params={"store": "not a url"}, expect=400)
    assert bad.field_error("store") and "https://" in bad
    local = await browser.get(PAGE, params={"store": f"{fed_api.settings.base_url}/stores/x"}, expect=422)
    assert "on this server" in local


async def test_pages_stores_elsewhere__orders_in_words_with_their_next_step(fed_api: Api, remote: Remote) -> None:
    browser = Browser(fed_api.client)
    await browser.sign_up("dave")
    dave = await Actor.get(username="dave", domain="")
    rows = {state: _order(remote, n, state) for n, state in enumerate(("ordered", "delivered", "closed", "cancelled"))}
    rows["delivered"]["endTime"] = "2030-01-02T00:00:00Z"
    for state, document in rows.items():
        await RemoteOrder.create(buyer=dave, uri=document["id"], store_uri=document["store"], store_title="Far shop",
                                 state=state, document=document)
    page = await browser.get(PAGE, expect=200)
    assert_labelled(page.text)
    assert "2 × Cup — 6 CON" in page
    assert "ordered: the items are reserved, pay to go on" in page and ">Pay<" in page
    assert "confirm it, or report a problem, by 2030-01-02T00:00:00Z" in page and ">Confirm delivery<" in page
    assert "closed: the items are yours" in page and "Your rating" in page
    assert "cancelled" in page
    # the store's server is not answering: the step is refused on the page, the order as it was
    order = await RemoteOrder.get(state="ordered")
    down = await browser.post(f"{PAGE}/orders/{order.id}/pay", {}, csrf=page.csrf(), expect=404)
    assert "refused" in down and (await RemoteOrder.get(id=order.id)).state == "ordered"
    await browser.post(f"{PAGE}/orders/{order.id}/steal", {}, csrf=page.csrf(), expect=404)


async def test_storefront_page__manage_link_only_for_managers_and_the_address_for_other_servers(api: Api) -> None:
    m = await shop(api)
    browser = Browser(api.client)
    await browser.sign_in("sam")  # a salesman
    seen = await browser.get("/app/stores/acme-shop", expect=200)
    assert "Orders board" in seen and "Manage the store" not in seen
    assert f"{api.settings.base_url}/stores/{m['store']['id']}" in seen
    await browser.post("/signout", {}, csrf=seen.csrf(), expect=200)
    await browser.sign_in("alice")  # the organization's owner: a manager
    managed = await browser.get("/app/stores/acme-shop", expect=200)
    assert "Orders board" in managed and "Manage the store" in managed

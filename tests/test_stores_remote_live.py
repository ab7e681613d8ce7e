"""Buyers on other servers between two real servers (issue 20, item 5): the acceptance path.

acme (alice's organization) keeps a store on A selling mugs for alice's coin; dave on B holds
30 coin on A's ledger. From B, dave reads the storefront, orders 2 mugs, pays (A holds 10 of
his coin in the store's escrow; B debits his holding at once), A's staff send and deliver,
dave confirms and rates: the mugs are his on A's ledger and reach his holdings on B, the store
is paid, and every balance is exact on both sides.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from .livesrv import LiveServer
from .test_federation_live import Instance, eventually, servers  # noqa: F401
from .test_federation_onward_live import _holding

pytestmark = pytest.mark.slow
COIN = {"name": "Coin", "symbol": "CON", "fungible": True, "smallest_unit": 0}


@pytest.fixture
async def pair(servers: list[LiveServer]) -> AsyncIterator[tuple[Instance, Instance]]:
    connector = aiohttp.TCPConnector(keepalive_timeout=5)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), connector=connector) as session:
        yield Instance(servers[0], session), Instance(servers[1], session)


async def _balance(a: Instance, type_id: str, owner: str) -> str:
    _, found = await a.call("GET", "/api/v1/ledger/balance", "alice", params={"type": type_id, "owner": owner}, expect=200)
    return str(found["balance"])


async def test_live__dave_on_b_orders_from_a_store_on_a_pays_confirms_and_rates(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.user("alice")
    b.user("dave")
    a.server.start()
    b.server.start()
    await a.call("POST", "/api/v1/organizations", "alice", json={"name": "acme"}, expect=201)
    coin = (await a.call("POST", "/api/v1/types", "alice", json=COIN, expect=201))[1]["id"]
    coin_url = f"{a.server.base_url}/types/{coin}"
    await a.call("POST", "/api/v1/ledger/create", "alice", json={"type": coin, "amount": "100"}, expect=201)
    await a.call("POST", "/api/v1/ledger/give", "alice", json={"type": coin, "amount": "30", "to": f"dave@{b.domain}"},
                 expect=201)

    async def dave_holds(type_url: str, amount: str) -> bool:
        return (await _holding(b, "dave", type_url) or {}).get("balance") == amount

    await eventually(lambda: dave_holds(coin_url, "30"), "B to credit dave with 30 coin")
    store = (await a.call("POST", "/api/v1/stores", "alice", json={
        "organization": "acme", "slug": "acme-shop", "title": "Acme shop", "confirm_seconds": 3600,
    }, expect=201))[1]
    mug = (await a.call("POST", "/api/v1/stores/acme-shop/items", "alice", json={
        "title": "Mug", "symbol": "MUG", "price": "5", "price_type": coin, "stock": "10",
    }, expect=201))[1]
    mug_url = f"{a.server.base_url}/types/{mug['type']}"

    # dave reads the storefront from B (he pastes its page's address), with what he holds to pay
    page_url = f"{a.server.base_url}/app/stores/acme-shop"
    _, front = await b.call("POST", "/api/v1/remote-stores", "dave", json={"store": page_url}, expect=200)
    assert front["store"] == f"{a.server.base_url}/stores/{store['id']}" and front["name"] == "Acme shop"
    [item] = front["items"]
    assert (item["name"], item["price"], item["price_type"], item["stock"], item["held"]) == ("Mug", "5", coin_url, "10", "30")

    # he orders 2 mugs (reserved on A) and pays: A holds 10 coin, B debits him at once
    status, order = await b.call("POST", "/api/v1/remote-orders", "dave", json={
        "store": front["store"], "lines": [{"item": item["id"], "quantity": "2"}], "place": True, "note": "hi"})
    assert status == 201, order
    assert (order["state"], order["total"], order["symbol"]) == ("ordered", "10", "CON")
    order_id = order["order"].rsplit("/", 1)[1]
    status, paid = await b.call("POST", f"/api/v1/remote-orders/{order['id']}/pay", "dave", json={})
    assert status == 200, paid
    assert paid["state"] == "paid" and paid["entry"]
    assert await dave_holds(coin_url, "20")
    assert await _balance(a, coin, f"dave@{b.domain}") == "20"
    _, short = await b.call("POST", f"/api/v1/remote-orders/{order['id']}/confirm", "dave", json={})
    assert short["code"] == "order-state"  # A's refusal, as is: it is not delivered yet

    # A's staff send and deliver it; dave sees it from B
    for verb in ("fulfil", "deliver"):
        await a.call("POST", f"/api/v1/orders/{order_id}/{verb}", "alice", json={}, expect=200)
    _, seen = await b.call("GET", f"/api/v1/remote-orders/{order['id']}", "dave", expect=200)
    assert seen["state"] == "delivered" and seen["due_at"]

    # he confirms: the mugs are his, the store is paid; he rates it
    _, closed = await b.call("POST", f"/api/v1/remote-orders/{order['id']}/confirm", "dave", json={}, expect=200)
    assert closed["state"] == "closed"
    _, rated = await b.call("POST", f"/api/v1/remote-orders/{order['id']}/feedback", "dave",
                            json={"rating": 5, "review": "Lovely mugs"}, expect=200)
    assert rated["rating"] == 5
    assert await _balance(a, mug["type"], f"dave@{b.domain}") == "2"
    assert await _balance(a, mug["type"], "acme") == "8"
    assert await _balance(a, coin, "acme") == "10"
    assert await _balance(a, coin, "alice") == "70"
    assert await _balance(a, coin, f"dave@{b.domain}") == "20"
    _, on_a = await a.call("GET", f"/api/v1/orders/{order_id}", "alice", expect=200)
    assert (on_a["state"], on_a["buyer"], on_a["feedback"]["rating"]) == ("closed", f"dave@{b.domain}", 5)
    _, shop = await a.call("GET", "/api/v1/stores/acme-shop", expect=200)
    assert shop["rating"] == {"average": 5.0, "count": 1}

    await eventually(lambda: dave_holds(mug_url, "2"), "B to credit dave with the 2 mugs")
    assert await dave_holds(coin_url, "20")  # his coin on B: exactly what A says
    _, mine = await b.call("GET", "/api/v1/remote-orders", "dave", expect=200)
    assert [(row["state"], row["store_name"]) for row in mine["items"]] == [("closed", "Acme shop")]

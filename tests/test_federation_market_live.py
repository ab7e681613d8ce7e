"""The market across servers (issue 17): a bidder on B bids on, is outbid on, and wins a lot on A.

Two real servers. alice@A sells GEM for her coin; bob@B holds coin (alice gave him some) and
follows her, so her lot reaches B as a Proposal. bob's bids are gives onward to the lot: A
holds his coin before the bid counts, gives it back when carol@A outbids him, and on his
buy-now the GEM goes to bob@B and the coin to alice, every ledger adding up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .livesrv import LiveServer
from .test_federation_live import Instance, eventually, follow_accepted, servers, trio  # noqa: F401
from .test_federation_onward_live import _holding, _origin_balance

pytestmark = pytest.mark.slow


async def _type(a: Instance, symbol: str, amount: str) -> tuple[str, str]:
    """alice makes a fungible type and mints `amount`: (its id, its URL)."""
    status, made = await a.call("POST", "/api/v1/types", "alice", json={
        "name": symbol.title(), "symbol": symbol, "fungible": True, "smallest_unit": 0,
    })
    assert status == 201, made
    await a.call("POST", "/api/v1/ledger/create", "alice", json={"type": made["id"], "amount": amount}, expect=201)
    return made["id"], f"{a.server.base_url}/types/{made['id']}"


async def _bid(b: Instance, lot_url: str, **terms: str) -> tuple[int, Any]:
    return await b.call("POST", "/api/v1/market/remote-bids", "bob", json={"lot": lot_url, **terms})


async def _lot(a: Instance, lot_id: str) -> dict[str, Any]:
    _, lot = await a.call("GET", f"/api/v1/market/lots/{lot_id}", "alice", expect=200)
    return dict(lot)


async def test_market__a_bidder_on_b_is_outbid_then_buys_a_lot_on_a_and_every_ledger_adds_up(
    trio: tuple[Instance, Instance, Instance],
) -> None:
    a, b, _ = trio
    a.user("alice")
    a.user("carol")
    b.user("bob")
    a.server.start()
    b.server.start()
    await follow_accepted(a, b)
    coin, coin_url = await _type(a, "COIN", "300")
    gem, gem_url = await _type(a, "GEM", "10")
    for to in (f"bob@{b.domain}", "carol"):
        await a.call("POST", "/api/v1/ledger/give", "alice", json={"type": coin, "amount": "100", "to": to}, expect=201)

    async def bob_has(type_url: str, amount: str) -> bool:
        return (await _holding(b, "bob", type_url) or {}).get("balance") == amount

    await eventually(lambda: bob_has(coin_url, "100"), "B to credit bob's coin")
    closes = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    status, lot = await a.call("POST", "/api/v1/market/lots", "alice", json={
        "kind": "english_auction", "type": gem, "amount": "4", "price_type": coin, "start_price": "10",
        "buy_now": "50", "closes_at": closes, "title": "Four gems",
    })
    assert status == 201, lot
    lot_url = f"{a.server.base_url}/market/lots/{lot['id']}"

    # the lot reaches bob's server as an FEP-0837 Proposal, paid in alice's coin
    async def proposal() -> dict[str, Any] | None:
        _, listed = await b.call("GET", "/api/v1/federation/objects", "bob", params={"type": "Proposal"}, expect=200)
        return next((item["document"] for item in listed["items"] if item["uri"] == lot_url), None)

    document = await eventually(proposal, "the lot to reach B")
    assert (document["lotState"], document["lotKind"], document["name"]) == ("open", "english_auction", "Four gems")
    assert document["reciprocal"]["resourceConformsTo"] == coin_url
    assert document["publishes"]["resourceQuantity"]["hasNumericalValue"] == "4"

    # bob bids 12: A holds 12 of his coin before the bid counts; B debits his holding at once
    status, placed = await _bid(b, lot_url, amount="12")
    assert status == 201, placed["problem"]
    assert (placed["state"], placed["bid"], placed["lot_name"]) == ("done", "12", "Four gems")
    assert (await _lot(a, lot["id"]))["best_bid"] == "12"
    assert await _origin_balance(a, f"bob@{b.domain}", coin_url) == "88"
    assert await bob_has(coin_url, "88")

    # carol outbids him on A: A gives his 12 back, and its entry credits him on B
    await a.call("POST", f"/api/v1/market/lots/{lot['id']}/bids", "carol", json={"amount": "20"}, expect=201)
    assert await _origin_balance(a, f"bob@{b.domain}", coin_url) == "100"
    await eventually(lambda: bob_has(coin_url, "100"), "B to credit bob's released bid")

    # refusals come back with A's reason and hold nothing: below the minimum, more than he holds
    status, refused = await _bid(b, lot_url, amount="12")
    assert (status, refused["code"]) == (422, "bid-too-low"), refused
    status, refused = await _bid(b, lot_url, amount="500")
    assert (status, refused["code"]) == (409, "insufficient"), refused
    assert await _origin_balance(a, f"bob@{b.domain}", coin_url) == "100"
    assert await bob_has(coin_url, "100")

    # bob buys it now: the gems go to him on B, the coin to alice, carol's bid back to her
    status, placed = await _bid(b, lot_url, amount="50")
    assert status == 201, placed
    sold = await _lot(a, lot["id"])
    assert (sold["state"], sold["winner"], sold["sold_price"]) == ("sold", f"bob@{b.domain}", "50")
    assert await _origin_balance(a, f"bob@{b.domain}", coin_url) == "50"
    assert await _origin_balance(a, "carol", coin_url) == "100"
    assert await _origin_balance(a, "alice", coin_url) == "150"
    assert await _origin_balance(a, f"bob@{b.domain}", gem_url) == "4"
    assert await _origin_balance(a, "alice", gem_url) == "6"
    await eventually(lambda: bob_has(gem_url, "4"), "B to credit bob's gems")
    assert await bob_has(coin_url, "50")

    # bob's server lists his bids; the lot's copy on B says it is sold, to him
    _, mine = await b.call("GET", "/api/v1/market/remote-bids", "bob", expect=200)
    assert [(row["bid"], row["state"]) for row in mine["items"]] == [("50", "done"), ("500", "refused"), ("12", "refused"), ("12", "done")]

    async def sold_on_b() -> bool:
        found = await proposal()
        return bool(found and found["lotState"] == "sold" and found.get("winner") == f"{b.server.base_url}/users/bob")

    await eventually(sold_on_b, "the lot's Update to reach B")
    _, mine = await b.call("GET", "/api/v1/market/remote-bids", "bob", expect=200)
    assert {(row["bid"], row["lot_state"], row["won"]) for row in mine["items"]} == {
        ("50", "sold", True), ("500", "sold", True), ("12", "sold", True)}

    # a sealed auction: A answers bob's own request with his hold, and shows it to nobody else
    status, sealed = await a.call("POST", "/api/v1/market/lots", "alice", json={
        "kind": "sealed_auction", "type": gem, "amount": "2", "price_type": coin, "closes_at": closes,
    })
    assert status == 201, sealed
    status, placed = await _bid(b, f"{a.server.base_url}/market/lots/{sealed['id']}", amount="7")
    assert (status, placed["state"]) == (201, "done"), placed
    assert await bob_has(coin_url, "43")
    status, _ = await a.call("GET", placed["entry"].removeprefix(a.server.base_url), headers={"Accept": "application/activity+json"})
    assert status == 404


async def test_market__a_bid_from_b_is_refused_on_b_when_it_cannot_be_one(trio: tuple[Instance, Instance, Instance]) -> None:
    a, b, _ = trio
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    coin, _ = await _type(a, "COIN", "100")
    gem, _ = await _type(a, "GEM", "10")
    status, lot = await a.call("POST", "/api/v1/market/lots", "alice", json={
        "kind": "fixed_price", "type": gem, "amount": "1", "price_type": coin, "price": "5",
    })
    assert status == 201, lot
    lot_url = f"{a.server.base_url}/market/lots/{lot['id']}"
    # bob holds no coin: refused on B, nothing asked of A
    status, refused = await _bid(b, lot_url)
    assert (status, refused["code"]) == (409, "insufficient"), refused
    # a URL that is no lot, and a lot that does not exist
    status, refused = await _bid(b, f"{a.server.base_url}/types/{coin}", amount="5")
    assert (status, refused["code"]) == (422, "not-a-lot"), refused
    status, refused = await _bid(b, f"{a.server.base_url}/market/lots/01NOSUCHLOT0000000000000000", amount="5")
    assert (status, refused["code"]) == (422, "lot-unavailable"), refused
    _, mine = await b.call("GET", "/api/v1/market/remote-bids", "bob", expect=200)
    assert mine["items"] == []
    # the lot's id opened in a browser is its page
    status, _ = await a.call("GET", f"/market/lots/{lot['id']}", headers={"Accept": "text/html"}, allow_redirects=False)
    assert status == 303

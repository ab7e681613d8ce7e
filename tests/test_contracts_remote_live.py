"""Contracts across servers between two real servers (issue 18, item 5).

carol on A licenses her type Base to dave on B: dave accepts her offer from B, derives a type
on B with Base as a parent, mints it on B (A counts the units and the rate owed), pays from B
with the coin he holds on A's ledger; a missed payment on A suspends the contract and B refuses
dave's mints with A's code until he pays again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from .livesrv import LiveServer
from .test_federation_live import Instance, eventually, servers  # noqa: F401

pytestmark = pytest.mark.slow
AP = {"Accept": "application/activity+json"}
COIN = {"name": "Gold", "symbol": "GLD", "fungible": True, "smallest_unit": 0}


@pytest.fixture
async def pair(servers: list[LiveServer]) -> AsyncIterator[tuple[Instance, Instance]]:
    connector = aiohttp.TCPConnector(keepalive_timeout=5)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), connector=connector) as session:
        yield Instance(servers[0], session), Instance(servers[1], session)


async def _execute(server: LiveServer, query: str) -> None:
    """Run one statement on a server's own database (the clock moved forward there)."""
    url = server.env["TALLYSTICK_DATABASE_URL"]
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("://", 1)[1].split("?", 1)[0]) as db:
            db.execute(query)
        return
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await connection.execute(query)
    finally:
        await connection.close()


async def _holding(b: Instance, type_url: str) -> str | None:
    _, held = await b.call("GET", "/api/v1/federation/holdings", "dave", expect=200)
    return next((str(item["balance"]) for item in held["items"] if item["type"] == type_url), None)


async def _give_dave(a: Instance, b: Instance, coin: str, amount: str, total: str) -> None:
    await a.call("POST", "/api/v1/ledger/give", "carol", json={"type": coin, "amount": amount, "to": f"dave@{b.domain}"},
                 expect=201)
    type_url = f"{a.server.base_url}/types/{coin}"

    async def credited() -> bool:
        return await _holding(b, type_url) == total

    await eventually(credited, f"B to credit dave with {amount} GLD")


async def test_live__license_derive_mint_pay_and_a_suspension_on_a_stops_mints_on_b(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    a.user("carol")
    b.user("dave")
    a.server.start()
    b.server.start()
    coin = (await a.call("POST", "/api/v1/types", "carol", json=COIN, expect=201))[1]["id"]
    await a.call("POST", "/api/v1/ledger/create", "carol", json={"type": coin, "amount": "100"}, expect=201)
    await _give_dave(a, b, coin, "10", "10")
    base = (await a.call("POST", "/api/v1/types", "carol", json={**COIN, "name": "Base", "symbol": "BASE"}, expect=201))[1]
    terms = {"type": base["id"], "payment_type": coin, "fee": "5", "rate_per_unit": "1", "max_units_per_period": 50,
             "grace_seconds": 0}
    offer = (await a.call("POST", "/api/v1/contracts/offers", "carol", json=terms, expect=201))[1]
    offer_url = f"{a.server.base_url}/contract-offers/{offer['id']}"
    base_url = f"{a.server.base_url}/types/{base['id']}"

    # B cannot derive before dave holds a contract on A
    kid = {**COIN, "name": "Kid", "symbol": "KID", "parents": [base_url]}
    status, refused = await b.call("POST", "/api/v1/types", "dave", json=kid)
    assert (status, refused["code"]) == (403, "contract-required")

    # dave accepts carol's offer from B: the contract lives on A with dave as licensee
    status, held = await b.call("POST", "/api/v1/remote-contracts", "dave", json={"offer": offer_url})
    assert status == 201, held
    assert (held["type"], held["state"], held["licensor"]) == (base_url, "active", f"{a.server.base_url}/users/carol")
    contract_url = held["contract"]
    contract_api = f"/api/v1/contracts/{contract_url.rsplit('/', 1)[1]}"
    _, on_a = await a.call("GET", contract_api, "carol", expect=200)
    assert (on_a["licensee"], on_a["state"]) == (f"dave@{b.domain}", "active")

    # derive on B: B's type names A's type and the contract; A counted the derivation
    status, child = await b.call("POST", "/api/v1/types", "dave", json=kid)
    assert status == 201, child
    assert child["parent_links"] == [{"parent": base_url, "basis": "contract", "contract": contract_url}]
    _, document = await b.call("GET", f"/types/{child['id']}", headers=AP, expect=200)
    assert document["parentTypes"] == [base_url]
    assert document["parentContracts"] == [{"parent": base_url, "contract": contract_url}]
    _, served = await a.call("GET", contract_url.removeprefix(a.server.base_url), headers=AP, expect=200)
    assert (served["contractState"], served["licensee"], served["derivedTypes"]) == (
        "active", f"{b.server.base_url}/users/dave", 1)

    # mint on B: A records the units and the rate owed; over the period's limit is refused
    await b.call("POST", "/api/v1/ledger/create", "dave", json={"type": child["id"], "amount": "3"}, expect=201)
    _, on_a = await a.call("GET", contract_api, "carol", expect=200)
    assert (on_a["units_this_period"], on_a["owed"]) == ("3", "3")
    status, over = await b.call("POST", "/api/v1/ledger/create", "dave", json={"type": child["id"], "amount": "48"})
    assert (status, over["code"]) == (422, "contract-unit-limit")

    # dave pays from B with the coin he holds on A's ledger; his holding on B is debited at once
    status, paid = await b.call("POST", "/api/v1/remote-contracts/pay", "dave", json={"contract": contract_url})
    assert status == 200, paid
    assert paid["entry"] and paid["state"] == "active"
    _, on_a = await a.call("GET", contract_api, "carol", expect=200)
    assert (on_a["owed"], on_a["paid"]) == ("0", "3")
    assert await _holding(b, f"{a.server.base_url}/types/{coin}") == "7"

    # more mints owe 10; the payment falls due (fee 5 + 10 > the 7 dave holds): missed, no grace: suspended
    await b.call("POST", "/api/v1/ledger/create", "dave", json={"type": child["id"], "amount": "10"}, expect=201)
    contract_id = contract_url.rsplit("/", 1)[1]
    await _execute(a.server, "UPDATE contract_steps SET next_at = (SELECT started_at FROM contracts WHERE contracts.id ="
                             f" contract_steps.contract_id) WHERE contract_id = '{contract_id}' AND state = 'pending'"
                             " AND kind = 'payment'")

    async def suspended() -> bool:
        return (await a.call("GET", contract_api, "carol", expect=200))[1]["state"] == "suspended"

    await eventually(suspended, "A's runner to suspend the contract")
    status, stopped = await b.call("POST", "/api/v1/ledger/create", "dave", json={"type": child["id"], "amount": "1"})
    assert (status, stopped["code"]) == (403, "contract-suspended")
    _, kid_now = await b.call("GET", f"/api/v1/types/{child['id']}", expect=200)
    assert kid_now["minted"] == "13"

    # not enough to pay the arrears: A's refusal comes back; with more coin, paid and active again
    status, short = await b.call("POST", "/api/v1/remote-contracts/pay", "dave", json={"contract": contract_url})
    assert (status, short["code"]) == (409, "insufficient")
    await _give_dave(a, b, coin, "20", "27")
    status, paid = await b.call("POST", "/api/v1/remote-contracts/pay", "dave", json={"contract": contract_url})
    assert (status, paid["state"]) == (200, "active"), paid
    await b.call("POST", "/api/v1/ledger/create", "dave", json={"type": child["id"], "amount": "1"}, expect=201)
    _, listed = await b.call("GET", "/api/v1/remote-contracts", "dave", expect=200)
    assert [(item["contract"], item["state"]) for item in listed["items"]] == [(contract_url, "active")]

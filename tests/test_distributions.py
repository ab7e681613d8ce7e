"""Distributions (issue 21, item 5): units allocated to a network's entries and held in the
distribution's escrow; a claim by the identity hands them over once, traceably; what nobody
claimed goes back to the distributor at the expiry; bad input and other people's distributions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from models.actors import Actor
from models.allocations import Allocation, Distribution
from models.context import Context
from models.distributions import claim_for_identity
from models.engine import run_due
from models.ledger import LedgerEntry
from models.machines import DISTRIBUTION_EXPIRIES, DISTRIBUTION_RUNS

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, remote, site_of  # noqa: F401  (fixtures)
from .networkhelpers import network_of
from .test_ledger import assert_invariant, balance, new_type

DISTRIBUTIONS = "/api/v1/distributions"


async def setup(api: Api, remote: Remote, names: tuple[str, ...] = ("ann", "ben", "cat")) -> dict[str, Any]:
    """alice holds 100 CN (whole units) and a network of `names` on the fake server; dave is a user."""
    alice = await api.user("alice")
    coin = (await new_type(api, alice, smallest_unit=0))["id"]
    await api.post("/api/v1/ledger/create", {"type": coin, "amount": "100"}, token=alice, expect=201)
    network = await network_of(api, remote, alice, list(names))
    return {"alice": alice, "dave": await api.user("dave"), "coin": coin, "network": network,
            "urls": {name: remote.actor(name).uri for name in names}}


async def distributed(api: Api, m: dict[str, Any], amount: str = "5", **body: Any) -> dict[str, Any]:
    made = await api.post(DISTRIBUTIONS, {"network": m["network"], "type": m["coin"], "amount": amount, **body},
                          token=m["alice"], expect=201)
    assert made.headers["Location"] == f"{DISTRIBUTIONS}/{made.body['id']}"
    assert await run_due(site_of(api), DISTRIBUTION_RUNS) == 1
    return (await api.get(f"{DISTRIBUTIONS}/{made.body['id']}", token=m["alice"], expect=200)).body


def system(api: Api) -> Context:
    return Context(site=site_of(api), system=True)


async def test_distribution__held_in_escrow_allocated_then_claimed_by_the_identity(fed_api: Api, remote: Remote) -> None:
    m = await setup(fed_api, remote)
    made = await distributed(fed_api, m, name="Welcome")
    assert (made["state"], made["entries"], made["allocated"], made["total"], made["amount"]) == ("allocated", 3, 3, "15", "5")
    assert await balance(fed_api, m["coin"], "alice") == "85"
    allocations = (await fed_api.get(f"{DISTRIBUTIONS}/{made['id']}/allocations", token=m["alice"], expect=200)).body
    assert sorted(item["actor_url"] for item in allocations["items"]) == sorted(m["urls"].values())
    assert {item["state"] for item in allocations["items"]} == {"held"}
    dave = await Actor.get(username="dave", domain="")
    given = await claim_for_identity(system(fed_api), dave, m["urls"]["ann"])
    assert len(given) == 1
    assert await balance(fed_api, m["coin"], "dave") == "5"
    entry = await LedgerEntry.get(id=given[0])
    assert f"distribution {made['id']} (Welcome): claimed by {m['urls']['ann']}" == entry.description
    trace = await fed_api.get(f"/api/v1/ledger/operations/{given[0]}/trace", expect=200)
    assert made["hold"] in str(trace.body)  # traceable back to the give into the escrow
    assert await claim_for_identity(system(fed_api), dave, m["urls"]["ann"]) == []  # once only
    assert await balance(fed_api, m["coin"], "dave") == "5"
    read = (await fed_api.get(f"{DISTRIBUTIONS}/{made['id']}", token=m["alice"], expect=200)).body
    assert (read["claimed"], read["expired"]) == (1, 0)
    claimed = (await fed_api.get(f"{DISTRIBUTIONS}/{made['id']}/allocations", token=m["alice"],
                                 params={"state": "claimed"}, expect=200)).body["items"]
    assert [(item["actor_url"], item["claimed_by"], item["entry"]) for item in claimed] == [(m["urls"]["ann"], dave.id, given[0])]
    for owner in ("alice", "dave"):
        await assert_invariant(fed_api, m["coin"], owner)


async def test_distribution__unclaimed_allocations_expire_back_to_the_distributor(fed_api: Api, remote: Remote) -> None:
    m = await setup(fed_api, remote)
    made = await distributed(fed_api, m, expires_in=3600)
    dave = await Actor.get(username="dave", domain="")
    assert len(await claim_for_identity(system(fed_api), dave, m["urls"]["ben"])) == 1
    site = site_of(fed_api)
    assert await run_due(site, DISTRIBUTION_EXPIRIES, now=datetime.now(UTC) + timedelta(minutes=30)) == 0  # not yet
    assert await run_due(site, DISTRIBUTION_EXPIRIES, now=datetime.now(UTC) + timedelta(hours=2)) == 2
    assert await balance(fed_api, m["coin"], "alice") == "95"  # 100 - 15 held + 10 back
    assert await balance(fed_api, m["coin"], "dave") == "5"
    read = (await fed_api.get(f"{DISTRIBUTIONS}/{made['id']}", token=m["alice"], expect=200)).body
    assert (read["claimed"], read["expired"]) == (1, 2)
    expired = await Allocation.filter(distribution_id=made["id"], state="expired").values_list("actor_url", flat=True)
    assert sorted(expired) == sorted([m["urls"]["ann"], m["urls"]["cat"]])
    assert await claim_for_identity(system(fed_api), dave, m["urls"]["cat"]) == []  # too late
    escrow = await Actor.get(id=(await Distribution.get(id=made["id"])).escrow_id)
    held = await LedgerEntry.filter(recipient_id=escrow.id).values_list("remaining", flat=True)
    assert held and sum(int(left) for left in held) == 0  # the escrow holds nothing more
    await assert_invariant(fed_api, m["coin"], "alice")


async def test_distribution__two_concurrent_claims_give_once(fed_api: Api, remote: Remote) -> None:
    m = await setup(fed_api, remote, ("ann",))
    await distributed(fed_api, m, amount="7")
    dave = await Actor.get(username="dave", domain="")
    results = await asyncio.gather(*(claim_for_identity(system(fed_api), dave, m["urls"]["ann"]) for _ in range(2)))
    assert sorted(len(given) for given in results) == [0, 1]
    assert await balance(fed_api, m["coin"], "dave") == "7"


async def test_distribution__several_distributions_are_claimed_in_one_step(fed_api: Api, remote: Remote) -> None:
    m = await setup(fed_api, remote, ("ann", "ben"))
    await distributed(fed_api, m, amount="2")
    await distributed(fed_api, m, amount="3")
    dave = await Actor.get(username="dave", domain="")
    assert len(await claim_for_identity(system(fed_api), dave, m["urls"]["ben"])) == 2
    assert await balance(fed_api, m["coin"], "dave") == "5"


async def test_distribution__bad_input_and_permissions(fed_api: Api, remote: Remote) -> None:
    m = await setup(fed_api, remote, ("ann", "ben"))
    body = {"network": m["network"], "type": m["coin"], "amount": "5"}
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "amount": "60"}, token=m["alice"]), 409, "insufficient")
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "amount": "0"}, token=m["alice"]), 400, "invalid-amount")
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "amount": "1.5"}, token=m["alice"]), 400)
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "expires_in": 5}, token=m["alice"]), 400, "validation-failed")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "expires_at": past}, token=m["alice"]), 422, "invalid-expiry")
    unique = (await new_type(fed_api, m["alice"], fungible=False, smallest_unit=0, name="Badge", symbol="BG"))["id"]
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "type": unique}, token=m["alice"]), 422, "unique-type")
    assert_problem(await fed_api.post(DISTRIBUTIONS, body, token=m["dave"]), 404, "network-not-found")
    empty = await fed_api.post("/api/v1/networks", {"name": "Empty"}, token=m["alice"], expect=201)
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "network": empty.body["id"]}, token=m["alice"]), 422, "empty-network")
    assert await balance(fed_api, m["coin"], "alice") == "100"  # nothing was held by the refusals
    made = await fed_api.post(DISTRIBUTIONS, body, token=m["alice"], expect=201)
    assert_problem(await fed_api.get(f"{DISTRIBUTIONS}/{made.body['id']}", token=m["dave"]), 404, "distribution-not-found")
    assert_problem(await fed_api.get(f"{DISTRIBUTIONS}/{made.body['id']}/allocations", token=m["dave"]), 404)
    assert (await fed_api.get(DISTRIBUTIONS, token=m["dave"], expect=200)).body["items"] == []
    assert_problem(await fed_api.get(DISTRIBUTIONS), 401)


async def test_distribution__from_a_pool_generates_into_the_escrow(fed_api: Api, remote: Remote) -> None:
    m = await setup(fed_api, remote, ("ann", "ben"))
    pool = await fed_api.post("/api/v1/pools", {"type": m["coin"], "name": "Airdrop", "capacity": "10"}, token=m["alice"], expect=201)
    body = {"network": m["network"], "pool": pool.body["id"], "amount": "3"}
    made = await fed_api.post(DISTRIBUTIONS, body, token=m["alice"], expect=201)
    assert (made.body["type"], made.body["total"]) == (m["coin"], "6")
    assert await balance(fed_api, m["coin"], "alice") == "100"  # generated, not taken from alice
    assert (await fed_api.get(f"/api/v1/pools/{pool.body['id']}", expect=200)).body["generated"] == "6"
    assert await run_due(site_of(fed_api), DISTRIBUTION_RUNS) == 1
    dave = await Actor.get(username="dave", domain="")
    assert len(await claim_for_identity(system(fed_api), dave, m["urls"]["ann"])) == 1
    assert await balance(fed_api, m["coin"], "dave") == "3"
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "amount": "3"}, token=m["alice"]), 409, "pool-full")
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "type": m["coin"]}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await fed_api.post(DISTRIBUTIONS, {**body, "pool": pool.body["id"]}, token=m["dave"]), 404, "network-not-found")

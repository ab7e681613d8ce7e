"""Pools (issue 18): capacity never passed under concurrency, reservations that expire back into
the pool, sub-pools and their limits, scheduled batches on the engine, the no-resale rule, and
bad input and permissions for every operation."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from models.actors import User
from models.engine import run_due
from models.ledger import LedgerEntry
from models.machines import POOL_GENERATIONS, POOL_RESERVATIONS
from models.pools import Generation, Pool, Reservation
from models.tokens import Token

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .test_ledger import assert_invariant, balance, new_type

POOLS = "/api/v1/pools"


async def setup(api: Api, **pool: Any) -> dict[str, Any]:
    """alice owns a fungible type (whole units) and a pool of it; bob and carol are users."""
    tokens = {name: await api.user(name) for name in ("alice", "bob", "carol")}
    coin = (await new_type(api, tokens["alice"], smallest_unit=0))["id"]
    body = {"type": coin, "name": "Harvest", "capacity": "50", **pool}
    made = await api.post(POOLS, body, token=tokens["alice"], expect=201)
    assert made.headers["Location"] == f"{POOLS}/{made.body['id']}"
    return {**tokens, "coin": coin, "pool": made.body["id"]}


async def counters(pool_id: str) -> tuple[int, int, int]:
    row = await Pool.get(id=pool_id)
    return int(row.generated), int(row.reserved), int(row.allotted)


async def test_pool__assign_a_batch_mints_it_to_its_owner_at_once(api: Api) -> None:
    m = await setup(api)
    reply = await api.post(f"{POOLS}/{m['pool']}/batches", {"to": "bob", "quantity": "20"}, token=m["alice"])
    assert reply.status == 201, reply
    assert reply.body["owner"].startswith("bob@") and reply.body["generated"] == "20" and reply.body["state"] == "done"
    assert await balance(api, m["coin"], "bob") == "20"
    pool = (await api.get(f"{POOLS}/{m['pool']}", expect=200)).body
    assert (pool["generated"], pool["reserved"], pool["free"]) == ("20", "0", "30")
    assert pool["totals"] == {"generated": "20", "reserved": "0", "free": "30"}
    await assert_invariant(api, m["coin"], "bob")
    await assert_invariant(api, m["coin"], "alice")
    over = await api.post(f"{POOLS}/{m['pool']}/batches", {"to": "carol", "quantity": "31"}, token=m["alice"])
    assert_problem(over, 409, "pool-full")
    assert await balance(api, m["coin"], "carol") == "0"


async def test_pool__100_concurrent_reservations_against_capacity_50_give_exactly_50(api: Api) -> None:
    m = await setup(api)
    users = {f"r{index}": await api.user(f"r{index}") for index in range(100)}

    async def reserve(name: str) -> int:
        reply = await api.post(f"{POOLS}/{m['pool']}/reservations", {"quantity": "1"}, token=users[name])
        if reply.status != 201:
            assert_problem(reply, 409, "pool-full")
        return reply.status

    statuses = Counter(await asyncio.gather(*(reserve(name) for name in users)))
    assert statuses == {201: 50, 409: 50}
    assert await counters(m["pool"]) == (0, 50, 0)
    assert await Reservation.filter(pool_id=m["pool"], state="active").count() == 50
    assert_problem(await api.post(f"{POOLS}/{m['pool']}/batches", {"to": "bob", "quantity": "1"}, token=m["alice"]), 409, "pool-full")


async def test_reservation__expiry_returns_its_capacity(api: Api) -> None:
    m = await setup(api)
    made = await api.post(f"{POOLS}/{m['pool']}/reservations", {"quantity": "30", "expires_in": 3600}, token=m["bob"])
    assert made.status == 201 and made.body["state"] == "active", made
    assert_problem(await api.post(f"{POOLS}/{m['pool']}/reservations", {"quantity": "21"}, token=m["carol"]), 409, "pool-full")
    site = site_of(api)
    assert await run_due(site, POOL_RESERVATIONS, now=datetime.now(UTC) + timedelta(minutes=30)) == 0  # not due yet
    assert await run_due(site, POOL_RESERVATIONS, now=datetime.now(UTC) + timedelta(hours=2)) == 1
    assert await counters(m["pool"]) == (0, 0, 0)
    mine = await api.get("/api/v1/pool-reservations", token=m["bob"], expect=200)
    assert [item["state"] for item in mine.body["items"]] == ["expired"]
    assert (await api.post(f"{POOLS}/{m['pool']}/reservations", {"quantity": "50"}, token=m["carol"])).status == 201
    late = await api.post(f"{POOLS}/{m['pool']}/reservations/{made.body['id']}/claim", {}, token=m["alice"])
    assert_problem(late, 409, "reservation-not-active")
    assert await balance(api, m["coin"], "bob") == "0"


async def test_reservation__claimed_by_the_owner_is_minted_to_the_reserver_and_never_expires(api: Api) -> None:
    m = await setup(api)
    made = await api.post(f"{POOLS}/{m['pool']}/reservations", {"quantity": "5"}, token=m["bob"], expect=201)
    rid = made.body["id"]
    by_reserver = await api.post(f"{POOLS}/{m['pool']}/reservations/{rid}/claim", {}, token=m["bob"])
    assert_problem(by_reserver, 403, "not-pool-owner")
    by_stranger = await api.post(f"{POOLS}/{m['pool']}/reservations/{rid}/claim", {}, token=m["carol"])
    assert_problem(by_stranger, 404, "reservation-not-found")
    claimed = await api.post(f"{POOLS}/{m['pool']}/reservations/{rid}/claim", {}, token=m["alice"])
    assert claimed.status == 201 and claimed.body["reservation"] == rid and claimed.body["generated"] == "5", claimed
    assert await balance(api, m["coin"], "bob") == "5"
    assert await counters(m["pool"]) == (5, 0, 0)
    assert await run_due(site_of(api), POOL_RESERVATIONS, now=datetime.now(UTC) + timedelta(days=2)) == 0
    assert await counters(m["pool"]) == (5, 0, 0)
    again = await api.post(f"{POOLS}/{m['pool']}/reservations/{rid}/claim", {}, token=m["alice"])
    assert_problem(again, 409, "reservation-not-active")
    await assert_invariant(api, m["coin"], "bob")


async def test_reservation__cancel_by_its_reserver_returns_capacity_others_cannot(api: Api) -> None:
    m = await setup(api)
    rid = (await api.post(f"{POOLS}/{m['pool']}/reservations", {"quantity": "10"}, token=m["bob"], expect=201)).body["id"]
    assert_problem(await api.post(f"{POOLS}/{m['pool']}/reservations/{rid}/cancel", {}, token=m["carol"]), 404)
    done = await api.post(f"{POOLS}/{m['pool']}/reservations/{rid}/cancel", {}, token=m["bob"])
    assert done.status == 200 and done.body["state"] == "cancelled", done
    assert await counters(m["pool"]) == (0, 0, 0)
    assert_problem(await api.post(f"{POOLS}/{m['pool']}/reservations/{rid}/cancel", {}, token=m["bob"]), 409, "reservation-not-active")


async def test_batch__on_a_schedule_is_generated_slice_by_slice_by_the_engine(api: Api) -> None:
    m = await setup(api)
    body = {"to": "bob", "quantity": "25", "batch_size": "10", "period": 3600}
    batch = await api.post(f"{POOLS}/{m['pool']}/batches", body, token=m["alice"])
    assert batch.status == 201 and batch.body["state"] == "scheduled" and batch.body["generated"] == "0", batch
    assert await counters(m["pool"]) == (0, 25, 0)  # the whole batch is promised at once
    site, start = site_of(api), datetime.now(UTC)
    # the first slice is due at once: this test's run_due or the app's own runner makes it
    for _ in range(200):
        await run_due(site, POOL_GENERATIONS, now=start + timedelta(seconds=1))
        if await Generation.filter(state="done").exists():
            break
        await asyncio.sleep(0.05)
    assert await balance(api, m["coin"], "bob") == "10"
    assert await run_due(site, POOL_GENERATIONS, now=start + timedelta(minutes=30)) == 0  # the next slice waits a period
    assert await run_due(site, POOL_GENERATIONS, now=start + timedelta(hours=1, seconds=2)) == 1
    assert await run_due(site, POOL_GENERATIONS, now=start + timedelta(hours=2, seconds=3)) == 1
    assert await balance(api, m["coin"], "bob") == "25"
    assert await counters(m["pool"]) == (25, 0, 0)
    pool = (await api.get(f"{POOLS}/{m['pool']}", expect=200)).body
    assert pool["batches"][0]["state"] == "done" and pool["batches"][0]["next_at"] is None
    assert await run_due(site, POOL_GENERATIONS, now=start + timedelta(days=1)) == 0
    await assert_invariant(api, m["coin"], "bob")


async def test_subpool__splits_capacity_and_its_limits_hold_under_concurrency(api: Api) -> None:
    m = await setup(api)
    body = {"name": "Friends", "capacity": "20", "owner": "bob", "max_per_user": "3"}
    sub = await api.post(f"{POOLS}/{m['pool']}/subpools", body, token=m["alice"])
    assert sub.status == 201 and sub.body["parent"] == m["pool"] and sub.body["owner"].startswith("bob@"), sub
    sid = sub.body["id"]
    assert_problem(await api.post(f"{POOLS}/{m['pool']}/subpools", {**body, "capacity": "31"}, token=m["alice"]), 409, "pool-full")
    assert_problem(await api.post(f"{POOLS}/{m['pool']}/batches", {"to": "bob", "quantity": "31"}, token=m["alice"]), 409, "pool-full")
    assert_problem(await api.post(f"{POOLS}/{sid}/subpools", {**body, "capacity": "1"}, token=m["alice"]), 422, "nested-subpool")

    # one user, 10 racing reservations of 1 against a limit of 3 per user: exactly 3
    statuses = Counter([
        reply.status for reply in await asyncio.gather(*(
            api.post(f"{POOLS}/{sid}/reservations", {"quantity": "1"}, token=m["carol"]) for _ in range(10)
        ))
    ])
    assert statuses == {201: 3, 409: 7}
    limited = await api.post(f"{POOLS}/{sid}/reservations", {"quantity": "1"}, token=m["carol"])
    assert_problem(limited, 409, "per-user-limit")
    # the sub-pool's owner assigns from it; capacity 20 holds against 30 racing users
    users = {f"s{index}": await api.user(f"s{index}") for index in range(30)}
    replies = await asyncio.gather(*(api.post(f"{POOLS}/{sid}/reservations", {"quantity": "1"}, token=token) for token in users.values()))
    assert Counter(reply.status for reply in replies) == {201: 17, 409: 13}
    assert await counters(sid) == (0, 20, 0)
    assert await counters(m["pool"]) == (0, 0, 20)
    root = (await api.get(f"{POOLS}/{m['pool']}", expect=200)).body
    assert root["free"] == "30" and root["totals"] == {"generated": "0", "reserved": "20", "free": "30"}
    assert [part["name"] for part in root["subpools"]] == ["Friends"]
    carol_rid = (await api.get(f"{POOLS}/{sid}/reservations", token=m["carol"], expect=200)).body["items"][0]["id"]
    claimed = await api.post(f"{POOLS}/{sid}/reservations/{carol_rid}/claim", {}, token=m["bob"])
    assert claimed.status == 201, claimed  # the sub-pool's owner generates from it
    assert await balance(api, m["coin"], "carol") == "1"
    assert_problem(await api.post(f"{POOLS}/{sid}/batches", {"to": "carol", "quantity": "1"}, token=m["carol"]), 403, "not-pool-owner")


async def test_subpool__listed_reservers_only(api: Api) -> None:
    m = await setup(api)
    body = {"name": "Invited", "capacity": "10", "owner": "alice", "reservers": "listed", "listed": ["bob"]}
    sid = (await api.post(f"{POOLS}/{m['pool']}/subpools", body, token=m["alice"], expect=201)).body["id"]
    assert (await api.post(f"{POOLS}/{sid}/reservations", {"quantity": "2"}, token=m["bob"])).status == 201
    assert_problem(await api.post(f"{POOLS}/{sid}/reservations", {"quantity": "2"}, token=m["carol"]), 403, "not-listed")
    seen = (await api.get(f"{POOLS}/{sid}", token=m["alice"], expect=200)).body
    assert [handle.split("@")[0] for handle in seen["listed"]] == ["bob"] and seen["manager"] is True
    assert (await api.get(f"{POOLS}/{sid}", token=m["carol"], expect=200)).body["listed"] == []


async def test_unique_pool__generates_tokens_from_its_template(api: Api) -> None:
    tokens = {name: await api.user(name) for name in ("alice", "bob")}
    attributes = [{"name": "edition", "type": "string"}]
    card = await new_type(api, tokens["alice"], name="Card", symbol="CARD", fungible=False, smallest_unit=0, attributes=attributes)
    bad = await api.post(POOLS, {"type": card["id"], "name": "Cards", "capacity": "5", "template": {"edition": 7}}, token=tokens["alice"])
    assert_problem(bad, 400, "invalid-attributes")
    made = await api.post(POOLS, {"type": card["id"], "name": "Cards", "capacity": "5", "template": {"edition": "first"}},
                          token=tokens["alice"], expect=201)
    assert_problem(await api.post(f"{POOLS}/{made.body['id']}/batches", {"to": "bob", "quantity": "1.5"}, token=tokens["alice"]), 400)
    batch = await api.post(f"{POOLS}/{made.body['id']}/batches", {"to": "bob", "quantity": "3"}, token=tokens["alice"])
    assert batch.status == 201, batch
    held = await Token.filter(type_id=card["id"]).order_by("id")
    assert len(held) == 3 and {token.attributes["edition"] for token in held} == {"first"}
    bob = await api.get("/api/v1/tokens", params={"type": card["id"], "owner": "bob"}, expect=200)
    assert len(bob.body["items"]) == 3
    await assert_invariant(api, card["id"], "bob")


async def no_resale_setup(api: Api) -> dict[str, Any]:
    m = await setup(api, no_resale=True)
    await api.post(f"{POOLS}/{m['pool']}/batches", {"to": "bob", "quantity": "10"}, token=m["alice"], expect=201)
    return m


async def test_no_resale__units_cannot_be_given_onward_or_listed(api: Api) -> None:
    m = await no_resale_setup(api)
    give = await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "1", "to": "carol"}, token=m["bob"])
    assert_problem(give, 403, "no-resale")
    output = (await LedgerEntry.get(type_id=m["coin"], recipient_id=(await api_actor("bob")), kind="create")).id
    named = await api.post("/api/v1/ledger/give", {"type": m["coin"], "from_operation": output, "to": "carol"}, token=m["bob"])
    assert_problem(named, 403, "no-resale")
    everything = await api.post("/api/v1/ledger/give", {"type": m["coin"], "all": True, "to": "carol"}, token=m["bob"])
    assert_problem(everything, 403, "no-resale")
    lot = {"kind": "fixed_price", "type": m["coin"], "amount": "2", "price_type": m["coin"], "price": "1"}
    assert_problem(await api.post("/api/v1/market/lots", lot, token=m["bob"]), 403, "no-resale")
    assert await balance(api, m["coin"], "bob") == "10" and await balance(api, m["coin"], "carol") == "0"
    burnt = await api.post("/api/v1/ledger/burn", {"type": m["coin"], "amount": "1"}, token=m["bob"])
    assert burnt.status == 201, burnt  # burning is not resale
    back = await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "4", "to": "alice"}, token=m["bob"])
    assert back.status == 201, back  # back to the pool's owner: allowed
    # what the owner got back is the owner's, free like any other unit
    onward = await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "4", "to": "carol"}, token=m["alice"])
    assert onward.status == 201, onward
    # nor paid for a lot: a payment goes to its seller (the pool's owner may be paid back)
    cap = (await new_type(api, m["carol"], name="Cap", symbol="CAP", smallest_unit=0))["id"]
    await api.post("/api/v1/ledger/create", {"type": cap, "amount": "1"}, token=m["carol"], expect=201)
    sale = await api.post("/api/v1/market/lots", {"kind": "fixed_price", "type": cap, "amount": "1", "price_type": m["coin"],
                                                  "price": "1"}, token=m["carol"], expect=201)
    assert_problem(await api.post(f"/api/v1/market/lots/{sale.body['id']}/bids", {}, token=m["bob"]), 403, "no-resale")
    assert await balance(api, m["coin"], "bob") == "5" and await balance(api, cap, "bob") == "0"
    for name in ("alice", "bob", "carol"):
        await assert_invariant(api, m["coin"], name)


async def test_no_resale__other_units_of_the_type_move_when_named(api: Api) -> None:
    m = await no_resale_setup(api)
    await api.post("/api/v1/ledger/create", {"type": m["coin"], "amount": "5"}, token=m["alice"], expect=201)
    free = await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "5", "to": "bob"}, token=m["alice"], expect=201)
    by_amount = await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "5", "to": "carol"}, token=m["bob"])
    assert_problem(by_amount, 403, "no-resale")  # an unnamed spend while no-resale units are held
    named = await api.post("/api/v1/ledger/give", {"type": m["coin"], "from_operation": free.body["id"], "to": "carol"}, token=m["bob"])
    assert named.status == 201, named
    assert await balance(api, m["coin"], "carol") == "5"


async def test_no_resale__unique_tokens_cannot_be_listed_or_given(api: Api) -> None:
    tokens = {name: await api.user(name) for name in ("alice", "bob", "carol")}
    card = await new_type(api, tokens["alice"], name="Card", symbol="CARD", fungible=False, smallest_unit=0)
    coin = (await new_type(api, tokens["alice"], smallest_unit=0))["id"]
    pool = await api.post(POOLS, {"type": card["id"], "name": "Cards", "capacity": "2", "no_resale": True}, token=tokens["alice"], expect=201)
    await api.post(f"{POOLS}/{pool.body['id']}/batches", {"to": "bob", "quantity": "1"}, token=tokens["alice"], expect=201)
    token_id = (await Token.get(type_id=card["id"])).id
    give = {"type": card["id"], "amount": "1", "token": token_id, "to": "carol"}
    assert_problem(await api.post("/api/v1/ledger/give", give, token=tokens["bob"]), 403, "no-resale")
    lot = {"kind": "fixed_price", "type": card["id"], "tokens": [token_id], "price_type": coin, "price": "1"}
    assert_problem(await api.post("/api/v1/market/lots", lot, token=tokens["bob"]), 403, "no-resale")
    assert (await api.post("/api/v1/ledger/give", {**give, "to": "alice"}, token=tokens["bob"])).status == 201


async def api_actor(username: str) -> str:
    return str((await User.get(username=username)).actor_id)


async def test_pools__bad_input_and_permissions(api: Api) -> None:
    m = await setup(api)
    pool = f"{POOLS}/{m['pool']}"
    # create: not signed in, not the type's owner, unknown type, bad capacity, rules that do not fit
    assert_problem(await api.post(POOLS, {"type": m["coin"], "name": "x", "capacity": "1"}), 401)
    assert_problem(await api.post(POOLS, {"type": m["coin"], "name": "x", "capacity": "1"}, token=m["bob"]), 403, "not-owner")
    assert_problem(await api.post(POOLS, {"type": "nope", "name": "x", "capacity": "1"}, token=m["alice"]), 404, "type-not-found")
    for capacity in ("0", "-1", "1.5", "abc"):
        assert_problem(await api.post(POOLS, {"type": m["coin"], "name": "x", "capacity": capacity}, token=m["alice"]), 400)
    assert_problem(await api.post(POOLS, {"type": m["coin"], "name": "x", "capacity": "1", "reservers": "listed"}, token=m["alice"]), 400)
    assert_problem(await api.post(POOLS, {"type": m["coin"], "name": "x", "capacity": "1", "template": {"a": 1}}, token=m["alice"]), 422, "fungible-type")
    assert_problem(await api.post(POOLS, {"type": m["coin"], "name": "x", "capacity": "1", "extra": 1}, token=m["alice"]), 400)
    # get / list
    assert_problem(await api.get(f"{POOLS}/nope"), 404, "pool-not-found")
    listed = await api.get(POOLS, params={"type": m["coin"]}, expect=200)
    assert [item["id"] for item in listed.body["items"]] == [m["pool"]]
    # sub-pools: only the pool's owner; a local owner
    assert_problem(await api.post(f"{pool}/subpools", {"name": "s", "capacity": "1", "owner": "bob"}, token=m["bob"]), 403, "not-pool-owner")
    assert_problem(await api.post(f"{pool}/subpools", {"name": "s", "capacity": "1", "owner": "nobody"}, token=m["alice"]), 404)
    assert_problem(await api.post(f"{pool}/subpools", {"name": "s", "capacity": "1"}, token=m["alice"]), 400)
    # batches: only the owner; a known user; a full schedule
    assert_problem(await api.post(f"{pool}/batches", {"to": "bob", "quantity": "1"}, token=m["bob"]), 403, "not-pool-owner")
    assert_problem(await api.post(f"{pool}/batches", {"to": "nobody", "quantity": "1"}, token=m["alice"]), 404)
    assert_problem(await api.post(f"{pool}/batches", {"to": "bob", "quantity": "2", "batch_size": "1"}, token=m["alice"]), 400)
    assert_problem(await api.post(f"{pool}/batches", {"to": "bob", "quantity": "2", "batch_size": "3", "period": 60},
                                  token=m["alice"]), 422, "invalid-schedule")
    assert_problem(await api.post(f"{pool}/batches", {"to": "bob", "quantity": "1", "period": 0, "batch_size": "1"},
                                  token=m["alice"]), 400)
    assert_problem(await api.post("/api/v1/pools/nope/batches", {"to": "bob", "quantity": "1"}, token=m["alice"]), 404, "pool-not-found")
    # reservations: signed in; a sane expiry
    assert_problem(await api.post(f"{pool}/reservations", {"quantity": "1"}), 401)
    assert_problem(await api.post(f"{pool}/reservations", {"quantity": "1", "expires_in": 5}, token=m["bob"]), 400)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert_problem(await api.post(f"{pool}/reservations", {"quantity": "1", "expires_at": past}, token=m["bob"]), 422, "invalid-expiry")
    assert_problem(await api.post(f"{pool}/reservations", {"quantity": "1", "expires_at": past, "expires_in": 60}, token=m["bob"]), 400)
    assert_problem(await api.post(f"{pool}/reservations/nope/claim", {}, token=m["alice"]), 404, "reservation-not-found")
    assert_problem(await api.post(f"{pool}/reservations/nope/cancel", {}, token=m["bob"]), 404, "reservation-not-found")
    assert_problem(await api.get(f"{pool}/reservations"), 401)
    assert_problem(await api.get("/api/v1/pool-reservations"), 401)
    # nothing above moved the pool
    assert await counters(m["pool"]) == (0, 0, 0)
    assert await balance(api, m["coin"], "bob") == "0"

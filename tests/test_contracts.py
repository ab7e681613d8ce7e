"""Contracts (issue 18, items 1-4): licensing on types, offers, a contract's full life with the
clock moved forward on the engine, enforcement of limits, admin changes with an audit trail,
and bad input and permissions for every operation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from models.contracts import Contract, ContractStep
from models.engine import run_due
from models.machines import CONTRACT_STEPS
from models.tokens import TypeParent

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .test_ledger import assert_invariant, balance, minted, new_type

TYPES, OFFERS, CONTRACTS = "/api/v1/types", "/api/v1/contracts/offers", "/api/v1/contracts"
DAY = 86400


async def parties(api: Api) -> dict[str, Any]:
    """alice owns the licensed type `base` (and mints `coin`, the payment); bob holds 50 coin."""
    m = {name: await api.user(name) for name in ("alice", "bob", "carol")}
    m["admin"] = await api.user("root", roles=["admin"])
    m["coin"] = await minted(api, m["alice"], "1000", smallest_unit=0)
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "50", "to": "bob"}, token=m["alice"], expect=201)
    m["base"] = (await new_type(api, m["alice"], name="Base", symbol="BASE"))["id"]
    return m


async def offer(api: Api, m: dict[str, Any], **terms: Any) -> dict[str, Any]:
    body = {"type": m["base"], "payment_type": m["coin"], "fee": "10", "period_seconds": 30 * DAY, **terms}
    reply = await api.post(OFFERS, body, token=m["alice"])
    assert reply.status == 201, reply
    return reply.body


async def accept(api: Api, m: dict[str, Any], offer_id: str, who: str = "bob") -> dict[str, Any]:
    reply = await api.post(CONTRACTS, {"offer": offer_id}, token=m[who])
    assert reply.status == 201, reply
    return reply.body


async def derive(api: Api, m: dict[str, Any], who: str = "bob", **fields: Any) -> Any:
    body = {"name": "Child", "symbol": "KID", "fungible": True, "smallest_unit": 0, "parents": [m["base"]], **fields}
    return await api.post(TYPES, body, token=m[who])


async def mint(api: Api, token: str, type_id: str, amount: str) -> Any:
    return await api.post("/api/v1/ledger/create", {"type": type_id, "amount": amount}, token=token)


async def contract(api: Api, m: dict[str, Any], contract_id: str, who: str = "bob") -> dict[str, Any]:
    reply = await api.get(f"{CONTRACTS}/{contract_id}", token=m[who])
    assert reply.status == 200, reply
    return reply.body


async def run_at(api: Api, moment: datetime) -> int:
    """Run every contract step due by `moment` (steps a step queues for later wait)."""
    done = 0
    while (ran := await run_due(site_of(api), CONTRACT_STEPS, now=moment)) > 0:
        done += ran
    return done


def at(started: str, days: float) -> datetime:
    return datetime.fromisoformat(started) + timedelta(days=days, seconds=1)


# ---------------------------------------------------------------- licensing


async def test_licensing__new_types_default_to_contract_and_others_cannot_derive_without_one(api: Api) -> None:
    m = await parties(api)
    shown = await api.get(f"{TYPES}/{m['base']}", expect=200)
    assert shown.body["licensing"] == "contract"
    assert_problem(await derive(api, m), 403, "contract-required")
    own = await derive(api, m, who="alice")  # the owner always may
    assert own.status == 201 and own.body["parent_links"] == [{"parent": m["base"], "basis": "own", "contract": None}], own


async def test_licensing__closed_refuses_and_open_lets_anyone_derive(api: Api) -> None:
    m = await parties(api)
    await api.patch(f"{TYPES}/{m['base']}", {"licensing": "closed"}, token=m["alice"], expect=200)
    assert_problem(await derive(api, m), 403, "licensing-closed")
    child = (await new_type(api, m["bob"], name="Mine", symbol="MINE"))["id"]
    assert_problem(await api.patch(f"{TYPES}/{child}", {"parents": [m["base"]]}, token=m["bob"]), 403, "licensing-closed")
    await api.patch(f"{TYPES}/{m['base']}", {"licensing": "open"}, token=m["alice"], expect=200)
    made = await derive(api, m)
    assert made.status == 201 and made.body["parent_links"][0]["basis"] == "open", made
    assert (await mint(api, m["bob"], made.body["id"], "5")).status == 201


async def test_licensing__a_parent_of_another_server_needs_a_contract_held_there(api: Api) -> None:
    m = await parties(api)
    reply = await derive(api, m, parents=["https://elsewhere.example/types/01ABC"])
    problem = assert_problem(reply, 403, "contract-required")
    assert "contracts.remote.accept" in problem["detail"]
    assert (await api.get(TYPES, params={"owner": "bob"}, expect=200)).body["items"] == []  # nothing made


async def test_licensing__bad_policy_is_refused(api: Api) -> None:
    m = await parties(api)
    assert_problem(await api.patch(f"{TYPES}/{m['base']}", {"licensing": "maybe"}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.patch(f"{TYPES}/{m['base']}", {"licensing": "open"}, token=m["bob"]), 403, "not-owner")


async def test_grandfathered_links__keep_working_and_are_shown(api: Api) -> None:
    m = await parties(api)
    await api.patch(f"{TYPES}/{m['base']}", {"licensing": "open"}, token=m["alice"], expect=200)
    child = (await derive(api, m)).body["id"]
    await TypeParent.filter(child_id=child).update(basis="grandfathered")  # as migration 0017 marks old links
    await api.patch(f"{TYPES}/{m['base']}", {"licensing": "closed"}, token=m["alice"], expect=200)
    assert (await mint(api, m["bob"], child, "3")).status == 201
    renamed = await api.patch(f"{TYPES}/{child}", {"parents": [m["base"]], "name": "Still"}, token=m["bob"], expect=200)
    assert renamed.body["parent_links"][0]["basis"] == "grandfathered", renamed


# ---------------------------------------------------------------- the full life


async def test_contract__full_life_with_time_moved_forward(api: Api) -> None:
    m = await parties(api)
    terms = await offer(api, m, rate_per_unit="1", max_types=1, max_units_per_period=20, penalty="5",
                        grace_seconds=7 * DAY, notice_seconds=10 * DAY, cancel_by="either", price_per_type="3")
    held = await accept(api, m, terms["id"])
    assert held["state"] == "active" and held["licensee"].startswith("bob@"), held
    cid, started = held["id"], held["started_at"]
    assert [s["kind"] for s in held["steps"]] == ["payment"]

    # derive within the limit of one type; a second is refused
    child = await derive(api, m)
    assert child.status == 201, child
    assert child.body["parent_links"] == [{"parent": m["base"], "basis": "contract", "contract": cid}]
    kid = child.body["id"]
    assert_problem(await derive(api, m, name="Second", symbol="TWO"), 422, "contract-type-limit")

    # mint within the period's limit, then one over
    assert (await mint(api, m["bob"], kid, "12")).status == 201
    assert (await mint(api, m["bob"], kid, "8")).status == 201
    over = await mint(api, m["bob"], kid, "1")
    assert_problem(over, 422, "contract-unit-limit")
    view = await contract(api, m, cid)
    assert view["owed"] == "23" and view["units_this_period"] == "20" and view["derived_types"] == 1, view

    # the first payment, taken at the end of the period: fee 10 + owed 23
    assert await run_at(api, datetime.now(UTC)) == 0  # nothing due yet
    assert await run_at(api, at(started, 30)) == 1
    assert await balance(api, m["coin"], "bob") == "17"
    view = await contract(api, m, cid, who="alice")  # the licensor sees the same
    assert view["state"] == "active" and view["paid"] == "33" and view["owed"] == "0", view
    assert [(s["kind"], s["outcome"], s["amount"]) for s in view["steps"]] == [("payment", "paid", "33"), ("payment", None, None)]
    assert (await mint(api, m["bob"], kid, "20")).status == 201  # a new period: the limit counts afresh

    # bob cannot pay the next: in arrears with the penalty; minting goes on during the grace period
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "17", "to": "carol"}, token=m["bob"], expect=201)
    assert await run_at(api, at(started, 60)) == 1
    view = await contract(api, m, cid)
    assert view["state"] == "in_arrears" and view["arrears"] == "35", view  # fee 10 + owed 20 + penalty 5
    assert view["steps"][1]["outcome"] == "missed"
    assert (await mint(api, m["bob"], kid, "1")).status == 201

    # the grace period ends: suspended, minting refused
    assert await run_at(api, at(started, 67)) == 1
    assert (await contract(api, m, cid))["state"] == "suspended"
    assert_problem(await mint(api, m["bob"], kid, "1"), 403, "contract-suspended")
    assert_problem(await api.post(f"{CONTRACTS}/{cid}/pay", {}, token=m["bob"]), 409, "insufficient")

    # bob pays the arrears (and what the last mint owed): active again, minting works
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "100", "to": "bob"}, token=m["alice"], expect=201)
    paid = await api.post(f"{CONTRACTS}/{cid}/pay", {}, token=m["bob"], expect=200)
    assert paid.body["state"] == "active" and paid.body["arrears"] == "0" and paid.body["owed"] == "0", paid
    assert await balance(api, m["coin"], "bob") == "64"  # 100 - 35 - 1
    assert (await mint(api, m["bob"], kid, "1")).status == 201

    # the licensor cancels with ten days' notice: still usable until it takes effect
    given = await api.post(f"{CONTRACTS}/{cid}/cancel", {}, token=m["alice"], expect=200)
    assert given.body["state"] == "active" and given.body["cancel_at"] is not None, given
    assert_problem(await api.post(f"{CONTRACTS}/{cid}/cancel", {}, token=m["bob"]), 409, "cancel-pending")
    assert await run_at(api, datetime.fromisoformat(given.body["cancel_at"]) + timedelta(seconds=1)) >= 1
    ended = await contract(api, m, cid)
    assert ended["state"] == "cancelled" and ended["next_payment_at"] is None, ended
    assert_problem(await mint(api, m["bob"], kid, "1"), 403, "contract-ended")
    names = [event["name"] for event in ended["events"]]
    for name in ("contract.accepted", "contract.derived", "contract.owed", "contract.paid", "contract.payment_missed",
                 "contract.suspended", "contract.restored", "contract.cancel_given", "contract.cancelled"):
        assert name in names, (name, names)
    for owner in ("alice", "bob", "carol"):
        await assert_invariant(api, m["coin"], owner)


async def test_contract__expiry_ends_it_and_steps_are_skipped_after(api: Api) -> None:
    m = await parties(api)
    expires = (datetime.now(UTC) + timedelta(days=40)).isoformat()
    held = await accept(api, m, (await offer(api, m, expires_at=expires))["id"])
    assert await run_at(api, datetime.now(UTC) + timedelta(days=41)) >= 2  # a payment, then the expiry
    view = await contract(api, m, held["id"])
    assert view["state"] == "ended" and view["paid"] == "10", view
    assert await ContractStep.filter(contract_id=held["id"], state="pending").count() == 0


async def test_contract__admin_changes_terms_with_an_audit_trail_and_ends_it(api: Api) -> None:
    m = await parties(api)
    held = await accept(api, m, (await offer(api, m))["id"])
    cid = held["id"]
    assert_problem(await api.patch(f"/api/v1/admin/contracts/{cid}", {"fee": "2", "reason": "x"}, token=m["alice"]), 403, "role-required")
    assert_problem(await api.patch(f"/api/v1/admin/contracts/{cid}", {"fee": "2"}, token=m["admin"]), 400, "validation-failed")
    assert_problem(await api.patch(f"/api/v1/admin/contracts/{cid}", {"reason": "nothing"}, token=m["admin"]), 422, "no-change")
    assert_problem(await api.patch("/api/v1/admin/contracts/nope", {"fee": "2", "reason": "x"}, token=m["admin"]), 404, "contract-not-found")
    changed = await api.patch(f"/api/v1/admin/contracts/{cid}", {"fee": "2", "max_types": 3, "reason": "dispute settled"}, token=m["admin"], expect=200)
    assert changed.body["fee"] == "2" and changed.body["max_types"] == 3
    [change] = changed.body["changes"]
    assert change["reason"] == "dispute settled" and change["before"] == {"fee": 10, "max_types": None}, change
    assert change["after"] == {"fee": 2, "max_types": 3} and change["admin"].startswith("root@")
    for who in ("alice", "bob"):  # both parties see the change
        assert "contract.terms_changed" in [e["name"] for e in (await contract(api, m, cid, who=who))["events"]]
    assert await run_at(api, at(held["started_at"], 30)) == 1
    assert await balance(api, m["coin"], "bob") == "48"  # the new fee
    end = await api.post(f"/api/v1/admin/contracts/{cid}/end", {"reason": "fraud"}, token=m["admin"], expect=200)
    assert end.body["state"] == "ended" and [c["action"] for c in end.body["changes"]] == ["terms", "end"]
    assert_problem(await api.post(f"/api/v1/admin/contracts/{cid}/end", {"reason": "again"}, token=m["admin"]), 409, "contract-not-live")
    assert_problem(await derive(api, m), 403, "contract-required")


# ---------------------------------------------------------------- bad input and permissions


async def test_offers__bad_input_and_permissions(api: Api) -> None:
    m = await parties(api)
    assert_problem(await api.post(OFFERS, {"type": m["base"], "fee": "1"}, token=m["alice"]), 422, "payment-type-required")
    assert_problem(await api.post(OFFERS, {"type": m["base"]}, token=m["bob"]), 403, "not-owner")
    assert_problem(await api.post(OFFERS, {"type": "nope"}, token=m["alice"]), 404, "type-not-found")
    assert_problem(await api.post(OFFERS, {"type": m["base"], "period_seconds": 5}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.post(OFFERS, {"type": m["base"], "takers": "listed"}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.post(OFFERS, {"type": m["base"], "fee": "-1", "payment_type": m["coin"]}, token=m["alice"]), 400)
    assert_problem(await api.post(OFFERS, {"type": m["base"], "bogus": 1}, token=m["alice"]), 400, "validation-failed")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert_problem(await api.post(OFFERS, {"type": m["base"], "expires_at": past}, token=m["alice"]), 422, "invalid-time")
    assert_problem(await api.post(OFFERS, {"type": m["base"]}), 401)
    await api.patch(f"{TYPES}/{m['base']}", {"licensing": "open"}, token=m["alice"], expect=200)
    assert_problem(await api.post(OFFERS, {"type": m["base"]}, token=m["alice"]), 409, "licensing-not-contract")


async def test_offers__listed_takers_only_and_withdrawal(api: Api) -> None:
    m = await parties(api)
    listed = await offer(api, m, takers="listed", listed=["carol"])
    assert listed["listed"] and listed["listed"][0].startswith("carol@")
    assert_problem(await api.get(f"{OFFERS}/{listed['id']}", token=m["bob"]), 404, "offer-not-found")
    assert_problem(await api.post(CONTRACTS, {"offer": listed["id"]}, token=m["bob"]), 404, "offer-not-found")
    seen = await api.get(OFFERS, params={"type": m["base"]}, token=m["carol"], expect=200)
    assert [o["id"] for o in seen.body["items"]] == [listed["id"]] and seen.body["items"][0]["listed"] is None
    assert (await api.get(OFFERS, params={"type": m["base"]}, expect=200)).body["items"] == []
    assert_problem(await api.post(f"{OFFERS}/{listed['id']}/withdraw", {}, token=m["carol"]), 403, "not-owner")
    await api.post(f"{OFFERS}/{listed['id']}/withdraw", {}, token=m["alice"], expect=200)
    assert_problem(await api.post(f"{OFFERS}/{listed['id']}/withdraw", {}, token=m["alice"]), 409, "offer-not-open")
    assert_problem(await api.post(CONTRACTS, {"offer": listed["id"]}, token=m["carol"]), 409, "offer-not-open")


async def test_contracts__bad_input_and_permissions(api: Api) -> None:
    m = await parties(api)
    terms = await offer(api, m, cancel_by="licensee")
    assert_problem(await api.post(CONTRACTS, {"offer": terms["id"]}, token=m["alice"]), 422, "own-type")
    assert_problem(await api.post(CONTRACTS, {"offer": "nope"}, token=m["bob"]), 404, "offer-not-found")
    assert_problem(await api.post(CONTRACTS, {}, token=m["bob"]), 400, "validation-failed")
    assert_problem(await api.post(CONTRACTS, {"offer": terms["id"]}), 401)
    held = await accept(api, m, terms["id"])
    assert_problem(await api.post(CONTRACTS, {"offer": terms["id"]}, token=m["bob"]), 409, "contract-exists")
    cid = held["id"]
    assert_problem(await api.get(f"{CONTRACTS}/{cid}", token=m["carol"]), 404, "contract-not-found")
    assert (await api.get(f"{CONTRACTS}/{cid}", token=m["admin"])).status == 200
    assert_problem(await api.post(f"{CONTRACTS}/{cid}/pay", {}, token=m["alice"]), 403, "not-licensee")
    assert_problem(await api.post(f"{CONTRACTS}/{cid}/pay", {}, token=m["bob"]), 409, "nothing-due")
    assert_problem(await api.post(f"{CONTRACTS}/{cid}/pay", {}, token=m["carol"]), 404, "contract-not-found")
    assert_problem(await api.post(f"{CONTRACTS}/{cid}/cancel", {}, token=m["alice"]), 403, "cancel-not-allowed")
    mine = await api.get(CONTRACTS, params={"role": "licensee"}, token=m["bob"], expect=200)
    assert [c["id"] for c in mine.body["items"]] == [cid]
    assert (await api.get(CONTRACTS, params={"role": "licensee"}, token=m["alice"], expect=200)).body["items"] == []
    assert [c["id"] for c in (await api.get(CONTRACTS, params={"role": "licensor"}, token=m["alice"], expect=200)).body["items"]] == [cid]
    assert_problem(await api.get(CONTRACTS, params={"role": "boss"}, token=m["bob"]), 400, "validation-failed")
    assert_problem(await api.get(CONTRACTS), 401)
    cancelled = await api.post(f"{CONTRACTS}/{cid}/cancel", {}, token=m["bob"], expect=200)  # no notice: at once
    assert cancelled.body["state"] == "cancelled"
    assert_problem(await api.post(f"{CONTRACTS}/{cid}/cancel", {}, token=m["bob"]), 409, "contract-not-live")
    assert await Contract.filter(id=cid, state="cancelled").exists()


async def test_offers__to_a_group_any_member_accepts_and_others_are_refused_as_unlisted(api: Api) -> None:
    m = await parties(api)
    dave = await api.user("dave")
    team = await api.post("/api/v1/groups", {"name": "studio"}, token=m["alice"], expect=201)
    members = f"/api/v1/groups/{team.body['id']}/members"
    await api.post(members, {"username": "bob"}, token=m["alice"], expect=200)
    await api.post(members, {"username": "dave"}, token=m["alice"], expect=200)
    to_team = await offer(api, m, takers="listed", groups=[team.body["id"]])
    assert to_team["groups"] == [team.body["id"]] and to_team["listed"] == []

    # a member sees it and accepts; a non-member (carol) gets what an unlisted user gets
    seen = await api.get(OFFERS, params={"type": m["base"]}, token=m["bob"], expect=200)
    assert [o["id"] for o in seen.body["items"]] == [to_team["id"]] and seen.body["items"][0]["groups"] is None
    held = await accept(api, m, to_team["id"])
    assert held["state"] == "active"
    assert (await api.get(OFFERS, params={"type": m["base"]}, token=m["carol"], expect=200)).body["items"] == []
    assert_problem(await api.get(f"{OFFERS}/{to_team['id']}", token=m["carol"]), 404, "offer-not-found")
    assert_problem(await api.post(CONTRACTS, {"offer": to_team["id"]}, token=m["carol"]), 404, "offer-not-found")

    # membership counts when accepting: dave leaves, then is refused the same way
    assert (await api.delete(f"{members}/dave", token=m["alice"])).status == 204
    assert_problem(await api.post(CONTRACTS, {"offer": to_team["id"]}, token=dave), 404, "offer-not-found")
    await api.post(members, {"username": "carol"}, token=m["alice"], expect=200)
    assert (await accept(api, m, to_team["id"], who="carol"))["state"] == "active"


async def test_offers__a_group_must_be_one_the_licensor_belongs_to(api: Api) -> None:
    m = await parties(api)
    theirs = await api.post("/api/v1/groups", {"name": "bobs"}, token=m["bob"], expect=201)
    for groups in ([theirs.body["id"]], ["nope"]):
        refused = await api.post(OFFERS, {"type": m["base"], "takers": "listed", "groups": groups}, token=m["alice"])
        assert_problem(refused, 404, "group-not-found")
    assert_problem(await api.post(OFFERS, {"type": m["base"], "groups": [theirs.body["id"]]}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.post(OFFERS, {"type": m["base"], "takers": "listed", "groups": []}, token=m["alice"]), 400, "validation-failed")
    await api.post(f"/api/v1/groups/{theirs.body['id']}/members", {"username": "alice"}, token=m["bob"], expect=200)
    mixed = await offer(api, m, takers="listed", groups=[theirs.body["id"]], listed=["carol"])
    assert mixed["groups"] == [theirs.body["id"]] and len(mixed["listed"]) == 1
    assert (await accept(api, m, mixed["id"], who="carol"))["state"] == "active"  # listed by name
    assert (await accept(api, m, mixed["id"]))["state"] == "active"  # bob owns the group

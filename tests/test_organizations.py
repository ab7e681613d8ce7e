"""Organizations (issue 19, items 1-3): a 5-member organization with unequal shares decides
proposals that run a chain as the organization at the deadline, once; a failing chain changes
nothing; shares moved during a vote do not count twice; bad input and permissions."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import orjson

from federation.delivery import deliver_due
from federation.inbox import process_due
from models.engine import run_due
from models.engine.runner import claim
from models.machines import ORGANIZATION_PROPOSALS

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, local_key_pem, remote, signed_post, site_of  # noqa: F401  (fixtures)
from .pagehelpers import Browser
from .test_ledger import balance, minted
from .test_pages_session import assert_labelled

ORGS = "/api/v1/organizations"
ACME = "http://127.0.0.1:8080/users/acme"  # its actor URL (the test settings' base_url)
SHARES = {"alice": "40", "bob": "25", "carol": "15", "dave": "12", "erin": "8"}  # 100 in all


async def organization(api: Api) -> dict[str, Any]:
    """acme: alice owns it, five members hold 100 shares unequally, its wallet holds 500 coin."""
    m: dict[str, Any] = {name: await api.user(name) for name in [*SHARES, "zed"]}
    await api.post(ORGS, {"name": "acme", "display_name": "Acme", "quorum_percent": 50, "voting_seconds": 3600},
                   token=m["alice"], expect=201)
    for name in ("bob", "carol", "dave", "erin"):
        await api.post(f"{ORGS}/acme/members", {"username": name}, token=m["alice"], expect=200)
    for name, amount in SHARES.items():
        await api.post(f"{ORGS}/acme/shares", {"to": name, "amount": amount, "symbol": "ACME"}, token=m["alice"], expect=200)
    m["coin"] = await minted(api, m["zed"], "1000", smallest_unit=0)
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "500", "to": "acme"}, token=m["zed"], expect=201)
    m["shares"] = (await api.get(f"{ORGS}/acme", expect=200)).body["share_type"]
    return m


def give_step(m: dict[str, Any], amount: str, to: str = "zed", step: str = "pay") -> dict[str, Any]:
    return {"id": step, "operation": "ledger.give", "input": {"type": m["coin"], "amount": amount, "to": to}}


async def propose(api: Api, m: dict[str, Any], steps: list[dict[str, Any]], who: str = "bob") -> dict[str, Any]:
    reply = await api.post(f"{ORGS}/acme/proposals", {"title": "Pay zed", "steps": steps}, token=m[who], expect=201)
    return reply.body


async def vote(api: Api, m: dict[str, Any], proposal: dict[str, Any], who: str, choice: str) -> dict[str, Any]:
    reply = await api.post(f"{ORGS}/acme/proposals/{proposal['id']}/vote", {"choice": choice}, token=m[who], expect=200)
    return reply.body


async def at_deadline(api: Api, proposal: dict[str, Any], after: float = 1) -> int:
    moment = datetime.fromisoformat(proposal["deadline"]) + timedelta(seconds=after)
    return await run_due(site_of(api), ORGANIZATION_PROPOSALS, now=moment)


async def shown(api: Api, m: dict[str, Any], proposal: dict[str, Any], who: str = "bob") -> dict[str, Any]:
    return (await api.get(f"{ORGS}/acme/proposals/{proposal['id']}", token=m[who], expect=200)).body


async def test_organization__is_an_actor_with_members_roles_shares_and_a_wallet(api: Api) -> None:
    m = await organization(api)
    body = (await api.get(f"{ORGS}/acme", expect=200)).body
    assert body["kind"] == "Organization" and body["display_name"] == "Acme"
    assert {row["username"]: (row["role"], row["shares"]) for row in body["members"]} == {
        "alice": ("owner", "40"), "bob": ("member", "25"), "carol": ("member", "15"), "dave": ("member", "12"),
        "erin": ("member", "8"),
    }
    assert {row["type"]: row["balance"] for row in body["wallet"]} == {m["coin"]: "500"}
    assert await balance(api, m["coin"], "acme") == "500"
    assert await balance(api, m["shares"], "acme") == "0"  # every issued share went to its member


async def test_proposal__passes_at_quorum_and_the_give_happens_exactly_once(api: Api) -> None:
    m = await organization(api)
    proposal = await propose(api, m, [give_step(m, "100")])
    assert proposal["state"] == "open" and proposal["total_shares"] == "100"
    await vote(api, m, proposal, "alice", "yes")
    await vote(api, m, proposal, "carol", "no")
    await vote(api, m, proposal, "carol", "yes")  # changed before the deadline: counted once, as yes
    body = await vote(api, m, proposal, "erin", "no")
    assert body["tally"] == {"yes": "55", "no": "8", "abstain": "0"}
    assert await balance(api, m["coin"], "zed") == "500"  # nothing ran before the deadline
    assert await at_deadline(api, proposal) == 1
    done = await shown(api, m, proposal)
    assert done["state"] == "executed" and done["outcome"] == "passed", done
    assert done["results"]["pay"]["amount"] == "100"
    assert await balance(api, m["coin"], "zed") == "600"
    assert await balance(api, m["coin"], "acme") == "400"
    assert await at_deadline(api, proposal, after=86400) == 0  # run again later: nothing is due
    assert await balance(api, m["coin"], "acme") == "400"
    assert_problem(await api.post(f"{ORGS}/acme/proposals/{proposal['id']}/vote", {"choice": "no"}, token=m["dave"]),
                   409, "voting-closed")


async def test_proposal__without_quorum_or_majority_is_rejected_and_runs_nothing(api: Api) -> None:
    m = await organization(api)
    few = await propose(api, m, [give_step(m, "100")])
    await vote(api, m, few, "bob", "yes")  # 25 of 100 shares voted: under the 50% quorum
    against = await propose(api, m, [give_step(m, "100")])
    await vote(api, m, against, "alice", "no")
    await vote(api, m, against, "bob", "yes")
    await vote(api, m, against, "carol", "abstain")  # 80 voted; yes 25 is not more than no 40
    assert await at_deadline(api, few) == 2
    assert (await shown(api, m, few))["outcome"] == "no-quorum"
    rejected = await shown(api, m, against)
    assert rejected["state"] == "rejected" and rejected["outcome"] == "not-a-majority"
    assert rejected["tally"] == {"yes": "25", "no": "40", "abstain": "15"}
    assert await balance(api, m["coin"], "acme") == "500"


async def test_proposal__a_failing_chain_changes_nothing_and_says_why(api: Api) -> None:
    m = await organization(api)
    steps = [give_step(m, "50", step="first"), give_step(m, "10000", to="bob", step="too_much")]
    proposal = await propose(api, m, steps)
    for name in ("alice", "bob"):
        await vote(api, m, proposal, name, "yes")
    assert await at_deadline(api, proposal) == 1
    failed = await shown(api, m, proposal)
    assert failed["state"] == "failed" and failed["outcome"] == "passed"
    assert failed["error"]["step"] == "too_much" and failed["error"]["status"] == 409, failed["error"]
    assert await balance(api, m["coin"], "acme") == "500"  # the first give rolled back with the second
    assert await balance(api, m["coin"], "zed") == "500"
    assert await balance(api, m["coin"], "bob") == "0"


async def test_proposal__shares_moved_during_the_vote_do_not_count_twice(api: Api) -> None:
    m = await organization(api)
    proposal = await propose(api, m, [give_step(m, "100")])
    await vote(api, m, proposal, "bob", "yes")
    await api.post("/api/v1/ledger/give", {"type": m["shares"], "amount": "25", "to": "dave"}, token=m["bob"], expect=201)
    await api.post("/api/v1/ledger/give", {"type": m["shares"], "amount": "8", "to": "zed"}, token=m["erin"], expect=201)
    body = await vote(api, m, proposal, "dave", "yes")  # dave holds 37 now, but 12 when it opened
    assert body["tally"]["yes"] == "37"
    assert {v["username"]: v["shares"] for v in body["voters"]}["dave"] == "12"
    assert_problem(await api.post(f"{ORGS}/acme/proposals/{proposal['id']}/vote", {"choice": "yes"}, token=m["zed"]),
                   404, "not-a-member")  # zed holds shares now, but is no member
    assert await at_deadline(api, proposal) == 1
    assert (await shown(api, m, proposal))["outcome"] == "no-quorum"  # 37 of 100 voted
    later = await propose(api, m, [give_step(m, "1")])  # a new proposal snapshots the new holdings
    assert {v["username"]: v["shares"] for v in later["voters"]} == {"alice": "40", "carol": "15", "dave": "37"}


async def test_proposal__a_restart_between_the_deadline_and_the_run_runs_it_once(api: Api) -> None:
    m = await organization(api)
    proposal = await propose(api, m, [give_step(m, "100")])
    await vote(api, m, proposal, "alice", "yes")
    await vote(api, m, proposal, "bob", "yes")
    deadline = datetime.fromisoformat(proposal["deadline"])
    lease, rows = await claim(ORGANIZATION_PROPOSALS, site_of(api), now=deadline + timedelta(seconds=1))
    assert [row.id for row in rows] == [proposal["id"]]  # a runner took it, then its process died
    assert await at_deadline(api, proposal, after=2) == 0  # its lease still holds: nobody else runs it
    assert await balance(api, m["coin"], "zed") == "500"
    assert await at_deadline(api, proposal, after=600) == 1  # the lease expired: the next runner runs it
    assert await at_deadline(api, proposal, after=1200) == 0
    assert await at_deadline(api, proposal, after=86400) == 0
    assert (await shown(api, m, proposal))["state"] == "executed"
    assert await balance(api, m["coin"], "zed") == "600"
    assert await balance(api, m["coin"], "acme") == "400"


async def test_members__roles_decide_who_manages(api: Api) -> None:
    m = await organization(api)
    url = f"{ORGS}/acme/members"
    assert_problem(await api.post(url, {"username": "zed"}, token=m["bob"]), 403, "organization-role-required")
    assert_problem(await api.post(url, {"username": "alice"}, token=m["zed"]), 404, "not-a-member")
    assert_problem(await api.post(url, {"username": "nobody"}, token=m["alice"]), 404, "user-not-found")
    assert_problem(await api.post(url, {"username": "bob"}, token=m["alice"]), 409, "already-a-member")
    assert_problem(await api.post(url, {"username": "zed", "role": "owner"}, token=m["alice"]), 400)
    await api.patch(f"{url}/bob", {"role": "admin"}, token=m["alice"], expect=200)
    assert_problem(await api.patch(f"{url}/carol", {"role": "admin"}, token=m["bob"]), 403, "organization-role-required")
    assert_problem(await api.post(url, {"username": "zed", "role": "admin"}, token=m["bob"]), 403)
    await api.post(url, {"username": "zed"}, token=m["bob"], expect=200)  # an admin adds plain members
    assert_problem(await api.patch(f"{url}/alice", {"role": "member"}, token=m["alice"]), 409, "owner-stays")
    assert_problem(await api.patch(f"{url}/zed", {"role": "boss"}, token=m["alice"]), 400)
    assert_problem(await api.delete(f"{url}/alice", token=m["bob"]), 409, "owner-stays")
    assert_problem(await api.delete(f"{url}/erin", token=m["carol"]), 403, "organization-role-required")
    assert_problem(await api.delete(f"{url}/nobody", token=m["alice"]), 404, "user-not-found")
    await api.delete(f"{url}/erin", token=m["erin"], expect=200)  # a member may leave
    body = (await api.delete(f"{url}/zed", token=m["bob"], expect=200)).body
    assert [row["username"] for row in body["members"]] == ["alice", "bob", "carol", "dave"]


async def test_create_and_shares__bad_input_and_permissions(api: Api) -> None:
    m = await organization(api)
    assert_problem(await api.post(ORGS, {"name": "acme"}), 401)
    assert_problem(await api.post(ORGS, {"name": "Bad Name!"}, token=m["bob"]), 400, "validation-failed")
    assert_problem(await api.post(ORGS, {"name": "acme"}, token=m["bob"]), 409, "name-taken")
    assert_problem(await api.post(ORGS, {"name": "zed"}, token=m["bob"]), 409, "name-taken")  # a user's name
    assert_problem(await api.post(ORGS, {"name": "other", "quorum_percent": 0}, token=m["bob"]), 400)
    assert_problem(await api.post(ORGS, {"name": "other", "voting_seconds": 5}, token=m["bob"]), 400)
    assert_problem(await api.post("/api/v1/auth/register", {"username": "acme", "password": "password123",
                                                             "email": "a@example.org"}), 409, "username-taken")
    assert_problem(await api.get(f"{ORGS}/nowhere"), 404, "organization-not-found")
    url = f"{ORGS}/acme/shares"
    assert_problem(await api.post(url, {"to": "bob", "amount": "5"}, token=m["carol"]), 403, "organization-role-required")
    assert_problem(await api.post(url, {"to": "zed", "amount": "5"}, token=m["alice"]), 404, "member-not-found")
    assert_problem(await api.post(url, {"to": "bob", "amount": "0"}, token=m["alice"]), 400)
    assert_problem(await api.post(url, {"to": "bob", "amount": "1.5"}, token=m["alice"]), 400)
    assert_problem(await api.post(url, {"to": "bob"}, token=m["alice"]), 400, "validation-failed")
    # Nobody spends the wallet directly, nor mints its shares: only its proposals act as it.
    assert_problem(await api.post("/api/v1/ledger/create", {"type": m["shares"], "amount": "5"}, token=m["alice"]), 403)


async def test_proposals__bad_input_and_permissions(api: Api) -> None:
    m = await organization(api)
    url = f"{ORGS}/acme/proposals"
    good = [give_step(m, "1")]
    assert_problem(await api.post(url, {"title": "x", "steps": good}, token=m["zed"]), 404, "not-a-member")
    assert_problem(await api.post(url, {"title": "x", "steps": []}, token=m["bob"]), 400, "validation-failed")
    assert_problem(await api.post(url, {"steps": good}, token=m["bob"]), 400, "validation-failed")
    unknown = [{"id": "a", "operation": "no.such", "input": {}}]
    assert_problem(await api.post(url, {"title": "x", "steps": unknown}, token=m["bob"]), 422, "unknown-operation")
    admin_only = [{"id": "a", "operation": "contracts.admin.end", "input": {"id": "x", "reason": "r"}}]
    assert_problem(await api.post(url, {"title": "x", "steps": admin_only}, token=m["bob"]), 422, "not-for-organizations")
    nested = [{"id": "a", "operation": "organizations.members.add", "input": {"name": "acme", "username": "zed"}}]
    assert_problem(await api.post(url, {"title": "x", "steps": nested}, token=m["bob"]), 422, "not-for-organizations")
    bad_input = [{"id": "a", "operation": "ledger.give", "input": {"amount": "1"}}]
    assert_problem(await api.post(url, {"title": "x", "steps": bad_input}, token=m["bob"]), 400, "validation-failed")
    bad_ref = [give_step(m, "1"), {"id": "b", "operation": "ledger.give", "input": {"$ref": "nope"}}]
    assert_problem(await api.post(url, {"title": "x", "steps": bad_ref}, token=m["bob"]), 422, "ref-unknown-step")
    twice = [give_step(m, "1"), give_step(m, "1")]
    assert_problem(await api.post(url, {"title": "x", "steps": twice}, token=m["bob"]), 422, "duplicate-step-id")
    proposal = await propose(api, m, good)
    assert_problem(await api.get(url, token=m["zed"]), 404, "not-a-member")
    assert_problem(await api.get(f"{url}/{proposal['id']}", token=m["zed"]), 404, "not-a-member")
    assert_problem(await api.get(f"{url}/{proposal['id']}"), 401)
    assert_problem(await api.get(f"{url}/01NOPE", token=m["bob"]), 404, "proposal-not-found")
    listed = (await api.get(url, token=m["bob"], params={"state": "open"}, expect=200)).body
    assert [item["id"] for item in listed["items"]] == [proposal["id"]]
    assert_problem(await api.get(url, token=m["bob"], params={"state": "maybe"}), 400)
    vote_url = f"{url}/{proposal['id']}/vote"
    assert_problem(await api.post(vote_url, {"choice": "maybe"}, token=m["bob"]), 400, "validation-failed")
    await api.post(f"{ORGS}/acme/members", {"username": "zed"}, token=m["alice"], expect=200)
    assert_problem(await api.post(vote_url, {"choice": "yes"}, token=m["zed"]), 403, "not-a-voter")  # joined later
    await api.post(ORGS, {"name": "empty"}, token=m["zed"], expect=201)
    assert_problem(await api.post(f"{ORGS}/empty/proposals", {"title": "x", "steps": good}, token=m["zed"]),
                   409, "no-shares")


async def test_organization__is_served_as_an_activitypub_organization_and_is_followable(
    fed_api: Api, remote: Remote,  # noqa: F811  (fixtures)
) -> None:
    alice = await fed_api.user("alice")
    await fed_api.post(ORGS, {"name": "acme", "display_name": "Acme"}, token=alice, expect=201)
    document = orjson.loads((await fed_api.get("/users/acme", headers={"Accept": "application/activity+json"},
                                               expect=200)).text)
    assert document["type"] == "Organization" and document["id"] == ACME and document["inbox"] == f"{ACME}/inbox"
    assert document["publicKey"]["publicKeyPem"] == await local_key_pem("acme")  # its own keys
    finger = await fed_api.get("/.well-known/webfinger", params={"resource": "acct:acme@127.0.0.1:8080"}, expect=200)
    assert any(link.get("href") == ACME for link in orjson.loads(finger.text)["links"])
    bob = remote.actor("bob")
    follow = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{bob.uri}/follows/1", "type": "Follow",
              "actor": bob.uri, "object": ACME}
    assert (await signed_post(fed_api, "/users/acme/inbox", follow, bob)).status == 202
    site = site_of(fed_api)
    assert await process_due(site) == 1
    await deliver_due(site)
    accepts = [r for r in remote.posts() if r["json"]["type"] == "Accept"]
    assert len(accepts) == 1 and accepts[0]["json"]["actor"] == ACME
    collection = await fed_api.get("/users/acme/followers?page=1", headers={"Accept": "application/activity+json"})
    assert orjson.loads(collection.text)["orderedItems"] == [bob.uri]
    assert_problem(await fed_api.get("/users/nobody", headers={"Accept": "application/activity+json"}), 404)


async def test_pages__profile_wallet_members_and_a_proposal_with_its_tally_and_a_vote(api: Api) -> None:
    m = await organization(api)
    proposal = await propose(api, m, [give_step(m, "100")])
    browser = Browser(api.client)
    outsider = await browser.get("/app/organizations/acme", expect=200)  # the profile is public
    assert "Acme" in outsider and "500" in outsider and "Pay zed" not in outsider  # proposals are the members'
    await browser.sign_in("carol")
    profile = await browser.get("/app/organizations/acme", expect=200)
    assert "owner" in profile and "Pay zed" in profile and "closes in 59 minutes" in profile
    page = await browser.get(f"/app/organizations/acme/proposals/{proposal['id']}", expect=200)
    assert 'id="vote-form"' in page and "<svg" in page and proposal["deadline"] in page
    assert "<script" not in page.text
    assert_labelled(page.text)
    voted = await browser.post(f"/app/organizations/acme/proposals/{proposal['id']}/vote", {"choice": "yes"},
                               csrf=page.csrf(), expect=200)
    assert "Your vote is counted" in voted and "Yes 15" in voted and 'class="segment yes"' in voted
    refused = await browser.post(f"/app/organizations/acme/proposals/{proposal['id']}/vote", {"choice": "maybe"},
                                 csrf=voted.csrf(), expect=400)
    assert "Yes 15" in refused
    await browser.sign_in("zed")  # no member: the proposal is not there for them
    await browser.get(f"/app/organizations/acme/proposals/{proposal['id']}", expect=404)


async def test_proposal__two_runners_at_the_deadline_run_it_once(api: Api) -> None:
    m = await organization(api)
    proposal = await propose(api, m, [give_step(m, "100")])
    await vote(api, m, proposal, "alice", "yes")
    await vote(api, m, proposal, "carol", "yes")
    ran = await asyncio.gather(at_deadline(api, proposal), at_deadline(api, proposal))
    assert sorted(ran) == [0, 1]
    assert await balance(api, m["coin"], "zed") == "600"
    assert await balance(api, m["coin"], "acme") == "400"


async def test_proposal__a_chain_with_refs_creates_and_mints_a_type_the_organization_owns(api: Api) -> None:
    m = await organization(api)
    steps = [
        {"id": "kind", "operation": "types.create",
         "input": {"name": "Acme points", "symbol": "APT", "fungible": True, "smallest_unit": 0}},
        {"id": "mint", "operation": "ledger.create", "input": {"type": {"$ref": "kind#/id"}, "amount": "70"}},
    ]
    proposal = await propose(api, m, steps)
    for name in ("alice", "bob"):
        await vote(api, m, proposal, name, "yes")
    assert await at_deadline(api, proposal) == 1
    done = await shown(api, m, proposal)
    assert done["state"] == "executed", done
    type_id = done["results"]["kind"]["id"]
    assert (await api.get(f"/api/v1/types/{type_id}", expect=200)).body["owner"]["username"] == "acme"
    assert await balance(api, type_id, "acme") == "70"

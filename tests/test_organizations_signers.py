"""Organization rules (issue 19, item 3): M-of-N named signers like a Safe. Two of three
signers approving runs the chain at once, before the deadline, and once; a non-signer is
refused; a rule change mid-vote leaves open proposals alone; the deadline without M approvals
rejects; the owner alone changes the rules, and bad rules are refused beside their fields."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from models.engine import run_due
from models.machines import ORGANIZATION_PROPOSALS
from models.organizations import Proposal

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .pagehelpers import Browser
from .test_ledger import balance
from .test_organizations import ORGS, at_deadline, give_step, organization, propose, shown, vote
from .test_pages_session import assert_labelled

RULES = f"{ORGS}/acme/rules"


async def signers_organization(api: Api) -> dict[str, Any]:
    """acme (see test_organizations), with the rule: 2 of alice, bob and carol must sign."""
    m = await organization(api)
    body = (await api.patch(RULES, {"rule": "signers", "signers": ["alice", "bob", "carol"], "threshold": 2},
                            token=m["alice"], expect=200)).body
    assert body["rule"] == "signers" and body["threshold"] == 2 and body["signers"] == ["alice", "bob", "carol"]
    return m


async def now_due(api: Api) -> int:
    return await run_due(site_of(api), ORGANIZATION_PROPOSALS, now=datetime.now(UTC))


async def settled(api: Api, m: dict[str, Any], proposal: dict[str, Any]) -> dict[str, Any]:
    """The proposal once a runner decided it (the app's own runner is woken by the M-th yes)."""
    for _ in range(400):
        body = await shown(api, m, proposal)
        if body["state"] != "open":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"still open: {body}")


async def test_signers__two_of_three_run_the_chain_at_once_and_once(api: Api) -> None:
    m = await signers_organization(api)
    proposal = await propose(api, m, [give_step(m, "100")], who="dave")  # any member proposes
    assert proposal["rule"] == "signers" and proposal["threshold"] == 2 and proposal["total_shares"] == "3"
    assert {v["username"] for v in proposal["voters"]} == {"alice", "bob", "carol"}
    body = await vote(api, m, proposal, "alice", "yes")
    assert body["tally"]["yes"] == "1"
    assert await now_due(api) == 0  # one signature of two: nothing is due before the deadline
    await vote(api, m, proposal, "carol", "no")  # a no is recorded, and is no signature
    await vote(api, m, proposal, "bob", "yes")
    # it is due now: the app's runner (woken by the vote) and two more race for it
    ran = await asyncio.gather(now_due(api), now_due(api))
    assert sum(ran) <= 1
    done = await settled(api, m, proposal)
    assert done["state"] == "executed" and done["outcome"] == "passed", done
    assert done["decided_at"] < done["deadline"]  # before the deadline
    assert done["tally"] == {"yes": "2", "no": "1", "abstain": "0"}
    assert await balance(api, m["coin"], "zed") == "600"
    assert await at_deadline(api, proposal, after=86400) == 0  # nothing left due: ran exactly once
    assert await balance(api, m["coin"], "acme") == "400"
    assert_problem(await api.post(f"{ORGS}/acme/proposals/{proposal['id']}/vote", {"choice": "yes"}, token=m["carol"]),
                   409, "voting-closed")


async def test_signers__a_signature_withdrawn_before_the_runner_came_waits_for_the_deadline(api: Api) -> None:
    m = await signers_organization(api)
    proposal = await propose(api, m, [give_step(m, "100")])
    await vote(api, m, proposal, "alice", "yes")
    # as if bob's yes made it due and he took it back before a runner came: the runner waits
    await Proposal.filter(id=proposal["id"]).update(next_at=datetime.now(UTC))
    assert await now_due(api) <= 1  # the app's own runner may have taken it first
    for _ in range(400):
        row = await Proposal.get(id=proposal["id"])
        if row.lease_owner is None and row.next_at is not None and row.next_at > datetime.now(UTC):
            break
        await asyncio.sleep(0.05)
    assert row.state == "open" and row.next_at is not None
    assert abs((row.next_at - row.deadline).total_seconds()) < 60  # due again at its deadline
    assert await at_deadline(api, proposal) == 1
    rejected = await shown(api, m, proposal)
    assert rejected["state"] == "rejected" and rejected["outcome"] == "not-enough-signers"
    assert await balance(api, m["coin"], "acme") == "500"


async def test_signers__a_non_signer_is_refused_and_the_deadline_without_m_rejects(api: Api) -> None:
    m = await signers_organization(api)
    proposal = await propose(api, m, [give_step(m, "100")])
    vote_url = f"{ORGS}/acme/proposals/{proposal['id']}/vote"
    assert_problem(await api.post(vote_url, {"choice": "yes"}, token=m["dave"]), 403, "not-a-signer")  # 12 shares: no matter
    assert_problem(await api.post(vote_url, {"choice": "yes"}, token=m["zed"]), 404, "not-a-member")
    await vote(api, m, proposal, "alice", "yes")
    assert await at_deadline(api, proposal) == 1
    rejected = await shown(api, m, proposal)
    assert rejected["state"] == "rejected" and rejected["outcome"] == "not-enough-signers"
    assert rejected["tally"]["yes"] == "1"
    assert await balance(api, m["coin"], "acme") == "500"


async def test_rules__a_change_mid_vote_leaves_open_proposals_alone(api: Api) -> None:
    m = await signers_organization(api)
    under_signers = await propose(api, m, [give_step(m, "100")])
    await api.patch(RULES, {"rule": "shares"}, token=m["alice"], expect=200)
    under_shares = await propose(api, m, [give_step(m, "50")])
    assert under_shares["rule"] == "shares" and under_shares["total_shares"] == "100"
    await vote(api, m, under_signers, "alice", "yes")
    await vote(api, m, under_signers, "bob", "yes")  # still 2 of 3 signers: runs now
    assert (await settled(api, m, under_signers))["state"] == "executed"
    await api.patch(RULES, {"rule": "signers", "signers": ["alice"], "threshold": 1}, token=m["alice"], expect=200)
    await vote(api, m, under_shares, "alice", "yes")  # one signer would do now; this one counts shares
    assert await now_due(api) == 0
    await vote(api, m, under_shares, "bob", "yes")
    assert await at_deadline(api, under_shares) == 1
    assert (await shown(api, m, under_shares))["outcome"] == "passed"  # 65 of 100 shares
    assert await balance(api, m["coin"], "zed") == "650"


async def test_rules__bad_input_and_permissions(api: Api) -> None:
    m = await organization(api)
    for who, status, code in (("bob", 403, "organization-role-required"), ("zed", 404, "not-a-member")):
        assert_problem(await api.patch(RULES, {"quorum_percent": 10}, token=m[who]), status, code)
    await api.patch(f"{ORGS}/acme/members/bob", {"role": "admin"}, token=m["alice"], expect=200)
    assert_problem(await api.patch(RULES, {"quorum_percent": 10}, token=m["bob"]), 403, "organization-role-required")
    assert_problem(await api.patch(RULES, {"quorum_percent": 10}), 401)
    too_many = {"rule": "signers", "signers": ["alice", "bob"], "threshold": 3}
    reply = await api.patch(RULES, too_many, token=m["alice"])
    assert_problem(reply, 422, "invalid-threshold")
    assert reply.body["errors"][0]["field"] == "threshold"
    reply = await api.patch(RULES, {"rule": "signers", "signers": ["alice", "zed", "nobody"], "threshold": 1}, token=m["alice"])
    assert_problem(reply, 422, "signer-not-a-member")
    assert "zed" in reply.body["detail"] and "nobody" in reply.body["detail"]
    assert_problem(await api.patch(RULES, {"rule": "signers", "threshold": 1}, token=m["alice"]), 422, "invalid-threshold")
    assert_problem(await api.patch(RULES, {"rule": "safe"}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.patch(RULES, {"threshold": 0}, token=m["alice"]), 400, "validation-failed")
    assert_problem(await api.patch(RULES, {"quorum_percent": 101}, token=m["alice"]), 400, "validation-failed")
    unchanged = (await api.get(f"{ORGS}/acme", expect=200)).body
    assert unchanged["rule"] == "shares" and unchanged["quorum_percent"] == 50 and unchanged["signers"] == []
    # the rule's signers stay while it needs them
    await api.patch(RULES, {"rule": "signers", "signers": ["bob", "carol"], "threshold": 2}, token=m["alice"], expect=200)
    assert_problem(await api.delete(f"{ORGS}/acme/members/carol", token=m["alice"]), 409, "signer-needed")


async def test_pages__the_owner_changes_the_rules_and_a_proposal_shows_its_signatures(api: Api) -> None:
    m = await organization(api)
    browser = Browser(api.client)
    await browser.sign_in("bob")  # a plain member sees the rule, not the form
    assert 'id="rules-form"' not in await browser.get("/app/organizations/acme", expect=200)
    await browser.sign_in("alice")
    page = await browser.get("/app/organizations/acme", expect=200)
    assert 'id="rules-form"' in page and "<script" not in page.text
    assert_labelled(page.text)
    refused = await browser.post("/app/organizations/acme/rules",
                                 {"rule": "signers", "signers": "alice, bob", "threshold": "3", "quorum_percent": "50",
                                  "voting_days": "1"}, csrf=page.csrf(), expect=422)
    assert "1 to 2" in refused  # beside the field
    changed = await browser.post("/app/organizations/acme/rules",
                                 {"rule": "signers", "signers": "alice, bob, carol", "threshold": "2",
                                  "quorum_percent": "50", "voting_days": "1"}, csrf=refused.csrf(), expect=200)
    assert "2 of these 3 must sign" in changed
    proposal = await propose(api, m, [give_step(m, "100")])
    await vote(api, m, proposal, "carol", "yes")
    shown_page = await browser.get(f"/app/organizations/acme/proposals/{proposal['id']}", expect=200)
    assert "1 of 2 signatures" in shown_page and "<svg" in shown_page and "Signed by carol" in shown_page

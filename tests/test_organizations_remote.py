"""Organization members on other servers (issue 19, item 4), the organization's side.

acme on this server has three local members and eve, who lives on a fake remote server whose
keys the test holds: her votes are real signed activities. What she is sent (an Add, the
proposal as a Question, its Update with the outcome) is read from the requests the fake server
recorded. The two-server flow, with a real Tallystick on each side, is in
tests/test_organizations_remote_live.py.
"""

from __future__ import annotations

from typing import Any

import orjson

from federation.delivery import deliver_due
from federation.httpsig_cavage import sign_cavage
from federation.inbox import process_due
from federation.outbox import publish_due_events
from models.federation import InboxActivity

from .conftest import Api, Reply, assert_problem
from .fedhelpers import OTHER_KEY, SHARED_KEY, FakeActor, Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .test_ledger import minted
from .test_organizations import ORGS, at_deadline, give_step

SHARES = {"alice": "40", "carol": "15", "dave": "10"}  # and eve (remote) 35: 100 in all


async def _sweep(api: Api) -> None:
    """What the workers would do: events to activities, deliveries out, inbox processed."""
    site = site_of(api)
    await publish_due_events(site)
    await deliver_due(site)
    await process_due(site)


async def _organization(api: Api, remote: Remote) -> tuple[dict[str, Any], FakeActor]:
    eve = remote.actor("eve")
    m: dict[str, Any] = {name: await api.user(name) for name in [*SHARES, "zed"]}
    await api.post(ORGS, {"name": "acme", "quorum_percent": 50, "voting_seconds": 3600}, token=m["alice"], expect=201)
    for name in ("carol", "dave", eve.handle):
        await api.post(f"{ORGS}/acme/members", {"username": name}, token=m["alice"], expect=200)
    for name, amount in [*SHARES.items(), (eve.handle, "35")]:
        await api.post(f"{ORGS}/acme/shares", {"to": name, "amount": amount, "symbol": "ACME"}, token=m["alice"], expect=200)
    m["coin"] = await minted(api, m["zed"], "1000", smallest_unit=0)
    await api.post("/api/v1/ledger/give", {"type": m["coin"], "amount": "500", "to": "acme"}, token=m["zed"], expect=201)
    return m, eve


def _sent(remote: Remote, kind: str, object_type: str | None = None) -> list[dict[str, Any]]:
    return [
        post["json"] for post in remote.posts()
        if post["json"]["type"] == kind and (object_type is None or (
            isinstance(post["json"]["object"], dict) and post["json"]["object"].get("type") == object_type))
    ]


def _vote(voter: FakeActor, question: str, choice: str, number: int) -> dict[str, Any]:
    """A Mastodon poll vote: a Create of a Note named by the choice, replying to the Question."""
    note = {"id": f"{voter.uri}#votes/{number}", "type": "Note", "name": choice, "attributedTo": voter.uri,
            "inReplyTo": question, "to": "http://127.0.0.1:8080/users/acme"}
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{voter.uri}/votes/{number}", "type": "Create",
            "actor": voter.uri, "object": note, "to": note["to"]}


ACTIVITY = {"Accept": "application/activity+json"}


async def _fetch(api: Api, path: str, actor: FakeActor, *, expect: int | None = None) -> Reply:
    """A GET signed as `actor`, as a server fetching a document signs it."""
    url = f"http://{api.client.host}:{api.client.port}{path}"
    headers = sign_cavage("GET", url, key_id=actor.key_id, private_key=SHARED_KEY.private_pem)
    return await api.call("GET", path, headers={**headers, **ACTIVITY}, expect=expect)


async def _outcomes(api: Api) -> list[str]:
    return [row.outcome or "" for row in await InboxActivity.filter(type="Create").order_by("id")]


async def test_remote_member__is_told_holds_shares_gets_the_question_and_votes_with_her_snapshot(
    fed_api: Api, remote: Remote,
) -> None:
    api = fed_api
    m, eve = await _organization(api, remote)
    shown = (await api.get(f"{ORGS}/acme", expect=200)).body
    assert {member["username"]: member["shares"] for member in shown["members"]} == {
        "alice": "40", "carol": "15", "dave": "10", eve.handle: "35"}
    await _sweep(api)
    [add] = _sent(remote, "Add")
    assert (add["actor"], add["object"], add["target"]) == (
        "http://127.0.0.1:8080/users/acme", eve.uri, "http://127.0.0.1:8080/users/acme/members")
    [entry] = [post for post in _sent(remote, "Create", "LedgerEntry") if post["object"].get("amount") == "35"]
    assert entry["object"]["tokenOwner"] == "http://127.0.0.1:8080/users/acme"  # her shares, on A's ledger

    reply = await api.post(f"{ORGS}/acme/proposals", {"title": "Pay zed", "description": "Invoice 7",
                                                     "steps": [give_step(m, "100")]}, token=m["carol"], expect=201)
    proposal = reply.body
    await _sweep(api)
    [create] = _sent(remote, "Create", "Question")
    question = create["object"]
    url = f"http://127.0.0.1:8080/proposals/{proposal['id']}"
    assert (question["id"], question["attributedTo"], question["endTime"]) == (
        url, "http://127.0.0.1:8080/users/acme", proposal["deadline"])
    assert [(o["name"], o["replies"]["totalItems"]) for o in question["oneOf"]] == [("yes", 0), ("no", 0), ("abstain", 0)]
    assert eve.uri in create["to"] and "closed" not in question
    # served to those it is addressed to: eve's signed fetch, or a member signed in here; 404 to others
    served = await _fetch(api, f"/proposals/{proposal['id']}", eve, expect=200)
    document = orjson.loads(served.text)
    assert (document["type"], document["name"], document["endTime"]) == ("Question", "Pay zed", proposal["deadline"])
    elsewhere = Remote()  # a server where no member lives (eve's server may read it: it shows it to her)
    await elsewhere.start()
    try:
        assert_problem(await _fetch(api, f"/proposals/{proposal['id']}", elsewhere.actor("mallory")), 404, "proposal-not-found")
    finally:
        await elsewhere.stop()
    assert_problem(await api.get(f"/proposals/{proposal['id']}", headers=ACTIVITY), 404, "proposal-not-found")
    assert_problem(await api.get(f"/proposals/{proposal['id']}", headers=ACTIVITY, token=m["zed"]), 404)
    await api.get(f"/proposals/{proposal['id']}", headers=ACTIVITY, token=m["dave"], expect=200)

    # eve votes no, then changes to yes: one vote, her 35 snapshotted shares
    await signed_post(api, "/users/acme/inbox", _vote(eve, url, "no", 1), eve, expect=202)
    await signed_post(api, "/users/acme/inbox", _vote(eve, url, "yes", 2), eve, expect=202)
    await _sweep(api)
    got = (await api.get(f"{ORGS}/acme/proposals/{proposal['id']}", token=m["alice"], expect=200)).body
    assert got["tally"] == {"yes": "35", "no": "0", "abstain": "0"}
    assert {v["username"]: v["choice"] for v in got["voters"]}[eve.handle] == "yes"
    # shares she gets now do not count: the weight was snapshotted when the proposal opened
    await api.post(f"{ORGS}/acme/shares", {"to": eve.handle, "amount": "50"}, token=m["alice"], expect=200)
    await api.post(f"{ORGS}/acme/proposals/{proposal['id']}/vote", {"choice": "no"}, token=m["dave"], expect=200)
    await api.post(f"{ORGS}/acme/proposals/{proposal['id']}/vote", {"choice": "yes"}, token=m["carol"], expect=200)

    assert await at_deadline(api, proposal) == 1
    assert await at_deadline(api, proposal) == 0  # decided once
    got = (await api.get(f"{ORGS}/acme/proposals/{proposal['id']}", token=m["alice"], expect=200)).body
    assert (got["state"], got["tally"]) == ("executed", {"yes": "50", "no": "10", "abstain": "0"})
    balance = await api.get("/api/v1/ledger/balance", params={"type": m["coin"], "owner": "zed"}, token=m["zed"], expect=200)
    assert balance.body["balance"] == "600"  # 500 left after giving acme 500, and the 100 once

    await _sweep(api)
    [update] = _sent(remote, "Update", "Question")
    decided = update["object"]
    assert (decided["id"], decided["proposalState"], decided["outcome"]) == (url, "executed", "passed")
    assert decided["closed"] == got["decided_at"] and decided["votersCount"] == 3
    assert [(o["name"], o["replies"]["totalItems"]) for o in decided["oneOf"]] == [("yes", 50), ("no", 10), ("abstain", 0)]

    # a vote after the deadline is dropped, with its reason; the tally stands
    await signed_post(api, "/users/acme/inbox", _vote(eve, url, "no", 3), eve, expect=202)
    await _sweep(api)
    assert (await _outcomes(api))[-1] == "ignored: vote not counted: voting-closed"
    got = (await api.get(f"{ORGS}/acme/proposals/{proposal['id']}", token=m["alice"], expect=200)).body
    assert got["tally"] == {"yes": "50", "no": "10", "abstain": "0"}


async def test_remote_votes__from_non_members_forged_unsigned_or_malformed_never_count(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    m, eve = await _organization(api, remote)
    mallory = remote.actor("mallory")
    proposal = (await api.post(f"{ORGS}/acme/proposals", {"title": "Pay zed", "steps": [give_step(m, "100")]},
                               token=m["carol"], expect=201)).body
    url = f"http://127.0.0.1:8080/proposals/{proposal['id']}"
    body = _vote(eve, url, "yes", 1)

    unsigned = await api.call("POST", "/users/acme/inbox", json=body, headers={"Content-Type": "application/activity+json"})
    assert_problem(unsigned, 401)
    assert_problem(await signed_post(api, "/users/acme/inbox", body, eve, private_pem=OTHER_KEY.private_pem), 401)
    # mallory signs an activity that says eve voted
    assert_problem(await signed_post(api, "/users/acme/inbox", body, mallory), 403, "origin-mismatch")
    # mallory votes as herself: she is no member, so she held no shares when it opened
    await signed_post(api, "/users/acme/inbox", _vote(mallory, url, "yes", 2), mallory, expect=202)
    await signed_post(api, "/users/acme/inbox", _vote(eve, url, "maybe", 3), eve, expect=202)
    await signed_post(api, "/users/acme/inbox", _vote(eve, f"{url}x", "yes", 4), eve, expect=202)
    await _sweep(api)
    assert (await _outcomes(api))[-3:] == [
        "ignored: vote not counted: not-a-voter",
        "ignored: vote not counted: the Note's name must be yes, no or abstain",
        "ignored: vote not counted: there is no such proposal",
    ]
    got = (await api.get(f"{ORGS}/acme/proposals/{proposal['id']}", token=m["alice"], expect=200)).body
    assert got["tally"] == {"yes": "0", "no": "0", "abstain": "0"}


async def test_remote_members__bad_input_and_permissions(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    m, eve = await _organization(api, remote)
    members = f"{ORGS}/acme/members"
    assert_problem(await api.post(members, {"username": eve.handle}, token=m["alice"]), 409, "already-a-member")
    assert_problem(await api.post(members, {"username": remote.actor("frank").handle, "role": "admin"}, token=m["alice"]),
                   422, "remote-admin")
    assert_problem(await api.post(members, {"username": "nobody@127.0.0.1:1"}, token=m["alice"]), 422, "remote-actor-unavailable")
    assert_problem(await api.post(members, {"username": "x" * 321}, token=m["alice"]), 400)
    assert_problem(await api.post(members, {"username": remote.actor("frank").handle}, token=m["carol"]), 403,
                   "organization-role-required")
    assert_problem(await api.call("PATCH", f"{members}/{eve.handle}", json={"role": "admin"}, token=m["alice"]), 422,
                   "remote-admin")
    assert_problem(await api.post(f"{ORGS}/acme/shares", {"to": "ghost@nowhere.example", "amount": "1"}, token=m["alice"]),
                   404, "member-not-found")
    removed = await api.call("DELETE", f"{members}/{eve.handle}", token=m["alice"], expect=200)
    assert eve.handle not in [member["username"] for member in removed.body["members"]]

    votes, listed = "/api/v1/remote-organizations/votes", "/api/v1/remote-organizations/proposals"
    for bad in ({}, {"proposal": "ftp://x.example/p/1", "choice": "yes"}, {"proposal": "https://x.example/p/1", "choice": "maybe"},
                {"proposal": "https://x.example/p/" + "1" * 2048, "choice": "yes"}):
        assert_problem(await api.post(votes, bad, token=m["alice"]), 400)
    assert_problem(await api.post(votes, {"proposal": "https://x.example/p/1", "choice": "yes"}, token=m["alice"]), 404,
                   "proposal-not-found")
    assert_problem(await api.post(votes, {"proposal": "https://x.example/p/1", "choice": "yes"}), 401)
    assert_problem(await api.get(listed), 401)
    assert_problem(await api.get(listed, params={"page_size": "0"}, token=m["alice"]), 400)
    assert (await api.get(listed, token=m["alice"], expect=200)).body["items"] == []

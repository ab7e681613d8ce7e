"""An organization with a member on another server (issue 19, item 4): two real servers.

alice on A makes acme and adds bob@B; carol and dave (on A) and bob hold its shares; bob's
shares are a remote holding on B. A proposal reaches B as a Question; bob sees it in B's list
and on B's page and votes there (a Note signed with his key, to acme's inbox); A counts his
snapshotted shares. At the deadline the proposal passes, its give runs once, and B shows the
outcome. The organization's refusals of remote votes are in tests/test_organizations_remote.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from models.organizations import Proposal
from server.database import open_database

from . import dbutil
from .livesrv import LiveServer
from .test_federation_live import Instance, eventually, pair, servers, trio  # noqa: F401
from .test_federation_onward_live import _holding
from .test_pages_federation_live import LiveBrowser

pytestmark = pytest.mark.slow
ORGS = "/api/v1/organizations"
VOTING_SECONDS = 60  # the shortest vote an organization may set


async def _deadline_now(server: LiveServer, proposal_id: str) -> None:
    """Bring the open proposal's deadline to now in A's database: an organization's shortest vote
    is a minute, which the test need not sit through (A's runner decides it as at any deadline)."""
    settings = dbutil.test_settings(Path(server.env["TALLYSTICK_DATA_DIR"]), server.env["TALLYSTICK_DATABASE_URL"])
    orm = await open_database(settings)
    try:
        now = datetime.now(UTC)
        assert await Proposal.filter(id=proposal_id, state="open").update(deadline=now, next_at=now) == 1
    finally:
        await orm.close_connections()


async def _remote_proposals(b: Instance) -> list[dict[str, Any]]:
    _, listed = await b.call("GET", "/api/v1/remote-organizations/proposals", "bob", expect=200)
    return list(listed["items"])


async def test_live__bob_on_b_holds_shares_sees_and_votes_on_a_proposal_of_acme_on_a(
    pair: tuple[Instance, Instance],  # noqa: F811
) -> None:
    a, b = pair
    for name in ("alice", "carol", "dave"):
        a.user(name)
    b.user("bob")
    a.server.start()
    b.server.start()
    await a.call("POST", ORGS, "alice", json={"name": "acme", "quorum_percent": 50, "voting_seconds": VOTING_SECONDS},
                 expect=201)
    for member in ("carol", "dave", f"bob@{b.domain}"):
        await a.call("POST", f"{ORGS}/acme/members", "alice", json={"username": member}, expect=200)
    for member, amount in (("carol", "20"), ("dave", "10"), (f"bob@{b.domain}", "40")):
        await a.call("POST", f"{ORGS}/acme/shares", "alice", json={"to": member, "amount": amount, "symbol": "ACME"},
                     expect=200)
    _, acme = await a.call("GET", f"{ORGS}/acme", expect=200)
    assert {m["username"]: m["shares"] for m in acme["members"]}[f"bob@{b.domain}"] == "40"
    shares_url = f"{a.server.base_url}/types/{acme['share_type']}"

    async def bob_holds() -> bool:
        return (await _holding(b, "bob", shares_url) or {}).get("balance") == "40"

    await eventually(bob_holds, "B to show bob's 40 acme shares as a remote holding")

    _, coin = await a.call("POST", "/api/v1/types", "alice", json={
        "name": "Coin", "symbol": "COIN", "fungible": True, "smallest_unit": 0}, expect=201)
    await a.call("POST", "/api/v1/ledger/create", "alice", json={"type": coin["id"], "amount": "100"}, expect=201)
    await a.call("POST", "/api/v1/ledger/give", "alice", json={"type": coin["id"], "amount": "100", "to": "acme"},
                 expect=201)
    step = {"id": "pay", "operation": "ledger.give", "input": {"type": coin["id"], "amount": "30", "to": "dave"}}
    _, proposal = await a.call("POST", f"{ORGS}/acme/proposals", "carol",
                               json={"title": "Pay dave", "description": "For the stall", "steps": [step]}, expect=201)
    url = f"{a.server.base_url}/proposals/{proposal['id']}"

    async def reached_b() -> dict[str, Any] | None:
        return next((p for p in await _remote_proposals(b) if p["url"] == url), None)

    seen = await eventually(reached_b, "the proposal to reach bob on B")
    assert (seen["title"], seen["organization"], seen["closed"], seen["my_vote"]) == (
        "Pay dave", f"acme@{a.domain}", False, None)
    assert seen["deadline"] == proposal["deadline"]

    # bob votes on B's page: a plain form, one button per choice
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        browser = LiveBrowser(b.server.base_url, session)
        await browser.sign_in("bob")
        listed = await browser.get("/app/proposals-elsewhere")
        assert listed.status == 200 and "Pay dave" in listed and f"acme@{a.domain}" in listed
        voted = await browser.post("/app/proposals-elsewhere", {"proposal": url, "choice": "yes"}, listed.csrf())
        assert voted.status == 200 and "Your vote (yes) is on its way" in voted

    async def counted_on_a() -> bool:
        _, shown = await a.call("GET", f"{ORGS}/acme/proposals/{proposal['id']}", "alice", expect=200)
        return {v["username"]: v["choice"] for v in shown["voters"]}.get(f"bob@{b.domain}") == "yes"

    await eventually(counted_on_a, "A to count bob's vote")
    await a.call("POST", f"{ORGS}/acme/proposals/{proposal['id']}/vote", "carol", json={"choice": "no"}, expect=200)
    _, shown = await a.call("GET", f"{ORGS}/acme/proposals/{proposal['id']}", "alice", expect=200)
    assert shown["tally"] == {"yes": "40", "no": "20", "abstain": "0"}  # bob's snapshotted 40 shares

    async def decided_on_a() -> dict[str, Any] | None:
        _, got = await a.call("GET", f"{ORGS}/acme/proposals/{proposal['id']}", "alice", expect=200)
        return got if got["state"] != "open" else None

    await _deadline_now(a.server, proposal["id"])
    decided = await eventually(decided_on_a, "the deadline to pass and A to decide", limit=60)
    assert (decided["state"], decided["outcome"]) == ("executed", "passed")
    _, balance = await a.call("GET", "/api/v1/ledger/balance", "dave", params={"type": coin["id"], "owner": "dave"},
                              expect=200)
    assert balance["balance"] == "30"  # the give ran once

    async def outcome_on_b() -> dict[str, Any] | None:
        found = await reached_b()
        return found if found and found["outcome"] else None  # closed at the deadline; the outcome comes after

    closed = await eventually(outcome_on_b, "B to show the outcome")
    assert (closed["state"], closed["outcome"], closed["my_vote"], closed["closed"]) == ("executed", "passed", "yes", True)
    assert (closed["tally"], closed["voters_count"]) == ({"yes": "40", "no": "20", "abstain": "0"}, 2)
    status, refused = await b.call("POST", "/api/v1/remote-organizations/votes", "bob", json={"proposal": url, "choice": "no"})
    assert (status, refused["code"]) == (409, "voting-closed")

"""Agents across three real servers: alice on A grants scanner@C the right to report one
attribute of her token; the scanner's report travels as a signed Update to A, is applied there,
reaches bob's copy on B through ordinary federation, and C learns the outcome from A's Accept.
An agent without a grant is refused at A's door, and a change outside the grant is answered
with a Reject that names the reason; neither changes the token."""

from __future__ import annotations

from typing import Any

import pytest

from .test_federation_live import Instance, eventually, follow_accepted, servers, trio  # noqa: F401

pytestmark = pytest.mark.slow
KIND = {"name": "Crate", "symbol": "CRT", "fungible": False, "smallest_unit": 0,
        "attributes": [{"name": "label", "type": "string"}, {"name": "weight", "type": "decimal"}]}
SENT = "/api/v1/agents/sent-reports"


async def token_at_origin(a: Instance, token_id: str) -> dict[str, Any]:
    status, token = await a.call("GET", f"/api/v1/tokens/{token_id}", "alice")
    assert status == 200, token
    return dict(token)


async def sent_report(c: Instance, agent: str, report_id: str, state: str) -> dict[str, Any] | None:
    """The agent's sent report once C has recorded `state` for it."""
    status, listed = await c.call("GET", SENT, agent)
    assert status == 200, listed
    found = [item for item in listed["items"] if item["id"] == report_id]
    return found[0] if found and found[0]["state"] == state else None


async def test_live__an_agent_on_c_reports_to_a_and_the_change_reaches_b(
    trio: tuple[Instance, Instance, Instance],
) -> None:
    a, b, c = trio
    a.user("alice")
    b.user("bob")
    c.tokens["scanner"] = c.server.create_user("scanner", "agent")
    c.tokens["rogue"] = c.server.create_user("rogue", "agent")
    for instance in trio:
        instance.server.start()
    await follow_accepted(a, b)
    status, kind = await a.call("POST", "/api/v1/types", "alice", json=KIND)
    assert status == 201, kind
    status, token = await a.call("POST", "/api/v1/tokens", "alice", json={
        "type": kind["id"], "attributes": {"label": "raw", "weight": "10"}})
    assert status == 201, token
    token_url = f"{a.server.base_url}/tokens/{token['id']}"

    async def copy_on_b(label: str) -> dict[str, Any] | None:
        _, listed = await b.call("GET", "/api/v1/federation/objects?type=Token", "bob")
        found = [item for item in listed["items"] if item["uri"] == token_url]
        return found[0] if found and found[0]["document"]["attributes"].get("label") == label else None

    await eventually(lambda: copy_on_b("raw"), "the token's Create to reach B")

    # alice names the agent by its handle on C; A looks it up and fetches it
    status, grant = await a.call("POST", "/api/v1/agents/grants", "alice", json={
        "agent": f"scanner@{c.domain}", "token": token["id"], "attributes": ["label"]})
    assert status == 201, grant
    assert grant["agent"]["handle"] == f"scanner@{c.domain}" and grant["agent"]["local"] is False

    status, sent = await c.call("POST", SENT, "scanner", json={
        "token": token_url, "attributes": {"label": "scanned"}, "version": 1, "note": "read at the loading bay"})
    assert status == 202, sent
    assert (sent["state"], sent["owner"]) == ("sent", f"{a.server.base_url}/users/alice")

    applied = await eventually(lambda: sent_report(c, "scanner", sent["id"], "applied"), "A's Accept to reach C")
    assert applied["decided_at"] is not None
    at_a = await token_at_origin(a, token["id"])
    assert (at_a["version"], at_a["attributes"]["label"]) == (2, "scanned")
    _, reports = await a.call("GET", "/api/v1/agents/reports", "alice")
    assert [(r["agent"]["handle"], r["state"], r["note"]) for r in reports["items"]] == [
        (f"scanner@{c.domain}", "applied", "read at the loading bay")]
    await eventually(lambda: copy_on_b("scanned"), "the agent's change to reach B's copy")
    # the report went to alice alone: the scanner's public outbox does not show it
    status, outbox = await c.call("GET", "/users/scanner/outbox?page=1", headers={"Accept": "application/activity+json"})
    assert status == 200 and outbox["orderedItems"] == [], outbox

    # outside the grant: A answers with a Reject naming the reason; the token stays at version 2
    status, outside = await c.call("POST", SENT, "scanner", json={"token": token_url, "attributes": {"weight": "99"}})
    assert status == 202, outside
    rejected = await eventually(lambda: sent_report(c, "scanner", outside["id"], "rejected"), "A's Reject to reach C")
    assert "outside-grant" in rejected["detail"]

    # an agent alice never authorized: refused at A's door, so C's delivery fails for good
    status, forged = await c.call("POST", SENT, "rogue", json={"token": token_url, "attributes": {"label": "stolen"}})
    assert status == 202, forged
    refused = await eventually(lambda: sent_report(c, "rogue", forged["id"], "refused"), "A to refuse the rogue agent")
    assert refused["delivery"]["last_status"] == 403
    at_a = await token_at_origin(a, token["id"])
    assert (at_a["version"], at_a["attributes"]["label"], at_a["attributes"]["weight"]) == (2, "scanned", "10")
    _, reports = await a.call("GET", "/api/v1/agents/reports", "alice")
    assert [r["state"] for r in reports["items"]] == ["applied"]  # refused reports store nothing at A
    assert (await copy_on_b("scanned")) is not None

    # only agents send reports, and only about tokens on other servers
    status, problem = await c.call("POST", SENT, "rogue", json={
        "token": f"{c.server.base_url}/tokens/x", "attributes": {"label": "x"}})
    assert (status, problem["code"]) == (400, "local-token")

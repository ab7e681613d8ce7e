"""Agents: owners grant agents tokens or sets; agents report changes, applied at once or after approval."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from federation.delivery import deliver_due
from federation.inbox import process_due
from federation.outbox import publish_due_events
from models.actors import Actor
from models.agents import AgentGrant, AgentReport
from models.events import Event
from models.federation import Delivery, InboxActivity
from models.tokens import Token

from .conftest import Api, assert_problem
from .fedhelpers import FakeActor, Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .sethelpers import add, make_set, make_token, make_type

GRANTS = "/api/v1/agents/grants"
REPORTS = "/api/v1/agents/reports"


async def actor_id(api: Api, token: str) -> str:
    reply = await api.get("/api/v1/me", token=token)
    assert reply.status == 200, reply
    return reply.body["actor_id"]


async def setup(api: Api) -> tuple[str, str, str, str]:
    """alice owns a Gem token labelled "raw"; robot is an agent account. (alice, robot, type, token)."""
    alice = await api.user("alice")
    robot = await api.user("robot", roles=["agent"])
    type_id = await make_type(api, alice)
    token_id = await make_token(api, alice, type_id, label="raw", colour="red")
    return alice, robot, type_id, token_id


async def grant(api: Api, owner: str, **body: Any) -> dict[str, Any]:
    reply = await api.post(GRANTS, {"agent": "robot", **body}, token=owner)
    assert reply.status == 201, reply
    return reply.body


async def token_state(api: Api, token_id: str) -> tuple[int, dict[str, Any]]:
    reply = await api.get(f"/api/v1/tokens/{token_id}")
    return reply.body["version"], reply.body["attributes"]


async def test_report__inside_grant_is_applied_with_the_agent_named_in_the_update_event(api: Api) -> None:
    alice, robot, _, token_id = await setup(api)
    await grant(api, alice, token=token_id)
    body = {"token": token_id, "attributes": {"label": "cut"}, "note": "polished"}
    reply = await api.post(REPORTS, body, token=robot)
    assert reply.status == 201, reply
    assert reply.body["state"] == "applied" and reply.body["applied_version"] == 2
    assert reply.body["agent"]["username"] == "robot"
    version, attributes = await token_state(api, token_id)
    assert (version, attributes["label"], attributes["colour"]) == (2, "cut", "red")
    update = await Event.get(name="token.updated", object_id=token_id)
    # the normal update event, in the owner's name so it federates, naming the agent as author
    assert update.actor_id == await actor_id(api, alice)  # type: ignore[attr-defined]
    assert update.payload["agent"] == await actor_id(api, robot)
    assert update.payload["fields"] == ["label"] and update.payload["version"] == 2
    listed = await api.get(REPORTS, token=alice, params={"token": token_id})
    assert [item["note"] for item in listed.body["items"]] == ["polished"]
    mine = await api.get(REPORTS, token=robot, params={"role": "agent"})
    assert [item["state"] for item in mine.body["items"]] == ["applied"]


async def test_report__set_grant_covers_only_tokens_in_the_set(api: Api) -> None:
    alice, robot, type_id, token_id = await setup(api)
    other_id = await make_token(api, alice, type_id, label="other")
    shelf = await make_set(api, alice)
    await add(api, alice, shelf["id"], token_id, expect=200)
    await grant(api, alice, set=shelf["id"])
    reply = await api.post(REPORTS, {"token": token_id, "attributes": {"count": 3}}, token=robot)
    assert reply.status == 201, reply
    refused = await api.post(REPORTS, {"token": other_id, "attributes": {"count": 3}}, token=robot)
    assert_problem(refused, 403, "agent-not-authorized")
    assert (await token_state(api, other_id))[0] == 1
    assert await AgentReport.filter(token_id=other_id).count() == 0


async def test_report__outside_the_granted_attributes_is_refused_and_nothing_stored(api: Api) -> None:
    alice, robot, _, token_id = await setup(api)
    await grant(api, alice, token=token_id, attributes=["label"])
    events = await Event.all().count()
    reply = await api.post(REPORTS, {"token": token_id, "attributes": {"label": "x", "colour": "blue"}}, token=robot)
    assert_problem(reply, 403, "outside-grant")
    assert (await token_state(api, token_id))[0] == 1
    assert (await token_state(api, token_id))[1]["colour"] == "red"
    assert await AgentReport.all().count() == 0 and await Event.all().count() == events


async def test_report__is_validated_like_a_token_update(api: Api) -> None:
    alice, robot, _, token_id = await setup(api)
    await grant(api, alice, token=token_id)
    bad_value = await api.post(REPORTS, {"token": token_id, "attributes": {"colour": "green"}}, token=robot)
    assert_problem(bad_value, 400, "invalid-attributes")
    unknown = await api.post(REPORTS, {"token": token_id, "attributes": {"nope": 1}}, token=robot)
    assert_problem(unknown, 400, "invalid-attributes")
    stale = await api.post(REPORTS, {"token": token_id, "attributes": {"label": "a"}, "version": 7}, token=robot)
    assert_problem(stale, 409, "version-mismatch")
    missing = await api.post(REPORTS, {"token": "nope", "attributes": {"label": "a"}}, token=robot)
    assert_problem(missing, 404, "token-not-found")
    assert await AgentReport.all().count() == 0
    assert (await token_state(api, token_id))[0] == 1
    current = await api.post(REPORTS, {"token": token_id, "attributes": {"label": "a"}, "version": 1}, token=robot)
    assert current.status == 201, current


async def test_report__without_a_grant_or_the_agent_role_is_refused(api: Api) -> None:
    alice, robot, _, token_id = await setup(api)
    rogue = await api.user("rogue", roles=["agent"])
    plain = await api.user("plain")
    await grant(api, alice, token=token_id)
    assert_problem(await api.post(REPORTS, {"token": token_id, "attributes": {"label": "x"}}, token=rogue), 403,
                   "agent-not-authorized")
    assert_problem(await api.post(REPORTS, {"token": token_id, "attributes": {"label": "x"}}, token=plain), 403,
                   "role-required")
    assert_problem(await api.post(REPORTS, {"token": token_id, "attributes": {"label": "x"}}), 401)
    assert (await token_state(api, token_id))[0] == 1 and await AgentReport.all().count() == 0


async def test_report__needing_approval_waits_until_the_owner_approves(api: Api) -> None:
    alice, robot, _, token_id = await setup(api)
    await grant(api, alice, token=token_id, needs_approval=True)
    reply = await api.post(REPORTS, {"token": token_id, "attributes": {"label": "cut"}}, token=robot)
    assert reply.status == 201 and reply.body["state"] == "pending", reply
    assert (await token_state(api, token_id))[0] == 1
    assert (await token_state(api, token_id))[1]["label"] == "raw"
    assert await Event.filter(name="token.updated").count() == 0
    assert_problem(await api.post(f"{REPORTS}/{reply.body['id']}/approve", token=robot), 404, "report-not-found")
    approved = await api.post(f"{REPORTS}/{reply.body['id']}/approve", token=alice)
    assert approved.status == 200 and approved.body["state"] == "applied", approved
    version, attributes = await token_state(api, token_id)
    assert (version, attributes["label"]) == (2, "cut")
    update = await Event.get(name="token.updated", object_id=token_id)
    assert update.payload["agent"] == await actor_id(api, robot)
    again = await api.post(f"{REPORTS}/{reply.body['id']}/approve", token=alice)
    assert_problem(again, 409, "report-decided")


async def test_report__rejected_leaves_the_token_and_approval_after_a_change_conflicts(api: Api) -> None:
    alice, robot, _, token_id = await setup(api)
    await grant(api, alice, token=token_id, needs_approval=True)
    first = await api.post(REPORTS, {"token": token_id, "attributes": {"label": "one"}}, token=robot)
    second = await api.post(REPORTS, {"token": token_id, "attributes": {"label": "two"}}, token=robot)
    rejected = await api.post(f"{REPORTS}/{first.body['id']}/reject", token=alice)
    assert rejected.status == 200 and rejected.body["state"] == "rejected", rejected
    assert (await token_state(api, token_id))[1]["label"] == "raw"
    changed = await api.patch(f"/api/v1/tokens/{token_id}", {"attributes": {"count": 9}}, token=alice)
    assert changed.status == 200, changed
    late = await api.post(f"{REPORTS}/{second.body['id']}/approve", token=alice)
    assert_problem(late, 409, "version-mismatch")
    version, attributes = await token_state(api, token_id)
    assert (version, attributes["label"]) == (2, "raw")
    pending = await api.get(REPORTS, token=alice, params={"state": "pending"})
    assert [item["id"] for item in pending.body["items"]] == [second.body["id"]]


async def test_grants__only_the_owner_grants_lists_and_withdraws(api: Api) -> None:
    alice, robot, type_id, token_id = await setup(api)
    bob = await api.user("bob")
    shelf = await make_set(api, alice)
    assert_problem(await api.post(GRANTS, {"agent": "robot", "token": token_id}, token=bob), 404, "token-not-found")
    assert_problem(await api.post(GRANTS, {"agent": "robot", "set": shelf["id"]}, token=bob), 404, "set-not-found")
    assert_problem(await api.post(GRANTS, {"agent": "bob", "token": token_id}, token=alice), 400, "not-an-agent")
    assert_problem(await api.post(GRANTS, {"agent": "ghost", "token": token_id}, token=alice), 404, "agent-not-found")
    assert_problem(await api.post(GRANTS, {"agent": "robot"}, token=alice), 400, "grant-target-required")
    assert await AgentGrant.all().count() == 0
    given = await grant(api, alice, token=token_id, attributes=["label"])
    assert given["agent"]["username"] == "robot" and given["attributes"] == ["label"]
    assert [g["id"] for g in (await api.get(GRANTS, token=alice)).body["items"]] == [given["id"]]
    as_agent = await api.get(GRANTS, token=robot, params={"role": "agent"})
    assert [g["id"] for g in as_agent.body["items"]] == [given["id"]]
    assert (await api.get(GRANTS, token=bob)).body["items"] == []
    assert_problem(await api.delete(f"{GRANTS}/{given['id']}", token=bob), 404, "grant-not-found")
    assert_problem(await api.delete(f"{GRANTS}/{given['id']}", token=robot), 404, "grant-not-found")
    assert (await api.delete(f"{GRANTS}/{given['id']}", token=alice)).status == 204
    reply = await api.post(REPORTS, {"token": token_id, "attributes": {"label": "x"}}, token=robot)
    assert_problem(reply, 403, "agent-not-authorized")


async def test_grants__lapse_when_the_token_changes_owner(api: Api) -> None:
    alice, robot, _, token_id = await setup(api)
    await grant(api, alice, token=token_id)
    bob = await api.user("bob")
    await Token.filter(id=token_id).update(owner_id=await actor_id(api, bob))
    reply = await api.post(REPORTS, {"token": token_id, "attributes": {"label": "x"}}, token=robot)
    assert_problem(reply, 403, "agent-not-authorized")


async def test_grants__a_known_remote_actor_can_be_granted_by_its_url(api: Api) -> None:
    alice, _, _, token_id = await setup(api)
    url = "https://agents.example/users/scanner"
    await Actor.create(username="scanner", domain="agents.example", uri=url)
    reply = await api.post(GRANTS, {"agent": url, "token": token_id}, token=alice)
    assert reply.status == 201, reply
    assert reply.body["agent"]["handle"] == "scanner@agents.example" and reply.body["agent"]["local"] is False
    unknown = await api.post(GRANTS, {"agent": "https://agents.example/users/nobody", "token": token_id}, token=alice)
    assert_problem(unknown, 404, "agent-not-found")


BASE = "http://127.0.0.1:8080"  # the test settings' base_url


def agent_update(actor_uri: str, token_id: str, attributes: dict[str, Any], n: int = 1) -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor_uri}/updates/{n}", "type": "Update",
            "actor": actor_uri, "object": {"id": f"{BASE}/tokens/{token_id}", "type": "Token",
                                           "attributes": attributes, "content": "scanned at the door"}}


async def known_remote(api: Api, actor: FakeActor) -> None:
    """The remote actor follows alice, so this server has fetched and cached it."""
    follow = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor.uri}/follows/1", "type": "Follow",
              "actor": actor.uri, "object": f"{BASE}/users/alice"}
    assert (await signed_post(api, "/users/alice/inbox", follow, actor)).status == 202
    assert await process_due(site_of(api)) == 1


async def test_inbox__update_signed_by_a_granted_remote_agent_is_its_report(fed_api: Api, remote: Remote) -> None:
    alice = await fed_api.user("alice")
    type_id = await make_type(fed_api, alice)
    token_id = await make_token(fed_api, alice, type_id, label="raw")
    scanner = remote.actor("scanner")
    await known_remote(fed_api, scanner)
    body = {"agent": scanner.uri, "token": token_id, "attributes": ["label"]}
    granted = await fed_api.post(GRANTS, body, token=alice)
    assert granted.status == 201, granted
    reply = await signed_post(fed_api, "/inbox", agent_update(scanner.uri, token_id, {"label": "scanned"}), scanner)
    assert reply.status == 202, reply
    assert await process_due(site_of(fed_api)) == 1
    version, attributes = await token_state(fed_api, token_id)
    assert (version, attributes["label"]) == (2, "scanned")
    update = await Event.get(name="token.updated", object_id=token_id)
    assert update.payload["agent"] == (await Actor.get(uri=scanner.uri)).id
    reports = await fed_api.get(REPORTS, token=alice)
    assert [(r["state"], r["note"]) for r in reports.body["items"]] == [("applied", "scanned at the door")]
    # outside the grant: processed, refused, nothing changed
    outside = agent_update(scanner.uri, token_id, {"colour": "blue"}, n=2)
    assert (await signed_post(fed_api, "/inbox", outside, scanner)).status == 202
    assert await process_due(site_of(fed_api)) == 1
    assert (await token_state(fed_api, token_id))[0] == 2
    assert (await InboxActivity.get(activity_uri=f"{scanner.uri}/updates/2")).outcome.startswith("ignored")


async def test_inbox__update_of_our_token_without_a_grant_is_refused(fed_api: Api, remote: Remote) -> None:
    alice = await fed_api.user("alice")
    type_id = await make_type(fed_api, alice)
    token_id = await make_token(fed_api, alice, type_id, label="raw")
    mallory = remote.actor("mallory")
    await known_remote(fed_api, mallory)
    reply = await signed_post(fed_api, "/inbox", agent_update(mallory.uri, token_id, {"label": "forged"}), mallory)
    assert_problem(reply, 403, "origin-mismatch")
    assert await InboxActivity.filter(type="Update").count() == 0
    assert (await token_state(fed_api, token_id))[0] == 1


async def answers_to(agent: FakeActor, activity_id: str) -> list[dict[str, Any]]:
    """Activities queued for the agent's inbox that answer its activity."""
    queued = [orjson.loads(d.body) for d in await Delivery.filter(inbox=f"{agent.uri}/inbox")]
    return [activity for activity in queued if activity["object"] == activity_id]


async def test_inbox__a_held_report_is_answered_when_the_owner_decides(fed_api: Api, remote: Remote) -> None:
    alice = await fed_api.user("alice")
    type_id = await make_type(fed_api, alice)
    token_id = await make_token(fed_api, alice, type_id, label="raw")
    scanner = remote.actor("scanner")
    await known_remote(fed_api, scanner)
    body = {"agent": scanner.uri, "token": token_id, "needs_approval": True}
    assert (await fed_api.post(GRANTS, body, token=alice)).status == 201
    update = agent_update(scanner.uri, token_id, {"label": "scanned"})
    assert (await signed_post(fed_api, "/inbox", update, scanner)).status == 202
    assert await process_due(site_of(fed_api)) == 1
    await publish_due_events(site_of(fed_api))
    assert await answers_to(scanner, update["id"]) == []  # held: no answer yet
    reports = await fed_api.get(REPORTS, token=alice)
    assert [r["state"] for r in reports.body["items"]] == ["pending"]
    approved = await fed_api.post(f"{REPORTS}/{reports.body['items'][0]['id']}/approve", {}, token=alice)
    assert approved.status == 200, approved
    await publish_due_events(site_of(fed_api))
    answers = await answers_to(scanner, update["id"])
    assert [(a["type"], a["actor"]) for a in answers] == [("Accept", f"{BASE}/users/alice")]


async def test_grants__a_remote_agent_is_looked_up_by_handle(fed_api: Api, remote: Remote) -> None:
    alice = await fed_api.user("alice")
    type_id = await make_type(fed_api, alice)
    token_id = await make_token(fed_api, alice, type_id, label="raw")
    scanner = remote.actor("scanner")
    reply = await fed_api.post(GRANTS, {"agent": scanner.handle, "token": token_id}, token=alice)
    assert reply.status == 201, reply
    assert reply.body["agent"]["handle"] == scanner.handle and reply.body["agent"]["local"] is False
    missing = await fed_api.post(GRANTS, {"agent": "nobody@127.0.0.1:9", "token": token_id}, token=alice)  # no server
    assert_problem(missing, 404, "agent-not-found")


async def test_send_report__needs_the_agent_role_a_remote_token_and_stores_nothing_on_refusal(
    fed_api: Api, remote: Remote
) -> None:
    robot = await fed_api.user("robot", roles=["agent"])
    plain = await fed_api.user("plain")
    person = remote.actor("someone").uri  # a Person, not a Token
    sent = "/api/v1/agents/sent-reports"
    change = {"attributes": {"label": "x"}}
    refused = await fed_api.post(sent, {"token": f"http://127.0.0.1:{remote.port}/tokens/1", **change}, token=plain)
    assert refused.status == 403, refused
    assert_problem(await fed_api.post(sent, {"token": "ftp://example.org/tokens/1", **change}, token=robot), 400,
                   "invalid-token-url")
    assert_problem(await fed_api.post(sent, {"token": person, **change}, token=robot), 422, "not-a-token")
    assert_problem(await fed_api.post(sent, {"token": "http://127.0.0.1:9/tokens/1", **change}, token=robot), 422,
                   "token-unavailable")
    assert_problem(await fed_api.post(sent, {"token": person, "attributes": {}}, token=robot), 400, "validation-failed")
    listed = await fed_api.get(sent, token=robot)
    assert listed.status == 200 and listed.body["items"] == []
    assert (await fed_api.get(sent, token=plain)).status == 403
    assert await Delivery.all().count() == 0


@pytest.mark.parametrize(
    ("status", "state", "last_error"),
    [(403, "refused", "the inbox answered 403"), (503, "undeliverable", "gave up after 1 tries: the inbox answered 503")],
)
async def test_send_report__is_settled_when_its_delivery_gives_up(
    fed_api: Api, remote: Remote, status: int, state: str, last_error: str
) -> None:
    """A permanent refusal, or a failure on the last try, ends the report with its delivery."""
    robot = await fed_api.user("robot", roles=["agent"])
    bob = remote.actor("bob")
    url = f"{remote.base}/objects/tokens/1"
    remote.objects["tokens/1"] = {"id": url, "type": "Token", "attributedTo": bob.uri, "name": "Ring"}
    remote.inbox_status = status
    made = await fed_api.post("/api/v1/agents/sent-reports", {"token": url, "attributes": {"label": "x"}}, token=robot)
    assert made.status == 202 and made.body["state"] == "sent", made
    site = site_of(fed_api)
    one_try = dataclasses.replace(site, federation=site.federation.model_copy(update={"delivery_max_attempts": 1}))
    assert await deliver_due(one_try) == 1
    assert [post["json"]["type"] for post in remote.posts()] == ["Update"]
    listed = await fed_api.get("/api/v1/agents/sent-reports", token=robot)
    assert listed.status == 200, listed
    [report] = listed.body["items"]
    assert (report["state"], report["detail"]) == (state, f"the inbox answered {status}")
    assert report["delivery"] == {"state": "failed", "attempts": 1, "last_status": status}
    assert (await Delivery.get()).last_error == last_error


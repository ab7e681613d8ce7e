"""Outbox and delivery: domain events become activities in the actor's outbox, delivered
signed to followers once per shared inbox, retried with backoff, with permanent refusals,
Retry-After and unavailable domains handled; the follows API sends Follow and Undo."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from federation.delivery import deliver_due, retry_delay
from federation.inbox import process_due
from federation.outbox import publish_due_events
from models.federation import Delivery, DomainHealth, OutboxActivity

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .test_federation_inbox import ALICE, follow, verify_our_signature

COIN = {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2}
AP = {"Accept": "application/activity+json"}


async def followed_alice(api: Api, remote: Remote, *names: str) -> str:
    """Alice, followed by remote actors `names`; their Accepts already delivered."""
    token = await api.user("alice")
    for n, name in enumerate(names):
        actor = remote.actor(name)
        assert (await signed_post(api, "/users/alice/inbox", follow(actor.uri, n), actor)).status == 202
    await process_due(site_of(api))
    await deliver_due(site_of(api))
    remote.requests.clear()
    return token


async def test_outbox__a_new_type_reaches_followers_once_per_shared_inbox(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob", "carol")
    created = await fed_api.post("/api/v1/types", COIN, token=token)
    site = site_of(fed_api)
    assert await publish_due_events(site) == 1
    assert await publish_due_events(site) == 0  # an event becomes one activity only
    assert await deliver_due(site) == 1
    [post] = remote.posts()
    assert post["path"] == "/inbox"
    activity = post["json"]
    assert (activity["type"], activity["actor"], activity["object"]["type"]) == ("Create", ALICE, "TokenType")
    assert activity["object"]["name"] == "Coin" and activity["object"]["id"].endswith(created.body["id"])
    assert post["headers"]["Digest"].startswith("SHA-256=")
    assert await verify_our_signature(post, "alice")

    outbox = orjson.loads((await fed_api.get("/users/alice/outbox?page=1", headers=AP)).text)
    assert [item["id"] for item in outbox["orderedItems"]] == [activity["id"]]
    path = activity["id"].removeprefix("http://127.0.0.1:8080")
    assert orjson.loads((await fed_api.get(path, headers=AP)).text)["object"]["name"] == "Coin"


async def test_outbox__updates_deletes_and_ledger_entries_are_published(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob")
    created = await fed_api.post("/api/v1/types", COIN, token=token)
    type_id = created.body["id"]
    await fed_api.post("/api/v1/ledger/create", {"type": type_id, "amount": "5.00"}, token=token, expect=201)
    await fed_api.patch(f"/api/v1/types/{type_id}", {"description": "shiny"}, token=token, expect=200)
    site = site_of(fed_api)
    await publish_due_events(site)
    await deliver_due(site)
    kinds = [(p["json"]["type"], p["json"]["object"]["type"]) for p in remote.posts()]
    assert kinds == [("Create", "TokenType"), ("Create", "LedgerEntry"), ("Update", "TokenType")]
    entry = remote.posts()[1]["json"]["object"]
    assert entry["amount"] == "5.00" and "CN" in entry["name"] and entry["content"]


async def test_delivery__activities_to_one_inbox_arrive_in_the_order_they_were_made(fed_api: Api, remote: Remote) -> None:
    """Signatures are made side by side in threads; the posts to one inbox still go in order."""
    token = await followed_alice(fed_api, remote, "bob")
    created = await fed_api.post("/api/v1/types", COIN, token=token)
    for n in range(12):
        await fed_api.patch(
            f"/api/v1/types/{created.body['id']}", {"description": f"step {n}"}, token=token, expect=200
        )
    site = site_of(fed_api)
    await publish_due_events(site)
    assert await deliver_due(site) == 13
    received = [p["json"] for p in remote.posts()]
    assert [a["type"] for a in received] == ["Create"] + ["Update"] * 12
    made = [row["document"]["id"] for row in await OutboxActivity.filter(type__in=["Create", "Update"]).order_by("id").values("document")]
    assert [a["id"] for a in received] == made


async def _create_and_updates(api: Api, token: str, updates: int) -> list[str]:
    """A new type and `updates` changes of it, published; the activity ids in the order made."""
    created = await api.post("/api/v1/types", COIN, token=token, expect=201)
    for n in range(updates):
        await api.patch(f"/api/v1/types/{created.body['id']}", {"description": f"step {n}"}, token=token, expect=200)
    await publish_due_events(site_of(api))
    return [row["document"]["id"] for row in
            await OutboxActivity.filter(type__in=["Create", "Update"]).order_by("id").values("document")]


async def test_delivery__later_activities_wait_behind_one_that_was_refused(fed_api: Api, remote: Remote) -> None:
    """A 429 on the first of four: the other three are not posted ahead of it, and all four
    arrive in order once its Retry-After has passed (bench/internet.py found them reordered)."""
    token = await followed_alice(fed_api, remote, "bob")
    made = await _create_and_updates(fed_api, token, 3)
    site, now = site_of(fed_api), datetime.now(UTC)
    remote.inbox_status, remote.inbox_headers = 429, {"Retry-After": "600"}
    assert await deliver_due(site, now=now) == 4
    assert len(remote.posts()) == 1  # the Create only; the Updates wait behind it
    remote.inbox_status, remote.inbox_headers = 202, {}
    assert await deliver_due(site, now=now + timedelta(seconds=300)) == 0  # nothing due before Retry-After
    assert await deliver_due(site, now=now + timedelta(seconds=602)) == 4
    assert [post["json"]["id"] for post in remote.posts()[1:]] == made
    assert await Delivery.filter(state="delivered", activity_uri__in=made).count() == 4


async def test_delivery__a_new_activity_waits_for_an_earlier_retry_to_the_same_inbox(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob")
    [create] = await _create_and_updates(fed_api, token, 0)
    site, now = site_of(fed_api), datetime.now(UTC)
    remote.inbox_status = 503
    assert await deliver_due(site, now=now) == 1  # the Create fails; its retry is due in 16 s
    remote.inbox_status = 202
    made = await _create_and_updates(fed_api, token, 0)  # a second type: its Create is due now
    assert await deliver_due(site, now=now + timedelta(seconds=5)) == 1
    assert len(remote.posts()) == 1  # held, not posted before the first one's retry
    assert await deliver_due(site, now=now + timedelta(seconds=retry_delay(1) + 2)) == 2
    assert [post["json"]["id"] for post in remote.posts()] == [create, *made]


async def test_outbox__undo_follow_stops_delivery(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob")
    bob = remote.actor("bob")
    undo = {"id": f"{bob.uri}/undo", "type": "Undo", "actor": bob.uri, "object": follow(bob.uri, 0)}
    assert (await signed_post(fed_api, "/users/alice/inbox", undo, bob)).status == 202
    await process_due(site_of(fed_api))
    await fed_api.post("/api/v1/types", COIN, token=token, expect=201)
    await publish_due_events(site_of(fed_api))
    await deliver_due(site_of(fed_api))
    assert remote.posts() == []


async def _one_delivery(api: Api, remote: Remote, status: int, headers: dict[str, str] | None = None) -> tuple[Any, datetime]:
    """A Create of alice's new type queued for bob, whose inbox will answer `status`."""
    token = await followed_alice(api, remote, "bob")
    remote.inbox_status, remote.inbox_headers = status, headers or {}
    await api.post("/api/v1/types", COIN, token=token, expect=201)
    await publish_due_events(site_of(api))
    return await Delivery.get(state="pending"), datetime.now(UTC)


async def test_delivery__server_errors_are_retried_with_backoff(fed_api: Api, remote: Remote) -> None:
    site = site_of(fed_api)
    delivery, now = await _one_delivery(fed_api, remote, 503)
    assert await deliver_due(site, now=now) == 1
    await delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 503)
    assert delivery.next_at >= now + timedelta(seconds=retry_delay(1))
    assert await deliver_due(site, now=now + timedelta(seconds=5)) == 0  # not due yet
    remote.inbox_status = 202
    assert await deliver_due(site, now=now + timedelta(seconds=retry_delay(1) + 1)) == 1
    await delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    assert len(remote.posts()) == 2
    assert remote.posts()[0]["json"]["id"] == remote.posts()[1]["json"]["id"]


@pytest.mark.parametrize(("status", "state"), [(400, "failed"), (410, "failed"), (401, "pending"), (408, "pending")])
async def test_delivery__only_permanent_refusals_are_not_retried(
    fed_api: Api, remote: Remote, status: int, state: str
) -> None:
    delivery, now = await _one_delivery(fed_api, remote, status)
    await deliver_due(site_of(fed_api), now=now)
    await delivery.refresh_from_db()
    assert (delivery.state, delivery.last_status) == (state, status)


async def test_delivery__429_waits_as_long_as_retry_after_asks(fed_api: Api, remote: Remote) -> None:
    delivery, now = await _one_delivery(fed_api, remote, 429, {"Retry-After": "7200"})
    await deliver_due(site_of(fed_api), now=now)
    await delivery.refresh_from_db()
    assert delivery.state == "pending"
    assert delivery.next_at >= now + timedelta(seconds=7200)


async def test_delivery__gives_up_after_the_last_attempt(fed_api: Api, remote: Remote) -> None:
    delivery, now = await _one_delivery(fed_api, remote, 500)
    site = site_of(fed_api)
    few = dataclasses.replace(site, federation=site.federation.model_copy(update={"delivery_max_attempts": 2}))
    await deliver_due(few, now=now)
    await deliver_due(few, now=now + timedelta(days=1))
    await delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 2)


async def test_delivery__a_domain_failing_on_distinct_days_is_skipped_until_it_answers(
    fed_api: Api, remote: Remote
) -> None:
    site = site_of(fed_api)
    two_days = dataclasses.replace(site, federation=site.federation.model_copy(update={"unavailable_after_days": 2}))
    delivery, day = await _one_delivery(fed_api, remote, 500)
    await deliver_due(two_days, now=day)
    await deliver_due(two_days, now=day + timedelta(days=1))
    health = await DomainHealth.get(domain=f"127.0.0.1:{remote.port}")
    assert health.unavailable and len(health.failure_days) == 2
    tries = len(remote.posts())
    await deliver_due(two_days, now=day + timedelta(days=3))
    assert len(remote.posts()) == tries  # skipped, not sent
    await delivery.refresh_from_db()
    assert delivery.state == "skipped"
    bob = remote.actor("bob")  # the domain speaks to us again: it is available
    await signed_post(fed_api, "/inbox", follow(bob.uri, 7), bob, expect=202)
    assert not (await DomainHealth.get(domain=f"127.0.0.1:{remote.port}")).unavailable


async def test_follows__follow_accept_and_unfollow_through_the_api(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    site = site_of(fed_api)
    bob = remote.actor("bob")
    made = await fed_api.post("/api/v1/follows", {"target": bob.handle}, token=token)
    assert made.status == 201, made
    assert (made.body["target_uri"], made.body["state"]) == (bob.uri, "pending")
    await deliver_due(site)
    [sent] = remote.posts()
    assert (sent["path"], sent["json"]["type"], sent["json"]["object"]) == ("/users/bob/inbox", "Follow", bob.uri)
    accept = {"id": f"{bob.uri}/accept/1", "type": "Accept", "actor": bob.uri, "object": sent["json"]}
    assert (await signed_post(fed_api, "/users/alice/inbox", accept, bob)).status == 202
    await process_due(site)
    listed = await fed_api.get("/api/v1/follows", token=token)
    assert [(f["target"], f["state"]) for f in listed.body["items"]] == [(bob.handle, "accepted")]
    following = orjson.loads((await fed_api.get("/users/alice/following?page=1", headers=AP)).text)
    assert following["orderedItems"] == [bob.uri]

    assert (await fed_api.delete(f"/api/v1/follows/{made.body['id']}", token=token)).status == 204
    await deliver_due(site)
    undo = remote.posts()[-1]["json"]
    assert (undo["type"], undo["object"]["id"]) == ("Undo", sent["json"]["id"])
    assert (await fed_api.get("/api/v1/follows", token=token)).body["items"] == []


async def test_follows__bad_targets_are_refused(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    assert_problem(await fed_api.post("/api/v1/follows", {"target": "nobody"}, token=token), 400, "invalid-target")
    assert_problem(await fed_api.post("/api/v1/follows", {"target": ALICE}, token=token), 422, "self-follow")
    unreachable = {"target": "bob@127.0.0.1:9"}
    assert_problem(await fed_api.post("/api/v1/follows", unreachable, token=token), 422, "remote-actor-unavailable")
    assert_problem(await fed_api.post("/api/v1/follows", {"target": "x@y.example"}), 401)
    assert_problem(await fed_api.delete("/api/v1/follows/nope", token=token), 404, "follow-not-found")


async def test_blocks__a_blocked_domain_is_refused_and_not_delivered_to(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob")
    admin = await fed_api.user("root", roles=["admin"])
    domain = f"127.0.0.1:{remote.port}"
    assert_problem(await fed_api.put(f"/api/v1/admin/federation/blocks/{domain}", token=token), 403, "role-required")
    blocked = await fed_api.put(f"/api/v1/admin/federation/blocks/{domain}", token=admin)
    assert blocked.body["blocked"] is True
    assert [b["domain"] for b in (await fed_api.get("/api/v1/admin/federation/blocks", token=admin)).body["items"]] == [domain]
    assert (await fed_api.get("/api/v1/followers", token=token)).body["items"] == []
    bob = remote.actor("bob")
    assert_problem(await signed_post(fed_api, "/inbox", follow(bob.uri, 5), bob), 403, "domain-blocked")
    fetches = len(remote.fetches())
    assert_problem(await fed_api.post("/api/v1/follows", {"target": bob.handle}, token=token), 422)
    assert len(remote.fetches()) == fetches  # not even a WebFinger lookup
    await fed_api.post("/api/v1/types", COIN, token=token, expect=201)
    await publish_due_events(site_of(fed_api))
    await deliver_due(site_of(fed_api))
    assert remote.posts() == []
    assert (await fed_api.delete(f"/api/v1/admin/federation/blocks/{domain}", token=admin)).status == 204
    assert (await signed_post(fed_api, "/inbox", follow(bob.uri, 6), bob)).status == 202


async def test_subscriptions__a_followed_type_notifies_its_subscriber_until_undo(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    site = site_of(fed_api)
    type_id = (await fed_api.post("/api/v1/types", COIN, token=token)).body["id"]
    other_id = (await fed_api.post("/api/v1/types", {**COIN, "name": "Other", "symbol": "OT"}, token=token)).body["id"]
    await publish_due_events(site)
    carol = remote.actor("carol")
    subscribe = follow(carol.uri, 1, target=f"http://127.0.0.1:8080/types/{type_id}")
    assert (await signed_post(fed_api, "/inbox", subscribe, carol)).status == 202
    await process_due(site)
    await deliver_due(site)
    [accept] = remote.posts()
    assert (accept["json"]["type"], accept["json"]["actor"], accept["json"]["object"]["id"]) == (
        "Accept", ALICE, subscribe["id"])
    remote.requests.clear()

    await fed_api.patch(f"/api/v1/types/{type_id}", {"description": "shiny"}, token=token, expect=200)
    await fed_api.patch(f"/api/v1/types/{other_id}", {"description": "dull"}, token=token, expect=200)
    await publish_due_events(site)
    await deliver_due(site)
    [update] = remote.posts()  # only the followed type, and carol does not follow alice herself
    assert (update["json"]["type"], update["json"]["object"]["id"]) == ("Update", f"http://127.0.0.1:8080/types/{type_id}")

    undo = {"id": f"{carol.uri}/undo/1", "type": "Undo", "actor": carol.uri, "object": subscribe}
    assert (await signed_post(fed_api, "/inbox", undo, carol)).status == 202
    await process_due(site)
    await fed_api.patch(f"/api/v1/types/{type_id}", {"description": "shinier"}, token=token, expect=200)
    await publish_due_events(site)
    await deliver_due(site)
    assert len(remote.posts()) == 1


async def test_blocks__a_blocked_actor_is_refused_but_its_domain_is_not(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob", "carol")
    admin = await fed_api.user("root", roles=["admin"])
    bob, carol = remote.actor("bob"), remote.actor("carol")
    blocked = await fed_api.post("/api/v1/admin/federation/actor-blocks", {"actor": bob.uri}, token=admin)
    assert blocked.status == 201, blocked
    followers = await fed_api.get("/api/v1/followers", token=token)
    assert [f["follower_uri"] for f in followers.body["items"]] == [carol.uri]
    assert_problem(await signed_post(fed_api, "/inbox", follow(bob.uri, 8), bob), 403, "actor-blocked")
    assert (await signed_post(fed_api, "/inbox", follow(carol.uri, 8), carol)).status == 202
    listed = await fed_api.get("/api/v1/admin/federation/actor-blocks", token=admin)
    assert [b["actor"] for b in listed.body["items"]] == [bob.uri]
    assert (await fed_api.delete(f"/api/v1/admin/federation/actor-blocks/{blocked.body['id']}", token=admin)).status == 204
    assert (await signed_post(fed_api, "/inbox", follow(bob.uri, 9), bob)).status == 202



async def test_follows__one_remote_token_can_be_followed_alone(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    url = f"{remote.base}/objects/tokens/1"
    remote.objects["tokens/1"] = {"id": url, "type": "Token", "attributedTo": bob.uri, "name": "Ring"}
    made = await fed_api.post("/api/v1/follows", {"target": url}, token=token)
    assert made.status == 201, made
    assert (made.body["target_uri"], made.body["object"], made.body["state"]) == (bob.uri, url, "pending")
    await deliver_due(site_of(fed_api))
    [sent] = remote.posts()
    assert (sent["json"]["type"], sent["json"]["object"]) == ("Follow", url)
    accept = {"id": f"{bob.uri}/accept/9", "type": "Accept", "actor": bob.uri, "object": sent["json"]}
    assert (await signed_post(fed_api, "/users/alice/inbox", accept, bob)).status == 202
    await process_due(site_of(fed_api))
    [listed] = (await fed_api.get("/api/v1/follows", token=token)).body["items"]
    assert (listed["object"], listed["state"]) == (url, "accepted")
    following = orjson.loads((await fed_api.get("/users/alice/following?page=1", headers=AP)).text)
    assert following["orderedItems"] == []  # following one token is not following its owner
    remote.objects["notes/1"] = {"id": f"{remote.base}/objects/notes/1", "type": "Note", "attributedTo": bob.uri}
    refused = await fed_api.post("/api/v1/follows", {"target": f"{remote.base}/objects/notes/1"}, token=token)
    assert_problem(refused, 422, "not-followable")


async def test_subscriptions__a_repeated_follow_of_a_type_is_answered_once(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    site = site_of(fed_api)
    type_id = (await fed_api.post("/api/v1/types", COIN, token=token)).body["id"]
    assert type_id
    carol = remote.actor("carol")
    for n in (1, 2):
        subscribe = follow(carol.uri, n, target=f"http://127.0.0.1:8080/types/{type_id}")
        assert (await signed_post(fed_api, "/inbox", subscribe, carol)).status == 202
    assert await process_due(site) == 2
    await publish_due_events(site)
    await deliver_due(site)
    assert [r["json"]["object"]["id"] for r in remote.posts() if r["json"]["type"] == "Accept"] == [f"{carol.uri}/follows/1"]

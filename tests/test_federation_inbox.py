"""The inbox: signed activities are verified, stored once and processed later; forgeries,
foreign-origin objects, bad digests and oversized bodies are refused and store nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from federation import inbox
from federation.delivery import deliver_due
from federation.httpsig import verify_request
from federation.httpsig_cavage import sign_cavage
from federation.httpsig_core import IncomingRequest
from federation.inbox import process_due
from federation.keys import load_public_key
from models.federation import InboxActivity, RemoteObject
from server.app import create_app
from server.database import close_database, open_database

from .conftest import Api, assert_problem
from .dbutil import test_settings as make_settings
from .fedhelpers import OTHER_KEY, SHARED_KEY, Remote, fed_api, local_key_pem, remote, signed_post, site_of  # noqa: F401
from .test_federation_backfill import follow_accepted

ALICE = "http://127.0.0.1:8080/users/alice"  # our actor URL (the test settings' base_url)


def follow(actor_uri: str, n: int = 1, target: str = ALICE) -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{actor_uri}/follows/{n}",
            "type": "Follow", "actor": actor_uri, "object": target}


def token_object(remote: Remote, owner: str, n: int = 1, name: str = "Gold") -> dict[str, Any]:
    return {"id": f"{remote.base}/tokens/{n}", "type": "TokenType", "attributedTo": owner, "name": name,
            "symbol": "GLD"}


async def verify_our_signature(entry: dict[str, Any], username: str) -> bool:
    """Check a request we sent with the public key of our local user."""
    pem = await local_key_pem(username)
    incoming = IncomingRequest.build("POST", entry["path"], entry["headers"], entry["body"], "http")

    async def key(key_id: str, refresh: bool) -> Any:
        return load_public_key(pem) if key_id.endswith(f"/users/{username}#main-key") else None

    return (await verify_request(incoming, key)).ok


async def test_inbox__follow_is_accepted_and_answered_with_a_signed_accept(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    reply = await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), bob)
    assert reply.status == 202, reply
    site = site_of(fed_api)
    assert await process_due(site) == 1
    followers = await fed_api.get("/api/v1/followers", token=token)
    assert [(f["follower_uri"], f["state"]) for f in followers.body["items"]] == [(bob.uri, "accepted")]

    await deliver_due(site)
    accepts = [r for r in remote.posts() if r["json"]["type"] == "Accept"]
    assert len(accepts) == 1
    assert accepts[0]["json"]["object"]["id"] == f"{bob.uri}/follows/1"
    assert accepts[0]["path"] == "/users/bob/inbox"
    assert await verify_our_signature(accepts[0], "alice")
    collection = await fed_api.get("/users/alice/followers?page=1", headers={"Accept": "application/activity+json"})
    assert orjson.loads(collection.text)["orderedItems"] == [bob.uri]


async def test_inbox__rfc9421_signature_is_accepted(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    bob = remote.actor("bob")
    reply = await signed_post(fed_api, "/inbox", follow(bob.uri), bob, scheme="rfc9421")
    assert reply.status == 202, reply


async def test_inbox__same_activity_twice_is_stored_and_processed_once(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    for _ in range(2):
        assert (await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), bob)).status == 202
    assert await InboxActivity.all().count() == 1
    assert await process_due(site_of(fed_api)) == 1
    assert await process_due(site_of(fed_api)) == 0
    assert len((await fed_api.get("/api/v1/followers", token=token)).body["items"]) == 1


async def test_inbox__concurrent_posts_are_each_stored_once_and_told_apart(fed_api: Api, remote: Remote) -> None:
    """Concurrent POSTs share one fetch of their unknown sender and batched INSERTs: every new
    activity is stored and answered "accepted", and a copy of one sent in the same burst is
    answered "duplicate", never stored twice."""
    await fed_api.user("alice")
    bob = remote.actor("bob")
    activities = [{**follow(bob.uri, n), "type": "Like"} for n in range(40)]
    for burst in range(3):  # later bursts are written while earlier batches had several rows
        sent = activities[burst * 10: burst * 10 + 10]
        sent = sent + sent[:4]  # four of them twice in the same burst
        replies = await asyncio.gather(*(signed_post(fed_api, "/inbox", activity, bob) for activity in sent))
        assert [reply.status for reply in replies] == [202] * len(sent)
        outcomes: dict[str, list[str]] = {}
        for activity, reply in zip(sent, replies, strict=True):
            outcomes.setdefault(activity["id"], []).append(reply.text)
        assert all(sorted(texts) == ["accepted", "duplicate"][: len(texts)] for texts in outcomes.values()), outcomes
    stored = await InboxActivity.all().values_list("activity_uri", flat=True)
    assert sorted(stored) == sorted(activity["id"] for activity in activities[:30])
    # bob was unknown when the first burst came: its requests waited for one fetch of his actor
    assert [fetch["path"] for fetch in remote.fetches()] == ["/users/bob"]


async def test_inbox__a_row_being_written_when_the_server_stops_is_stored_before_the_database_closes(
    fed_api: Api, remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request cancelled while its group INSERT runs (the sender hung up, the server stops)
    leaves the insert to finish: shutdown waits for it, so it neither outlives the app nor
    writes to a closed database ("Event loop is closed" at exit)."""
    await fed_api.user("alice")
    bob = remote.actor("bob")
    assert (await signed_post(fed_api, "/inbox", {**follow(bob.uri, 1), "type": "Like"}, bob)).status == 202  # bob known
    writing = asyncio.Event()
    insert_rows = inbox._insert_rows

    async def slow_insert(rows: list[dict[str, Any]]) -> set[str]:
        writing.set()
        await asyncio.sleep(0.5)  # a slow fsync
        return await insert_rows(rows)

    monkeypatch.setattr(inbox, "_insert_rows", slow_insert)
    body = orjson.dumps({**follow(bob.uri, 2), "type": "Like"})
    url = f"http://{fed_api.client.host}:{fed_api.client.port}/inbox"
    headers = sign_cavage("POST", url, key_id=bob.key_id, private_key=SHARED_KEY.private_pem, body=body)
    request = IncomingRequest.build("POST", "/inbox", headers, body, "http")
    receiving = asyncio.create_task(inbox.receive(site_of(fed_api), None, request))
    await asyncio.wait_for(writing.wait(), timeout=30)
    receiving.cancel()  # the request goes away; its row is still being written
    await fed_api.client.close()  # the app's cleanup: workers stop, the database closes

    left = [task for task in asyncio.all_tasks() if "_flush" in getattr(task.get_coro(), "__qualname__", "")]
    assert left == []
    orm = await open_database(fed_api.settings)
    try:
        stored = sorted(await InboxActivity.all().values_list("activity_uri", flat=True))
    finally:
        await close_database(orm)
    assert stored == [f"{bob.uri}/follows/1", f"{bob.uri}/follows/2"]


async def test_inbox__bad_signature_is_401_and_nothing_is_stored(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    bob = remote.actor("bob")
    reply = await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), bob, private_pem=OTHER_KEY.private_pem)
    assert_problem(reply, 401, "bad-signature")
    unsigned = await fed_api.post("/users/alice/inbox", data=orjson.dumps(follow(bob.uri)),
                                  headers={"Content-Type": "application/activity+json"})
    assert_problem(unsigned, 401, "bad-signature")
    assert await InboxActivity.all().count() == 0


async def test_inbox__key_refetched_once_after_rotation(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    bob = remote.actor("bob")
    assert (await signed_post(fed_api, "/inbox", follow(bob.uri, 1), bob)).status == 202
    remote.keys["bob"] = OTHER_KEY.public_pem  # bob rotates his key; our cache still has the old one
    fetches = len(remote.fetches())
    reply = await signed_post(fed_api, "/inbox", follow(bob.uri, 2), bob, private_pem=OTHER_KEY.private_pem)
    assert reply.status == 202, reply
    assert len(remote.fetches()) == fetches + 1


async def test_inbox__digest_mismatch_is_401(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    bob = remote.actor("bob")
    changed = orjson.dumps(follow(bob.uri, 9))
    reply = await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), bob, tamper=changed)
    assert_problem(reply, 401, "bad-signature")
    assert "digest" in reply.body["detail"]
    assert await InboxActivity.all().count() == 0


async def test_inbox__actor_signed_with_someone_elses_key_is_403(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    bob, mallory = remote.actor("bob"), remote.actor("mallory")
    reply = await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), mallory)
    assert_problem(reply, 403, "origin-mismatch")
    assert await InboxActivity.all().count() == 0


async def test_inbox__a_key_from_another_origin_is_403(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    other = Remote()
    await other.start()
    try:
        bob, mallory = remote.actor("bob"), other.actor("mallory")
        reply = await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), mallory)
        assert_problem(reply, 403, "origin-mismatch")
    finally:
        await other.stop()


async def test_inbox__object_of_another_origin_is_403(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    bob = remote.actor("bob")
    spoof = {"id": f"{bob.uri}/create/1", "type": "Create", "actor": bob.uri,
             "object": {"id": "http://elsewhere.example/tokens/1", "type": "TokenType", "attributedTo": bob.uri}}
    assert_problem(await signed_post(fed_api, "/inbox", spoof, bob), 403, "origin-mismatch")
    stolen = {"id": f"{bob.uri}/create/2", "type": "Create", "actor": bob.uri,
              "object": token_object(remote, remote.actor("carol").uri)}
    assert_problem(await signed_post(fed_api, "/inbox", stolen, bob), 403, "origin-mismatch")
    assert await InboxActivity.all().count() == 0


async def test_inbox__delete_from_unknown_actor_is_dropped_without_fetching(fed_api: Api, remote: Remote) -> None:
    ghost = remote.actor("ghost")
    delete = {"id": f"{ghost.uri}#delete", "type": "Delete", "actor": ghost.uri, "object": ghost.uri}
    reply = await signed_post(fed_api, "/inbox", delete, ghost)
    assert reply.status == 202
    assert remote.fetches() == []
    assert await InboxActivity.all().count() == 0


async def test_inbox__oversized_and_malformed_bodies_are_refused(fed_api: Api, remote: Remote) -> None:
    bob = remote.actor("bob")
    big = follow(bob.uri) | {"summary": "x" * 5000}
    assert_problem(await signed_post(fed_api, "/inbox", big, bob), 413)
    assert_problem(await signed_post(fed_api, "/inbox", b"{not json", bob), 400, "malformed-activity")
    assert_problem(await signed_post(fed_api, "/inbox", {"type": "Follow"}, bob), 400, "malformed-activity")
    assert_problem(await signed_post(fed_api, "/users/nobody/inbox", follow(bob.uri), bob), 404)
    nul = follow(bob.uri) | {"summary": "a\u0000b"}
    assert_problem(await signed_post(fed_api, "/inbox", nul, bob), 400, "nul-character")
    long_actor = follow(bob.uri) | {"actor": bob.uri + "x" * 2100}
    assert_problem(await signed_post(fed_api, "/inbox", long_actor, bob), 400, "malformed-activity")
    assert await InboxActivity.all().count() == 0


async def test_inbox__actor_at_a_private_address_is_refused_when_not_allowed(
    aiohttp_client: Any, tmp_path: Any, database_url: str, remote: Remote
) -> None:
    settings = make_settings(tmp_path, database_url, embedded_workers=False)
    api = Api(await aiohttp_client(create_app(settings)), settings)
    bob = remote.actor("bob")
    reply = await signed_post(api, "/inbox", follow(bob.uri), bob)
    assert_problem(reply, 401, "bad-signature")
    assert remote.fetches() == []
    assert await InboxActivity.all().count() == 0


async def test_inbox__unknown_types_are_stored_and_ignored(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice", roles=["admin"])
    bob = remote.actor("bob")
    odd = {"id": f"{bob.uri}/odd/1", "type": "Dance", "actor": bob.uri, "object": {"weird": [1, 2]}}
    assert (await signed_post(fed_api, "/inbox", odd, bob)).status == 202
    await process_due(site_of(fed_api))
    listed = await fed_api.get("/api/v1/federation/inbox", token=token)
    assert [(item["type"], item["state"]) for item in listed.body["items"]] == [("Dance", "ignored")]


async def test_inbox__create_update_delete_keep_a_remote_copy(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    site = site_of(fed_api)
    await follow_accepted(fed_api, remote, token, "bob")  # the copies listed are those of whom alice follows
    created = {"id": f"{bob.uri}/a/1", "type": "Create", "actor": bob.uri, "object": token_object(remote, bob.uri)}
    assert (await signed_post(fed_api, "/inbox", created, bob)).status == 202
    await process_due(site)
    copies = await fed_api.get("/api/v1/federation/objects", token=token)
    assert [(c["type"], c["document"]["name"], c["owner"]) for c in copies.body["items"]] == [
        ("TokenType", "Gold", f"bob@127.0.0.1:{remote.port}")
    ]
    updated = {"id": f"{bob.uri}/a/2", "type": "Update", "actor": bob.uri,
               "object": token_object(remote, bob.uri, name="Gold v2")}
    assert (await signed_post(fed_api, "/inbox", updated, bob)).status == 202
    await process_due(site)
    assert (await RemoteObject.get()).document["name"] == "Gold v2"
    deleted = {"id": f"{bob.uri}/a/3", "type": "Delete", "actor": bob.uri, "object": f"{remote.base}/tokens/1"}
    assert (await signed_post(fed_api, "/inbox", deleted, bob)).status == 202
    await process_due(site)
    assert (await fed_api.get("/api/v1/federation/objects", token=token)).body["items"] == []


async def test_inbox__manual_approval_then_undo(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    site = site_of(fed_api)
    settings = await fed_api.patch("/api/v1/me/federation", {"manually_approves_followers": True}, token=token)
    assert settings.body == {"manually_approves_followers": True}
    actor = await fed_api.get("/users/alice", headers={"Accept": "application/activity+json"})
    assert orjson.loads(actor.text)["manuallyApprovesFollowers"] is True
    bob = remote.actor("bob")
    await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), bob, expect=202)
    await process_due(site)
    pending = await fed_api.get("/api/v1/followers", token=token, params={"state": "pending"})
    [request] = pending.body["items"]
    await deliver_due(site)
    assert remote.posts() == []  # nothing is answered before alice decides
    approved = await fed_api.post(f"/api/v1/followers/{request['id']}/approve", token=token)
    assert approved.body["state"] == "accepted"
    await deliver_due(site)
    assert [r["json"]["type"] for r in remote.posts()] == ["Accept"]

    undo = {"id": f"{bob.uri}/undo/1", "type": "Undo", "actor": bob.uri, "object": follow(bob.uri)}
    assert (await signed_post(fed_api, "/users/alice/inbox", undo, bob)).status == 202
    await process_due(site)
    assert (await fed_api.get("/api/v1/followers", token=token)).body["items"] == []


async def test_inbox__a_repeated_follow_is_answered_once_until_undone(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    site = site_of(fed_api)
    for n in (1, 2, 3):  # the same follower, three Follow activities
        assert (await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri, n), bob)).status == 202
    assert await process_due(site) == 3
    await deliver_due(site)
    accepts = [r["json"]["object"]["id"] for r in remote.posts() if r["json"]["type"] == "Accept"]
    assert accepts == [f"{bob.uri}/follows/1"]
    followers = await fed_api.get("/api/v1/followers", token=token)
    assert [(f["follower_uri"], f["state"]) for f in followers.body["items"]] == [(bob.uri, "accepted")]

    undo = {"id": f"{bob.uri}/undo/1", "type": "Undo", "actor": bob.uri, "object": follow(bob.uri, 3)}
    assert (await signed_post(fed_api, "/users/alice/inbox", undo, bob)).status == 202
    await process_due(site)
    assert (await fed_api.get("/api/v1/followers", token=token)).body["items"] == []
    assert (await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri, 4), bob)).status == 202
    await process_due(site)
    await deliver_due(site)
    accepts = [r["json"]["object"]["id"] for r in remote.posts() if r["json"]["type"] == "Accept"]
    assert accepts == [f"{bob.uri}/follows/1", f"{bob.uri}/follows/4"]  # after the Undo it is a new follow
    assert len((await fed_api.get("/api/v1/followers", token=token)).body["items"]) == 1

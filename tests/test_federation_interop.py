"""Peers shaped like other ActivityPub servers: GoToSocial's key ids, inboxes on another host,
and `type` given as a list (ActivityStreams 2.0 allows it). Each is a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from federation.as2 import type_of
from federation.delivery import deliver_due
from federation.fetch import FetchError
from federation.inbox import process_due
from federation.keys import ed25519_to_multibase, generate_ed25519
from federation.remote_actors import parse_actor
from federation.signed_objects import key_in_actor
from models.federation import InboxActivity, RemoteActor, RemoteObject

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .test_federation_inbox import follow, token_object


@pytest.fixture
async def gotosocial() -> AsyncIterator[Remote]:
    """A server whose key ids are URLs of their own (<actor>/main-key), each serving a stub of
    the actor: its id, type and key, no inbox."""
    server = Remote(key_style="gotosocial")
    await server.start()
    yield server
    await server.stop()


async def test_interop__a_gotosocial_key_id_leads_to_its_actor_and_is_accepted(fed_api: Api, gotosocial: Remote) -> None:
    token = await fed_api.user("alice")
    bob = gotosocial.actor("bob")
    assert bob.key_id == f"{bob.uri}/main-key"
    reply = await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), bob)
    assert reply.status == 202, reply
    assert [fetch["path"] for fetch in gotosocial.fetches()] == ["/users/bob/main-key", "/users/bob"]
    assert (await RemoteActor.get(uri=bob.uri)).key_id == bob.key_id
    assert await process_due(site_of(fed_api)) == 1
    followers = await fed_api.get("/api/v1/followers", token=token)
    assert [(f["follower_uri"], f["state"]) for f in followers.body["items"]] == [(bob.uri, "accepted")]
    await deliver_due(site_of(fed_api))
    assert [post["json"]["type"] for post in gotosocial.posts()] == ["Accept"]

    like = {**follow(bob.uri, 2), "type": "Like"}
    assert (await signed_post(fed_api, "/inbox", like, bob)).status == 202
    assert len(gotosocial.fetches()) == 2  # the key id now finds the cached actor


async def test_interop__a_key_the_actor_does_not_publish_is_refused(fed_api: Api, gotosocial: Remote) -> None:
    """The stub at the key id names bob, but bob's own document publishes another key id."""
    await fed_api.user("alice")
    bob = gotosocial.actor("bob")
    gotosocial.extra["bob"] = {"publicKey": {"id": f"{bob.uri}#other-key", "owner": bob.uri,
                                             "publicKeyPem": gotosocial.public_pem("bob")}}
    assert_problem(await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), bob), 401, "bad-signature")
    assert await InboxActivity.all().count() == 0


async def test_interop__a_key_id_naming_an_actor_on_another_host_is_refused(fed_api: Api, remote: Remote) -> None:
    await fed_api.user("alice")
    bob = remote.actor("bob")
    elsewhere = {"id": "http://127.0.0.2:9/users/eve", "type": "Person",
                 "publicKey": {"id": f"{remote.base}/objects/key", "owner": "http://127.0.0.2:9/users/eve"}}
    remote.objects["key"] = elsewhere
    reply = await signed_post(fed_api, "/inbox", follow(bob.uri), bob, key_id=f"{remote.base}/objects/key")
    assert_problem(reply, 401, "bad-signature")
    assert await InboxActivity.all().count() == 0


async def test_interop__an_actor_whose_inbox_is_on_another_host_is_accepted(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    mail = Remote()  # the host that receives bob's activities
    await mail.start()
    try:
        remote.inbox_base = mail.base
        bob = remote.actor("bob")
        reply = await signed_post(fed_api, "/users/alice/inbox", follow(bob.uri), bob)
        assert reply.status == 202, reply
        assert await process_due(site_of(fed_api)) == 1
        followers = await fed_api.get("/api/v1/followers", token=token)
        assert [(f["follower_uri"], f["state"]) for f in followers.body["items"]] == [(bob.uri, "accepted")]
        await deliver_due(site_of(fed_api))
        assert [(post["path"], post["json"]["type"]) for post in mail.posts()] == [("/users/bob/inbox", "Accept")]
        assert remote.posts() == []
    finally:
        await mail.stop()


def test_interop__an_actor_document_from_another_host_says_so() -> None:
    document = {"id": "https://b.example/users/bob", "type": "Person", "inbox": "https://b.example/users/bob/inbox"}
    with pytest.raises(FetchError) as refused:
        parse_actor(document, "https://a.example/users/bob")
    assert refused.value.detail == "the actor https://b.example/users/bob is not on a.example, where its document was fetched"
    moved = {**document, "id": "https://a.example/users/bob"}  # id on the host it came from, inbox elsewhere: fine
    assert parse_actor(moved, "https://a.example/users/bob").inbox == "https://b.example/users/bob/inbox"


def test_type_of__a_list_gives_the_first_known_type() -> None:
    assert type_of({"type": "Follow"}) == "Follow"
    assert type_of({"type": ["Person", "http://schema.org/Person"]}) == "Person"
    assert type_of({"type": ["http://schema.org/Person", "Service"]}) == "Service"
    assert type_of({"type": ["https://example.org/ns#Dance"]}) == "https://example.org/ns#Dance"
    assert [type_of(value) for value in ({"type": []}, {"type": [1]}, {}, "Follow", {"type": 3})] == [None] * 5


async def test_interop__types_given_as_lists_in_actors_activities_and_objects(fed_api: Api, remote: Remote) -> None:
    token = await fed_api.user("alice")
    bob = remote.actor("bob")
    remote.extra["bob"] = {"type": ["Service", "http://schema.org/Organization"]}
    listed = {**follow(bob.uri), "type": ["Follow", "http://schema.org/FollowAction"]}
    assert (await signed_post(fed_api, "/users/alice/inbox", listed, bob)).status == 202
    created = {"id": f"{bob.uri}/a/1", "type": ["Create"], "actor": bob.uri,
               "object": {**token_object(remote, bob.uri), "type": ["http://schema.org/Thing", "TokenType"]}}
    assert (await signed_post(fed_api, "/inbox", created, bob)).status == 202
    update = {"id": f"{bob.uri}#update-1", "type": ["Update"], "actor": bob.uri,
              "object": bob.document() | {"name": "Robert"}}
    assert (await signed_post(fed_api, "/inbox", update, bob)).status == 202
    assert await process_due(site_of(fed_api)) == 3

    rows = {row.type: (row.state, row.outcome) for row in await InboxActivity.all()}
    assert rows == {"Follow": ("done", "accepted"), "Create": ("done", "stored"), "Update": ("done", "actor updated")}
    followers = await fed_api.get("/api/v1/followers", token=token)
    assert [(f["follower_uri"], f["state"]) for f in followers.body["items"]] == [(bob.uri, "accepted")]
    assert (await RemoteObject.get()).type == "TokenType"
    found = await fed_api.post("/api/v1/federation/lookup", {"target": bob.uri}, token=token)
    assert (found.body["kind"], found.body["name"]) == ("Service", "Robert")


def test_interop__a_multikey_typed_as_a_list_is_read() -> None:
    public = generate_ed25519().public_key()
    actor = {"id": "https://a.example/users/bob", "assertionMethod": [{
        "id": "https://a.example/users/bob#ed25519-key", "type": ["Multikey", "https://example.org/ns#Key"],
        "controller": "https://a.example/users/bob", "publicKeyMultibase": ed25519_to_multibase(public)}]}
    found = key_in_actor(actor, "https://a.example/users/bob#ed25519-key")
    assert ed25519_to_multibase(found) == ed25519_to_multibase(public)

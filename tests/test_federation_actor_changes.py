"""Profile changes and account deletion, both ways: our users' changes go out as Update and
Delete of the actor to their followers; a remote actor's Update of itself refreshes our cached
copy and its Delete of itself drops its follows and subscriptions here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from federation import remote_actors
from federation.delivery import deliver_due
from federation.inbox import process_due
from federation.outbox import publish_due_events
from models.actors import Actor, User
from models.federation import Follow, InboxActivity, RemoteActor, Subscription

from .conftest import Api, assert_problem
from .fedhelpers import Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .pagehelpers import Browser
from .test_federation_delivery import COIN, followed_alice
from .test_federation_inbox import ALICE, follow, verify_our_signature

AP = {"Accept": "application/activity+json"}


async def sent(api: Api, remote: Remote) -> list[dict[str, Any]]:
    """Publish and deliver what is due; the activities the remote server got."""
    await publish_due_events(site_of(api))
    await deliver_due(site_of(api))
    return [post["json"] for post in remote.posts()]


# ---------------------------------------------------------------- our users' profiles


async def test_profile__edit_is_shown_sanitised_in_the_actor_document(fed_api: Api) -> None:
    token = await fed_api.user("alice")
    body = {"display_name": "Alice Anvil", "summary": "I *mint* coins <script>alert(1)</script> [site](javascript:x)"}
    reply = await fed_api.patch("/api/v1/users/me", body, token=token)
    assert reply.status == 200, reply
    assert (reply.body["display_name"], reply.body["summary"]) == (body["display_name"], body["summary"])
    assert (await fed_api.get("/api/v1/me", token=token)).body["display_name"] == "Alice Anvil"
    document = orjson.loads((await fed_api.get("/users/alice", headers=AP)).text)
    assert document["name"] == "Alice Anvil"
    assert "<em>mint</em>" in document["summary"]
    assert "<script" not in document["summary"] and 'href="javascript' not in document["summary"]
    page = await fed_api.get("/users/alice", headers={"Accept": "text/html"})
    assert "<em>mint</em>" in page.text and "<script>alert" not in page.text


async def test_profile__bad_edits_are_refused(fed_api: Api) -> None:
    token = await fed_api.user("alice")
    for body in ({}, {"display_name": ""}, {"display_name": "two\nlines"}, {"display_name": "x" * 101},
                 {"summary": "x" * 2001}, {"display_name": "ok", "roles": ["admin"]}, {"summary": 5}):
        assert_problem(await fed_api.patch("/api/v1/users/me", body, token=token), 400, "validation-failed")
    assert_problem(await fed_api.patch("/api/v1/users/me", {"display_name": "A"}), 401)
    assert (await Actor.get(username="alice")).display_name == "alice"


async def test_profile__change_goes_to_followers_as_update_of_the_actor(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob")
    await fed_api.patch("/api/v1/users/me", {"display_name": "Alice Anvil", "summary": "Coins."}, token=token)
    [update] = await sent(fed_api, remote)
    assert (update["type"], update["actor"], update["object"]["id"]) == ("Update", ALICE, ALICE)
    assert update["object"]["type"] == "Person" and update["object"]["name"] == "Alice Anvil"
    assert update["object"]["summary"] == "<p>Coins.</p>\n"
    assert update["object"]["publicKey"]["owner"] == ALICE  # the full document: receivers refresh the key too
    assert await verify_our_signature(remote.posts()[0], "alice")

    remote.requests.clear()
    await fed_api.patch("/api/v1/users/me", {"display_name": "Alice Anvil"}, token=token)  # no change
    assert await sent(fed_api, remote) == []


# ---------------------------------------------------------------- deleting our accounts


async def test_delete__admin_deletion_tells_followers_and_the_actor_is_gone(fed_api: Api, remote: Remote) -> None:
    await followed_alice(fed_api, remote, "bob")
    admin = await fed_api.user("root", roles=["admin"])
    assert (await fed_api.delete("/api/v1/admin/users/alice", token=admin)).body["status"] == "deleted"
    assert await Follow.all().count() == 0  # the follows went with the account...
    [delete] = await sent(fed_api, remote)  # ...but the followers had been noted first
    assert (delete["type"], delete["actor"]) == ("Delete", ALICE)
    assert delete["object"] == {"id": ALICE, "type": "Tombstone", "formerType": "Person"}
    assert await verify_our_signature(remote.posts()[0], "alice")

    gone = await fed_api.get("/users/alice", headers=AP)
    assert gone.status == 410
    assert orjson.loads(gone.text) | {"@context": None} == {
        "@context": None, "id": ALICE, "type": "Tombstone", "formerType": "Person"
    }
    finger = await fed_api.get("/.well-known/webfinger", params={"resource": "acct:alice@127.0.0.1:8080"})
    assert finger.status in (404, 410)


async def test_delete__self_service_needs_the_current_password(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob")
    wrong = await fed_api.delete("/api/v1/users/me", json={"password": "wrong horse"}, token=token)
    assert_problem(wrong, 403, "invalid-password")
    assert_problem(await fed_api.delete("/api/v1/users/me", json={}, token=token), 400, "validation-failed")
    assert (await User.get(username="alice")).status == "active"

    reply = await fed_api.delete("/api/v1/users/me", json={"password": "correct horse"}, token=token)
    assert reply.status == 200 and reply.body["status"] == "deleted"
    assert_problem(await fed_api.get("/api/v1/me", token=token), 401)
    assert [(a["type"], a["object"]["id"]) for a in await sent(fed_api, remote)] == [("Delete", ALICE)]


async def test_delete__an_admin_cannot_delete_their_own_account(fed_api: Api) -> None:
    admin = await fed_api.user("root", roles=["admin"])
    reply = await fed_api.delete("/api/v1/users/me", json={"password": "correct horse"}, token=admin)
    assert_problem(reply, 409, "self-lockout")


async def test_delete__a_profile_change_not_yet_sent_is_dropped_after_deletion(fed_api: Api, remote: Remote) -> None:
    token = await followed_alice(fed_api, remote, "bob")
    await fed_api.patch("/api/v1/users/me", {"display_name": "Alice Anvil"}, token=token)
    await fed_api.delete("/api/v1/users/me", json={"password": "correct horse"}, token=token)
    assert [activity["type"] for activity in await sent(fed_api, remote)] == ["Delete"]


# ---------------------------------------------------------------- remote actors' own changes


async def _bob_follows_alice(api: Api, remote: Remote) -> str:
    token = await api.user("alice")
    bob = remote.actor("bob")
    assert (await signed_post(api, "/users/alice/inbox", follow(bob.uri), bob)).status == 202
    await process_due(site_of(api))
    return token


async def test_inbox__update_of_itself_refreshes_our_copy_without_a_fetch(fed_api: Api, remote: Remote) -> None:
    token = await _bob_follows_alice(fed_api, remote)
    bob = remote.actor("bob")
    new = {"name": "Robert", "summary": "<p>Hi <script>x()</script></p>", "inbox": f"{bob.uri}/in2"}
    profile = bob.document() | new
    fetches = len(remote.fetches())
    update = {"id": f"{bob.uri}#update-1", "type": "Update", "actor": bob.uri, "object": profile}
    assert (await signed_post(fed_api, "/inbox", update, bob)).status == 202
    assert await process_due(site_of(fed_api)) == 1
    cached = await RemoteActor.get(uri=bob.uri)
    assert (cached.inbox, cached.summary) == (f"{bob.uri}/in2", "<p>Hi </p>")
    found = await fed_api.post("/api/v1/federation/lookup", {"target": bob.uri}, token=token)
    assert (found.body["name"], found.body["summary"]) == ("Robert", "<p>Hi </p>")
    assert len(remote.fetches()) == fetches


async def test_inbox__update_of_another_actor_is_ignored(fed_api: Api, remote: Remote) -> None:
    await _bob_follows_alice(fed_api, remote)
    bob, carol = remote.actor("bob"), remote.actor("carol")
    forged = carol.document() | {"name": "Not Carol"}
    update = {"id": f"{bob.uri}#update-2", "type": "Update", "actor": bob.uri, "object": forged}
    assert (await signed_post(fed_api, "/inbox", update, bob)).status == 202
    await process_due(site_of(fed_api))
    row = await InboxActivity.get(activity_uri=update["id"])
    assert (row.state, row.outcome) == ("ignored", "ignored: an actor may only update itself")
    assert not await Actor.filter(display_name="Not Carol").exists()


async def test_inbox__delete_of_itself_drops_follows_and_subscriptions(fed_api: Api, remote: Remote) -> None:
    token = await _bob_follows_alice(fed_api, remote)
    bob = remote.actor("bob")
    type_id = (await fed_api.post("/api/v1/types", COIN, token=token)).body["id"]
    subscribe = follow(bob.uri, 2, target=f"http://127.0.0.1:8080/types/{type_id}")
    assert (await signed_post(fed_api, "/inbox", subscribe, bob)).status == 202
    assert (await fed_api.post("/api/v1/follows", {"target": bob.uri}, token=token)).status == 201
    await process_due(site_of(fed_api))
    assert await Follow.all().count() == 2 and await Subscription.all().count() == 1

    delete = {"id": f"{bob.uri}#delete", "type": "Delete", "actor": bob.uri, "object": bob.uri}
    assert (await signed_post(fed_api, "/inbox", delete, bob)).status == 202
    await process_due(site_of(fed_api))
    assert await Follow.all().count() == 0 and await Subscription.all().count() == 0
    assert (await RemoteActor.get(uri=bob.uri)).gone_at is not None

    fetches = len(remote.fetches())
    again = {"id": f"{bob.uri}#delete-again", "type": "Delete", "actor": bob.uri, "object": bob.uri}
    assert (await signed_post(fed_api, "/inbox", again, bob)).text == "dropped"
    refollow = await fed_api.post("/api/v1/follows", {"target": bob.uri}, token=token)
    assert_problem(refollow, 422, "remote-actor-unavailable")
    assert len(remote.fetches()) == fetches  # a gone actor is never fetched again


async def test_inbox__delete_of_itself_is_checked_with_the_cached_key_once_the_actor_is_gone(
    fed_api: Api, remote: Remote
) -> None:
    await _bob_follows_alice(fed_api, remote)
    bob = remote.actor("bob")
    await RemoteActor.filter(uri=bob.uri).update(fetched_at=datetime.now(UTC) - timedelta(days=2))  # stale cache
    remote_actors._ACTORS.forget()  # and not in the per-process memo either
    remote.gone.add("bob")  # his document answers 410 now
    other = {"id": f"{bob.uri}#follow-again", "type": "Follow", "actor": bob.uri, "object": ALICE}
    assert_problem(await signed_post(fed_api, "/inbox", other, bob), 401, "bad-signature")
    delete = {"id": f"{bob.uri}#delete", "type": "Delete", "actor": bob.uri, "object": bob.uri}
    assert (await signed_post(fed_api, "/inbox", delete, bob)).text == "accepted"
    await process_due(site_of(fed_api))
    assert await Follow.all().count() == 0
    assert (await RemoteActor.get(uri=bob.uri)).gone_at is not None


async def test_pages__edit_your_profile_from_your_profile_page(fed_api: Api) -> None:
    browser = Browser(fed_api.client)
    await browser.sign_up("ann")
    mine = f"/app/actors?target=ann@{fed_api.settings.domain}"
    saved = await browser.submit(mine, "/app/profile", {"display_name": "Ann Abacus", "summary": "I *count*."})
    assert saved.status == 200 and "Profile saved." in saved
    assert "<h1>Ann Abacus</h1>" in saved.text and "<em>count</em>" in saved.text
    assert "I *count*." in saved  # the form holds the markdown to edit
    refused = await browser.submit(mine, "/app/profile", {"display_name": "", "summary": ""})
    assert refused.status == 400 and refused.field_error("display_name")
    assert (await Actor.get(username="ann")).display_name == "Ann Abacus"

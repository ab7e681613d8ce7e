"""Boards as FEP-1b12 Group actors (issue 22, item 4), the board's own server (the origin).

alice owns a board here; bob, carol and mallory live on a fake remote server whose keys the test
holds, so what they send are real signed activities, and what the group sends them is read from
the requests that server recorded. The three-server flow is the lead's acceptance test.
"""

from __future__ import annotations

import asyncio
from itertools import count
from typing import Any

import orjson

from federation.delivery import deliver_due
from federation.httpsig_cavage import sign_cavage
from federation.inbox import process_due
from federation.outbox import publish_due_events
from models.actors import Actor
from models.boards import Board, BoardEntry
from models.federation import InboxActivity

from .conftest import Api, assert_problem
from .fedhelpers import SHARED_KEY, FakeActor, Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .pagehelpers import Browser
from .test_ledger import new_type

BOARDS = "/api/v1/boards"
BASE = "http://127.0.0.1:8080"
GROUP = f"{BASE}/users/cafe"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
ACTIVITY = {"Accept": "application/activity+json"}
_numbers = count(1)


async def _sweep(api: Api) -> None:
    """What the workers would do: events to activities, inbox processed, deliveries out."""
    site = site_of(api)
    await process_due(site)
    await publish_due_events(site)
    await deliver_due(site)


async def _board(api: Api, token: str, **spec: Any) -> dict[str, Any]:
    made = await api.post(BOARDS, {"name": "Café", "kind": "discussion", "handle": "cafe", "votes_allowed": True,
                                   **spec}, token=token, expect=201)
    return dict(made.body)


async def _send(api: Api, actor: FakeActor, activity: dict[str, Any]) -> str:
    """Deliver a signed activity to the group's inbox, process it, and say what became of it."""
    await signed_post(api, "/users/cafe/inbox", activity, actor, expect=202)
    await _sweep(api)
    row = await InboxActivity.get(activity_uri=activity["id"])
    return row.outcome or ""


def _follow(actor: FakeActor) -> dict[str, Any]:
    return {"id": f"{actor.uri}/follows/{next(_numbers)}", "type": "Follow", "actor": actor.uri, "object": GROUP}


def _note(actor: FakeActor, text: str, **more: Any) -> dict[str, Any]:
    """Our own shape of a member's post (as a Tallystick mirror sends it): markdown source, audience."""
    number = next(_numbers)
    note = {"id": f"{actor.uri}/notes/{number}", "type": "Note", "attributedTo": actor.uri, "audience": GROUP,
            "to": [GROUP, PUBLIC], "cc": [f"{GROUP}/followers"], "content": f"<p>{text}</p>", "mediaType": "text/html",
            "source": {"content": text, "mediaType": "text/markdown"}, **more}
    return _create(actor, note)


def _create(actor: FakeActor, obj: dict[str, Any], kind: str = "Create") -> dict[str, Any]:
    return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{obj['id']}/{kind.lower()}/{next(_numbers)}",
            "type": kind, "actor": actor.uri, "object": obj, "to": obj.get("to", [GROUP]), "cc": obj.get("cc", [])}


def _act(actor: FakeActor, kind: str, obj: Any) -> dict[str, Any]:
    return {"id": f"{actor.uri}/acts/{next(_numbers)}", "type": kind, "actor": actor.uri, "object": obj,
            "audience": GROUP}


def _sent(remote: Remote, kind: str, inner: str | None = None) -> list[dict[str, Any]]:
    posts = [post["json"] for post in remote.posts() if post["json"]["type"] == kind]
    return [post for post in posts if inner is None or (isinstance(post["object"], dict) and post["object"]["type"] == inner)]


async def _member(api: Api, remote: Remote, name: str) -> FakeActor:
    actor = remote.actor(name)
    assert (await _send(api, actor, _follow(actor))).startswith("accepted")
    return actor


async def _entries(api: Api, board_id: str, token: str | None = None) -> list[dict[str, Any]]:
    listed = await api.get(f"{BOARDS}/{board_id}/entries", params={"sort": "old"}, token=token, expect=200)
    return list(listed.body["items"])


# ---------------------------------------------------------------- the actor


async def test_group__actor_document_webfinger_and_handle(fed_api: Api) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice, description="Coffee *talk*")
    assert (board["handle"], board["actor_url"]) == ("cafe@127.0.0.1:8080", GROUP)
    document = orjson.loads((await api.get("/users/cafe", headers=ACTIVITY, expect=200)).text)
    assert (document["type"], document["id"], document["name"], document["preferredUsername"]) == (
        "Group", GROUP, "Café", "cafe")
    assert document["url"] == f"{BASE}/app/boards/{board['id']}"
    assert (document["boardKind"], document["boardVisibility"], document["votesAllowed"], document["membersOnly"]) == (
        "discussion", "public", True, True)
    assert document["moderators"] == [f"{BASE}/users/alice"] and document["attributedTo"] == [f"{BASE}/users/alice"]
    assert "<em>talk</em>" in document["summary"]
    assert document["inbox"] == f"{GROUP}/inbox" and document["publicKey"]["owner"] == GROUP
    reply = await api.get("/.well-known/webfinger", params={"resource": "acct:cafe@127.0.0.1:8080"}, expect=200)
    finger = orjson.loads(reply.text)
    assert finger["subject"] == "acct:cafe@127.0.0.1:8080"
    assert {link["href"] for link in finger["links"] if link.get("rel") == "self"} == {GROUP}

    # a handle made from the name, unique with a suffix when the name is taken
    made = await api.post(BOARDS, {"name": "Alice!", "kind": "chat"}, token=alice, expect=201)
    assert made.body["handle"].startswith("alice_") and made.body["handle"].endswith("@127.0.0.1:8080")
    # a board that is not public gives its name only
    await api.post(BOARDS, {"name": "Back room", "kind": "chat", "visibility": "invite", "handle": "back"},
                   token=alice, expect=201)
    hidden = orjson.loads((await api.get("/users/back", headers=ACTIVITY, expect=200)).text)
    assert (hidden["type"], hidden["name"], hidden["summary"], hidden["manuallyApprovesFollowers"]) == (
        "Group", "Back room", "", True)
    assert "moderators" not in hidden


async def test_group__names_are_shared_with_users_and_organizations(fed_api: Api) -> None:
    api = fed_api
    alice = await api.user("alice")
    await _board(api, alice)
    assert_problem(await api.post(BOARDS, {"name": "Other", "kind": "chat", "handle": "cafe"}, token=alice), 409, "name-taken")
    assert_problem(await api.post(BOARDS, {"name": "Other", "kind": "chat", "handle": "alice"}, token=alice), 409, "name-taken")
    assert_problem(await api.post(BOARDS, {"name": "Other", "kind": "chat", "handle": "Not OK"}, token=alice), 400)
    listed = await api.get(BOARDS, token=alice, expect=200)
    assert [item["name"] for item in listed.body["items"]] == ["Café"]  # nothing stored by the refusals
    taken = await api.post("/api/v1/auth/register", {"username": "cafe", "password": "correct horse battery",
                                                     "email": "cafe@example.org"})
    assert_problem(taken, 409, "username-taken")
    assert_problem(await api.post("/api/v1/organizations", {"name": "cafe"}, token=alice), 409, "name-taken")


# ---------------------------------------------------------------- joining


async def test_group__follow_joins_and_is_accepted_banned_and_invite_only_are_rejected(
    fed_api: Api, remote: Remote,
) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice)
    bob = remote.actor("bob")
    follow = _follow(bob)
    assert await _send(api, bob, follow) == "accepted: a member"
    [accept] = _sent(remote, "Accept")
    assert (accept["actor"], accept["object"]["id"], accept["object"]["object"]) == (GROUP, follow["id"], GROUP)
    members = await api.get(f"{BOARDS}/{board['id']}/members", expect=200)
    assert {item["username"]: item["role"] for item in members.body["items"]}[bob.handle] == "member"
    followers = orjson.loads((await api.get("/users/cafe/followers?page=1", headers=ACTIVITY, expect=200)).text)
    assert followers["orderedItems"] == [bob.uri]

    # leaving: Undo{Follow}
    assert await _send(api, bob, _act(bob, "Undo", follow)) == "left the board"
    members = await api.get(f"{BOARDS}/{board['id']}/members", expect=200)
    assert bob.handle not in {item["username"] for item in members.body["items"]}

    # banned: Reject with the reason, not a member
    carol = remote.actor("carol")
    await _member(api, remote, "carol")
    await api.post(f"{BOARDS}/{board['id']}/bans", {"username": carol.handle, "reason": "spam"}, token=alice, expect=201)
    outcome = await _send(api, carol, _follow(carol))
    assert outcome.startswith("rejected") and "spam" in outcome
    [reject] = _sent(remote, "Reject")
    assert "spam" in reject["content"] and reject["actor"] == GROUP
    members = await api.get(f"{BOARDS}/{board['id']}/members", expect=200)
    assert carol.handle not in {item["username"] for item in members.body["items"]}

    # invite only: Reject unless already a member
    await api.post(BOARDS, {"name": "Back room", "kind": "chat", "visibility": "invite", "handle": "back"},
                   token=alice, expect=201)
    dave = remote.actor("dave")
    knock = {**_follow(dave), "object": f"{BASE}/users/back"}
    await signed_post(api, "/users/back/inbox", knock, dave, expect=202)
    await _sweep(api)
    assert (await InboxActivity.get(activity_uri=knock["id"])).outcome == (
        "rejected: this board is invite only: ask a moderator for an invite")
    assert len(_sent(remote, "Reject")) == 2


# ---------------------------------------------------------------- members' posts


async def test_group__member_post_is_stored_once_and_announced_refusals_store_nothing(
    fed_api: Api, remote: Remote,
) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice, replies_allowed=False)
    bob = await _member(api, remote, "bob")
    create = _note(bob, "Hello from *B*")
    outcome = await _send(api, bob, create)
    assert outcome.startswith("posted: entry")
    [entry] = await _entries(api, board["id"])
    assert (entry["author"], entry["body"], entry["url"]) == (bob.handle, "Hello from *B*", create["object"]["id"])
    assert "<em>B</em>" in entry["html"]
    [announce] = _sent(remote, "Announce")
    assert (announce["actor"], announce["object"]["id"], announce["object"]["object"]["id"]) == (
        GROUP, create["id"], create["object"]["id"])
    assert PUBLIC in announce["to"] and f"{GROUP}/followers" in announce["cc"]

    # the same post again (a retry with a new activity id): stored once, announced once
    again = {**create, "id": f"{create['id']}-again"}
    assert await _send(api, bob, again) == "duplicate"
    assert len(await _entries(api, board["id"])) == 1 and len(_sent(remote, "Announce")) == 1

    # replies are off on this board
    reply = _note(bob, "a reply", inReplyTo=f"{BASE}/boards/{board['id']}/entries/{entry['id']}")
    outcome = await _send(api, bob, reply)
    assert outcome.startswith("ignored: replies-off"), outcome
    # a stranger, not a member (members only post here)
    mallory = remote.actor("mallory")
    outcome = await _send(api, mallory, _note(mallory, "buy now"))
    assert outcome.startswith("ignored: not-a-board-member"), outcome
    # banned
    await api.post(f"{BOARDS}/{board['id']}/bans", {"username": bob.handle, "reason": "rude"}, token=alice, expect=201)
    outcome = await _send(api, bob, _note(bob, "still here?"))
    assert outcome.startswith("ignored: banned-from-board") and "rude" in outcome
    assert len(await _entries(api, board["id"])) == 1
    assert await BoardEntry.filter(board_id=board["id"]).count() == 1
    assert len(_sent(remote, "Announce", "Create")) == 1  # refusals are not announced


async def test_group__mastodon_and_lemmy_shaped_posts_and_a_threaded_reply(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice)
    bob = await _member(api, remote, "bob")
    carol = await _member(api, remote, "carol")
    # Mastodon: a Note whose to names the group (a mention), HTML only, no audience
    toot = {"id": f"{bob.uri}/statuses/1", "type": "Note", "attributedTo": bob.uri, "to": [PUBLIC], "cc": [GROUP],
            "content": '<p><span class="h-card"><a href="http://127.0.0.1:8080/users/cafe">@cafe</a></span> first!</p>',
            "tag": [{"type": "Mention", "href": GROUP, "name": "@cafe@127.0.0.1:8080"}]}
    assert (await _send(api, bob, _create(bob, toot))).startswith("posted")
    # Lemmy: a Page with a title (name), markdown source and audience, in a Create with audience
    page = {"id": f"{carol.uri}/post/7", "type": "Page", "attributedTo": carol.uri, "audience": GROUP,
            "to": [GROUP, PUBLIC], "cc": [], "name": "Best beans?", "content": "<p>Which <strong>beans</strong>?</p>",
            "mediaType": "text/html", "source": {"content": "Which **beans**?", "mediaType": "text/markdown"}}
    assert (await _send(api, carol, {**_create(carol, page), "audience": GROUP})).startswith("posted")
    first, second = await _entries(api, board["id"])
    assert first["author"] == bob.handle and "first!" in first["html"]
    assert second["author"] == carol.handle and second["body"] == "**Best beans?**\n\nWhich **beans**?"
    # a Lemmy comment replying to the post by its own id (no group named at all)
    comment = {"id": f"{bob.uri}/comment/3", "type": "Note", "attributedTo": bob.uri, "inReplyTo": page["id"],
               "to": [PUBLIC], "content": "<p>Arabica</p>"}
    assert (await _send(api, bob, _create(bob, comment))).startswith("posted")
    thread = await api.get(f"/api/v1/entries/{second['id']}", expect=200)
    assert [(reply["author"], reply["body"]) for reply in thread.body["replies"]] == [(bob.handle, "<p>Arabica</p>")]
    assert len(_sent(remote, "Announce", "Create")) == 3


async def test_group__votes_edits_and_deletes_from_members(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice)
    bob = await _member(api, remote, "bob")
    carol = await _member(api, remote, "carol")
    mine = await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "alice here"}, token=alice, expect=201)
    url = f"{BASE}/boards/{board['id']}/entries/{mine.body['id']}"
    like = _act(bob, "Like", url)
    assert (await _send(api, bob, like)).startswith("voted up")
    assert (await _send(api, carol, _act(carol, "Dislike", url))).startswith("voted down")
    got = await api.get(f"/api/v1/entries/{mine.body['id']}", expect=200)
    assert (got.body["up"], got.body["down"]) == (1, 1)
    assert (await _send(api, bob, _act(bob, "Like", url))).startswith("ignored: already-voted")
    assert (await _send(api, carol, _act(carol, "Undo", _act(carol, "Like", url)))) == "ignored: no Like to take back"
    assert (await _send(api, bob, _act(bob, "Undo", like))).startswith("vote taken back")
    got = await api.get(f"/api/v1/entries/{mine.body['id']}", expect=200)
    assert (got.body["up"], got.body["down"]) == (0, 1)
    announced = [post["object"]["type"] for post in _sent(remote, "Announce")]
    assert announced.count("Like") == 1 and announced.count("Dislike") == 1 and announced.count("Undo") == 1

    # bob edits his post; carol may neither edit nor delete it; bob deletes it
    create = _note(bob, "draft")
    assert (await _send(api, bob, create)).startswith("posted")
    edited = {**create["object"], "source": {"content": "final", "mediaType": "text/markdown"}, "content": "<p>final</p>"}
    assert (await _send(api, bob, _create(bob, edited, "Update"))).startswith("edited")
    [_, post] = await _entries(api, board["id"])
    assert (post["body"], post["version"]) == ("final", 2)
    forged = {**edited, "attributedTo": carol.uri, "source": {"content": "hacked", "mediaType": "text/markdown"}}
    assert (await _send(api, carol, _create(carol, forged, "Update"))).startswith("ignored: not-the-author")
    delete = _act(carol, "Delete", create["object"]["id"])
    assert (await _send(api, carol, delete)).startswith("ignored: not-the-author")
    assert (await _send(api, bob, _act(bob, "Delete", create["object"]["id"]))).startswith("deleted")
    [_, post] = await _entries(api, board["id"])
    assert (post["deleted"], post["body"], post["author"]) == (True, "", None)
    assert [post["object"]["type"] for post in _sent(remote, "Announce")][-2:] == ["Update", "Delete"]


# ---------------------------------------------------------------- what local users do


async def test_group__local_posts_moderator_deletes_and_bans_are_announced(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice, zoe = await api.user("alice"), await api.user("zoe")
    board = await _board(api, alice)
    await api.post(f"{BOARDS}/{board['id']}/join", token=zoe, expect=200)
    bob = await _member(api, remote, "bob")
    post = await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "Welcome **all**"}, token=zoe, expect=201)
    await api.put(f"/api/v1/entries/{post.body['id']}/votes", {"value": "up"}, token=alice, expect=200)
    await _sweep(api)
    [create] = _sent(remote, "Announce", "Create")
    inner = create["object"]
    url = f"{BASE}/boards/{board['id']}/entries/{post.body['id']}"
    assert (create["actor"], inner["actor"], inner["object"]["id"], inner["object"]["type"]) == (
        GROUP, f"{BASE}/users/zoe", url, "Page")
    assert inner["object"]["source"]["content"] == "Welcome **all**" and "proof" in inner["object"]
    assert inner["object"]["audience"] == GROUP and inner["id"] == f"{create['id']}#inner"
    [like] = _sent(remote, "Announce", "Like")
    assert (like["object"]["actor"], like["object"]["object"]) == (f"{BASE}/users/alice", url)
    await _sweep(api)
    assert len(_sent(remote, "Announce")) == 2  # each event once

    # alice (the owner) deletes bob's post: announced as her Delete
    create_bob = _note(bob, "off topic")
    assert (await _send(api, bob, create_bob)).startswith("posted")
    [_, theirs] = await _entries(api, board["id"])
    await api.delete(f"/api/v1/entries/{theirs['id']}", token=alice, expect=200)
    await _sweep(api)
    [delete] = _sent(remote, "Announce", "Delete")
    assert (delete["object"]["actor"], delete["object"]["object"]) == (f"{BASE}/users/alice", create_bob["object"]["id"])

    # a ban is a Block by the group, sent to bob too; lifting it an Undo of that Block
    await api.post(f"{BOARDS}/{board['id']}/bans", {"username": bob.handle, "reason": "spam", "expires_in_hours": 24},
                   token=alice, expect=201)
    await _sweep(api)
    [block] = _sent(remote, "Block")
    assert (block["actor"], block["object"], block["target"], block["summary"]) == (GROUP, bob.uri, GROUP, "spam")
    assert block["endTime"] and bob.uri in block["to"]
    await api.delete(f"{BOARDS}/{board['id']}/bans/{bob.handle}", token=alice, expect=204)
    await _sweep(api)
    [undo] = _sent(remote, "Undo")
    assert (undo["object"]["type"], undo["object"]["id"], undo["object"]["object"]) == ("Block", block["id"], bob.uri)

    # a new rule: Update of the group's actor document
    await api.patch(f"{BOARDS}/{board['id']}", {"replies_allowed": False}, token=alice, expect=200)
    await _sweep(api)
    [update] = _sent(remote, "Update")
    assert (update["actor"], update["object"]["type"], update["object"]["repliesAllowed"]) == (GROUP, "Group", False)


# ---------------------------------------------------------------- entries as documents


async def test_group__entry_documents_by_content_negotiation(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice, zoe = await api.user("alice"), await api.user("zoe")
    board = await _board(api, alice)
    post = await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "Hi"}, token=alice, expect=201)
    reply = await api.post(f"/api/v1/entries/{post.body['id']}/replies", {"body": "Hey"}, token=alice, expect=201)
    path = f"/boards/{board['id']}/entries/{reply.body['id']}"
    document = orjson.loads((await api.get(path, headers=ACTIVITY, expect=200)).text)
    assert (document["id"], document["type"], document["attributedTo"], document["audience"]) == (
        f"{BASE}{path}", "Note", f"{BASE}/users/alice", GROUP)
    assert document["inReplyTo"] == f"{BASE}/boards/{board['id']}/entries/{post.body['id']}"
    assert document["proof"]["verificationMethod"] == f"{BASE}/users/alice#ed25519-key"
    browser = await api.client.get(path, headers={"Accept": "text/html"}, allow_redirects=False)
    assert (browser.status, browser.headers["Location"]) == (303, f"/app/posts/{reply.body['id']}")
    await api.delete(f"/api/v1/entries/{reply.body['id']}", token=alice, expect=200)
    gone = await api.get(path, headers=ACTIVITY, expect=410)
    assert orjson.loads(gone.text)["type"] == "Tombstone"
    # a members board: members and their servers only
    hidden = await api.post(BOARDS, {"name": "Staff", "kind": "chat", "visibility": "members", "handle": "staff"},
                            token=alice, expect=201)
    note = await api.post(f"{BOARDS}/{hidden.body['id']}/entries", {"body": "secret"}, token=alice, expect=201)
    hidden_path = f"/boards/{hidden.body['id']}/entries/{note.body['id']}"
    assert_problem(await api.get(hidden_path, headers=ACTIVITY), 404, "entry-not-found")
    assert_problem(await api.get(hidden_path, headers=ACTIVITY, token=zoe), 404, "entry-not-found")
    await api.get(hidden_path, headers=ACTIVITY, token=alice, expect=200)
    assert_problem(await api.get(f"/boards/{board['id']}/entries/01aaaaaaaaaaaaaaaaaaaaaaaa", headers=ACTIVITY), 404)


async def test_group__a_board_made_before_groups_gets_one_once(fed_api: Api) -> None:
    api = fed_api
    alice = await api.user("alice")
    made = await api.post(BOARDS, {"name": "Old times", "kind": "chat"}, token=alice, expect=201)
    group = await Actor.get(username="old_times", domain="")
    await Board.filter(id=made.body["id"]).update(actor_id=None)  # as boards were before groups
    assert await Actor.filter(id=group.id).delete() == 1
    first, second = await asyncio.gather(*(api.get(f"{BOARDS}/{made.body['id']}", token=alice, expect=200)
                                           for _ in range(2)))
    assert first.body["handle"] == second.body["handle"] == "old_times@127.0.0.1:8080"
    assert await Actor.filter(kind="Group", domain="").count() == 1
    document = orjson.loads((await api.get("/users/old_times", headers=ACTIVITY, expect=200)).text)
    assert (document["type"], document["name"]) == ("Group", "Old times")


async def test_group__a_ban_on_a_members_board_ends_the_follow_and_bob_is_told(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice, visibility="members")
    bob = await _member(api, remote, "bob")
    assert (await _send(api, bob, _note(bob, "hi"))).startswith("posted")
    [announce] = _sent(remote, "Announce")
    assert announce["to"] == [f"{GROUP}/followers"] and PUBLIC not in announce.get("cc", [])
    await api.post(f"{BOARDS}/{board['id']}/bans", {"username": bob.handle, "reason": "leaks"}, token=alice, expect=201)
    await _sweep(api)
    [block] = _sent(remote, "Block")
    assert (block["object"], block["summary"]) == (bob.uri, "leaks")
    followers = orjson.loads((await api.get("/users/cafe/followers?page=1", headers=ACTIVITY, expect=200)).text)
    assert followers["orderedItems"] == []
    await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "members only"}, token=alice, expect=201)
    await _sweep(api)
    assert len(_sent(remote, "Announce")) == 1  # bob's server hears no more
    outcome = await _send(api, bob, _note(bob, "let me back"))
    assert outcome.startswith("ignored: board-not-found")  # a members board is not there for non-members
    assert await BoardEntry.filter(board_id=board["id"]).count() == 2


async def test_group__reviews_from_elsewhere_and_votes_off(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice = await api.user("alice")
    coin = await new_type(api, alice)
    board = await _board(api, alice, kind="review", votes_allowed=False, members_only=False)
    bob = remote.actor("bob")  # anyone signed in (here: anyone's server) reviews on this board
    review = _note(bob, "Solid coin", rating=4, subject={"kind": "type", "id": coin["id"]})
    assert (await _send(api, bob, review)).startswith("posted")
    assert (await _send(api, bob, _note(bob, "Again", rating=5, subject={"kind": "type", "id": coin["id"]}))).startswith(
        "ignored: already-reviewed")
    assert (await _send(api, bob, _note(bob, "No stars"))).startswith("ignored: review-incomplete")
    carol = remote.actor("carol")  # stars without words, as a Tallystick mirror sends them: a Page named Untitled
    stars = _note(carol, "", rating=3, subject={"kind": "type", "id": coin["id"]}, type="Page", name="Untitled")
    assert (await _send(api, carol, stars)).startswith("posted")
    summary = await api.get(f"/api/v1/reviews/type/{coin['id']}/summary", expect=200)
    assert (summary.body["count"], summary.body["mean"]) == (2, 3.5)
    outcome = await _send(api, bob, _act(bob, "Like", review["object"]["id"]))
    assert outcome.startswith("ignored: votes-off"), outcome
    [entry, wordless] = await _entries(api, board["id"])
    assert (entry["rating"], entry["up"], entry["author"]) == (4, 0, bob.handle)
    assert (wordless["rating"], wordless["body"]) == (3, "")


async def test_group__a_members_board_entry_is_fetched_by_its_members_servers_only(
    fed_api: Api, remote: Remote,
) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice, visibility="members")
    bob = await _member(api, remote, "bob")
    post = await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "for members"}, token=alice, expect=201)
    path = f"/boards/{board['id']}/entries/{post.body['id']}"
    url = f"http://{api.client.host}:{api.client.port}{path}"
    signed = sign_cavage("GET", url, key_id=bob.key_id, private_key=SHARED_KEY.private_pem)
    document = orjson.loads((await api.get(path, headers={**signed, **ACTIVITY}, expect=200)).text)
    assert (document["type"], document["source"]["content"], document["to"]) == ("Page", "for members", [GROUP])
    elsewhere = Remote()  # a server where no member lives
    await elsewhere.start()
    try:
        mallory = elsewhere.actor("mallory")
        signed = sign_cavage("GET", url, key_id=mallory.key_id, private_key=SHARED_KEY.private_pem)
        assert_problem(await api.get(path, headers={**signed, **ACTIVITY}), 404, "entry-not-found")
    finally:
        await elsewhere.stop()


# ---------------------------------------------------------------- refusals answered, attachments kept


def _rejects(remote: Remote, activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [post for post in _sent(remote, "Reject") if isinstance(post["object"], dict)
            and post["object"].get("id") == activity["id"]]


async def test_group__a_refused_post_or_vote_is_answered_with_a_reject_saying_why(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice, replies_allowed=False)
    bob = await _member(api, remote, "bob")
    posted = _note(bob, "Standing post")
    assert (await _send(api, bob, posted)).startswith("posted")
    [entry] = await _entries(api, board["id"])
    assert _sent(remote, "Reject") == []  # nothing refused yet

    # replies are off: the reply is refused and bob's server is told, by the group
    reply = _note(bob, "a reply", inReplyTo=f"{BASE}/boards/{board['id']}/entries/{entry['id']}")
    assert (await _send(api, bob, reply)).startswith("ignored: replies-off")
    [reject] = _rejects(remote, reply)
    assert (reject["actor"], reject["to"], reject["object"]["type"], reject["object"]["object"]) == (
        GROUP, [bob.uri], "Create", reply["object"]["id"])
    assert reject["summary"] == reject["content"] == "replies are off on this board"

    # a vote twice: the second is refused but not answered (the first stands on the group)
    like = _act(bob, "Like", posted["object"]["id"])
    assert (await _send(api, bob, like)).startswith("voted up")
    again = _act(bob, "Like", posted["object"]["id"])
    assert (await _send(api, bob, again)).startswith("ignored: already-voted")
    assert _rejects(remote, like) == [] and _rejects(remote, again) == []

    # banned: the post is refused with the ban's reason; nothing stored, nothing announced
    await api.post(f"{BOARDS}/{board['id']}/bans", {"username": bob.handle, "reason": "rude"}, token=alice, expect=201)
    late = _note(bob, "still here?")
    outcome = await _send(api, bob, late)
    assert outcome.startswith("ignored: banned-from-board") and outcome.endswith("(answered Reject)"), outcome
    [banned] = _rejects(remote, late)
    assert banned["summary"] == "you are banned from this board: rude"
    assert banned["object"] == {"id": late["id"], "type": "Create", "actor": bob.uri, "object": late["object"]["id"]}
    assert await BoardEntry.filter(board_id=board["id"]).count() == 1
    assert len(_sent(remote, "Announce", "Create")) == 1
    # an edit while banned: refused, answered, and the entry keeps its words
    edit = _create(bob, {**posted["object"], "source": {"content": "Edited", "mediaType": "text/markdown"}}, kind="Update")
    assert (await _send(api, bob, edit)).startswith("ignored: banned-from-board")
    [edit_refused] = _rejects(remote, edit)
    assert (edit_refused["object"]["type"], edit_refused["summary"]) == ("Update", "you are banned from this board: rude")
    assert (await api.get(f"/api/v1/entries/{entry['id']}", expect=200)).body["body"] == "Standing post"
    # malformed junk is not answered: a rating out of range fails the input, not the board's rules
    junk = _note(bob, "x", rating=9, subject={"kind": "type", "id": "nothing"})
    assert (await _send(api, bob, junk)).startswith("ignored: invalid")
    assert _rejects(remote, junk) == []


async def test_group__attachments_of_a_members_post_are_kept_as_links(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    alice = await api.user("alice")
    board = await _board(api, alice)
    bob = await _member(api, remote, "bob")
    files = [
        {"type": "Image", "url": "https://b.example/media/1.png", "mediaType": "image/png", "name": "A cup"},
        {"type": "Document", "url": "ftp://b.example/media/2.pdf", "mediaType": "application/pdf"},
        {"type": "Document", "url": "javascript:alert(1)", "mediaType": "text/html"},
        {"type": "Document", "url": {"type": "Link", "href": "https://b.example/media/3.pdf"},
         "mediaType": "application/pdf"},
        *({"type": "Image", "url": f"https://b.example/media/{n}.jpg", "mediaType": "image/jpeg"} for n in range(4, 9)),
    ]
    create = _note(bob, "Look at these", attachment=files)
    assert (await _send(api, bob, create)).startswith("posted")
    [entry] = await _entries(api, board["id"])
    assert entry["media"] == []
    assert entry["remote_media"] == [  # http(s) only, at most limits.board_media_per_entry (4)
        {"url": "https://b.example/media/1.png", "media_type": "image/png", "name": "A cup"},
        {"url": "https://b.example/media/3.pdf", "media_type": "application/pdf", "name": ""},
        {"url": "https://b.example/media/4.jpg", "media_type": "image/jpeg", "name": ""},
        {"url": "https://b.example/media/5.jpg", "media_type": "image/jpeg", "name": ""},
    ]
    # the group's Announce passes the post on as received: the attachments travel with it
    [announce] = _sent(remote, "Announce", "Create")
    assert announce["object"]["object"]["attachment"] == files
    # shown as links, never as pictures from elsewhere
    page = await Browser(api.client).get(f"/app/posts/{entry['id']}", expect=200)
    assert 'href="https://b.example/media/1.png"' in page.text and "image (png) “A cup” from b.example" in page
    assert "file (pdf) from b.example" in page
    assert 'src="https://b.example' not in page.text and "javascript:" not in page.text
    # an edit that drops the files drops the links
    edit = _create(bob, {**create["object"], "attachment": [], "source": {"content": "Edited", "mediaType": "text/markdown"}},
                   kind="Update")
    assert (await _send(api, bob, edit)).startswith("edited")
    assert (await api.get(f"/api/v1/entries/{entry['id']}", expect=200)).body["remote_media"] == []

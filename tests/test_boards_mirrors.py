"""Boards of other servers, the member side (issue 22, item 4): our copy of a remote `Group`.

The group `cafe` lives on a fake remote server whose keys the test holds, so what it passes on
(Announce of its members' Create, Like, Delete, Block...) arrives as real signed activities;
what our users send it is read from the requests that server recorded. A third server `far`
holds an author whose entries reach us through the group with an FEP-8b32 proof.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from federation.delivery import deliver_due
from federation.inbox import process_due
from federation.keys import ed25519_to_multibase
from federation.outbox import publish_due_events
from federation.proofs import sign_object
from models.boards import Board, BoardEntry
from models.federation import Follow, InboxActivity

from .conftest import Api, assert_problem
from .fedhelpers import FakeActor, Remote, fed_api, remote, signed_post, site_of  # noqa: F401
from .pagehelpers import Browser, assert_fits_phone
from .test_pages_session import assert_labelled

BOARDS = "/api/v1/boards"
OURS = "http://127.0.0.1:8080"
CAFE_TERMS = {"type": "Group", "name": "Cafe", "summary": "<p>Coffee &amp; coins</p>", "boardKind": "discussion",
              "boardVisibility": "public", "membersOnly": True, "repliesAllowed": True, "mediaAllowed": False,
              "votesAllowed": True}
FAR_KEY = ed25519.Ed25519PrivateKey.generate()


async def _sweep(api: Api) -> None:
    """What the workers would do: events to activities, deliveries out, inbox processed."""
    site = site_of(api)
    await publish_due_events(site)
    await deliver_due(site)
    await process_due(site)


def _sent(server: Remote, kind: str) -> list[dict[str, Any]]:
    return [post["json"] for post in server.posts() if post["json"]["type"] == kind]


class Group:
    """The remote group and its server: activities it signs and passes on."""

    def __init__(self, server: Remote) -> None:
        self.server, self.actor = server, server.actor("cafe")
        self.count = 0

    @property
    def uri(self) -> str:
        return self.actor.uri

    def member(self, name: str) -> FakeActor:
        return self.server.actor(name)

    def note(self, author: FakeActor, number: int, content: str, reply_to: str | None = None) -> dict[str, Any]:
        note: dict[str, Any] = {"id": f"{author.remote.base}/objects/notes/{number}", "type": "Note",
                                "attributedTo": author.uri, "audience": self.uri, "to": [self.uri],
                                "content": f"<p>{content}</p>", "mediaType": "text/html",
                                "source": {"content": content, "mediaType": "text/markdown"}}
        if reply_to:
            note["inReplyTo"] = reply_to
        return note

    async def announce(self, api: Api, inner: dict[str, Any], *, expect: int = 202) -> str:
        """POST Announce{inner} to our shared inbox, signed by the group; the inbox row's outcome."""
        self.count += 1
        announce = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{self.uri}/announces/{self.count}",
                    "type": "Announce", "actor": self.uri, "object": inner, "to": [f"{self.uri}/followers"]}
        await signed_post(api, "/inbox", announce, self.actor, expect=expect)
        await _sweep(api)
        row = await InboxActivity.get(activity_uri=announce["id"])
        return row.outcome or ""

    def wrap(self, kind: str, actor: FakeActor | str, obj: Any, number: int | None = None, **extra: Any) -> dict[str, Any]:
        uri = actor if isinstance(actor, str) else actor.uri
        self.count += 1
        return {"id": f"{uri}/activities/{number or self.count}", "type": kind, "actor": uri, "object": obj, **extra}


@pytest.fixture
async def far() -> AsyncIterator[Remote]:
    """A third server: dave's entries carry his Ed25519 proof (his key listed in assertionMethod)."""
    server = Remote()
    await server.start()
    dave = server.actor("dave")
    server.extra["dave"] = {"assertionMethod": [{"id": f"{dave.uri}#ed25519-key", "type": "Multikey", "controller": dave.uri,
                                                 "publicKeyMultibase": ed25519_to_multibase(FAR_KEY.public_key())}]}
    yield server
    await server.stop()


async def _joined(api: Api, remote: Remote, name: str = "alice", terms: dict[str, Any] | None = None,
                  ) -> tuple[Group, str, dict[str, Any]]:
    """`name` joins !cafe@remote; the group accepts. (the group, the user's token, our board)"""
    remote.extra["cafe"] = terms or CAFE_TERMS
    group = Group(remote)
    token = await api.user(name)
    asked = (await api.post("/api/v1/remote-boards", {"group": f"!cafe@127.0.0.1:{remote.port}"}, token=token,
                            expect=200)).body
    await _sweep(api)
    follow = [f for f in _sent(remote, "Follow") if f["actor"] == f"{OURS}/users/{name}"][-1]
    accept = group.wrap("Accept", group.actor, follow)
    await signed_post(api, f"/users/{name}/inbox", accept, group.actor, expect=202)
    await _sweep(api)
    board = (await api.get(f"{BOARDS}/{asked['id']}", token=token, expect=200)).body
    return group, token, board


async def _entries(api: Api, board: dict[str, Any], token: str | None = None) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await api.get(f"{BOARDS}/{board['id']}/entries", params={"sort": "new"},
                                                  token=token, expect=200)).body["items"]
    return listed


async def test_mirror__join_sends_a_follow_and_the_accept_makes_a_member(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    remote.extra["cafe"] = CAFE_TERMS
    alice = await api.user("alice")
    asked = (await api.post("/api/v1/remote-boards", {"group": f"cafe@127.0.0.1:{remote.port}"}, token=alice,
                            expect=200)).body
    assert (asked["name"], asked["kind"], asked["home"], asked["actor_url"]) == (
        "Cafe", "discussion", f"127.0.0.1:{remote.port}", f"{remote.base}/users/cafe")
    assert (asked["members_only"], asked["media_allowed"], asked["votes_allowed"]) == (True, False, True)
    assert asked["description"] == "Coffee & coins"
    assert (asked.get("your_role"), asked.get("joining"), asked["member_count"]) == (None, "pending", 0)
    await _sweep(api)
    [follow] = _sent(remote, "Follow")
    assert (follow["actor"], follow["object"]) == (f"{OURS}/users/alice", f"{remote.base}/users/cafe")
    assert [post["path"] for post in remote.posts() if post["json"]["type"] == "Follow"] == ["/users/cafe/inbox"]
    # asking again changes nothing; the same group reached by its URL is the same board
    again = (await api.post("/api/v1/remote-boards", {"group": f"{remote.base}/users/cafe"}, token=alice, expect=200)).body
    assert again["id"] == asked["id"] and again.get("joining") == "pending"
    await _sweep(api)
    assert len(_sent(remote, "Follow")) == 1
    # two more of our users asking at once share the one copy, each with a Follow of their own
    carl, dina = await api.user("carl"), await api.user("dina")
    both = await asyncio.gather(*[api.post("/api/v1/remote-boards", {"group": f"cafe@127.0.0.1:{remote.port}"},
                                           token=token, expect=200) for token in (carl, dina)])
    assert {reply.body["id"] for reply in both} == {asked["id"]} and await Board.all().count() == 1
    await _sweep(api)
    assert sorted(f["actor"] for f in _sent(remote, "Follow")) == [f"{OURS}/users/{n}" for n in ("alice", "carl", "dina")]

    group = Group(remote)
    await signed_post(api, "/users/alice/inbox", group.wrap("Accept", group.actor, follow), group.actor, expect=202)
    await _sweep(api)
    board = (await api.get(f"{BOARDS}/{asked['id']}", token=alice, expect=200)).body
    assert (board.get("your_role"), board.get("joining"), board["member_count"], board["can_moderate"]) == ("member", None, 1, False)
    listed = (await api.get(BOARDS, token=alice, expect=200)).body["items"]
    assert [(b["id"], b["home"]) for b in listed] == [(asked["id"], f"127.0.0.1:{remote.port}")]

    # leaving sends Undo{Follow} and drops the membership
    await api.post(f"{BOARDS}/{asked['id']}/leave", token=alice, expect=204)
    await _sweep(api)
    [undo] = _sent(remote, "Undo")
    assert (undo["object"]["type"], undo["object"]["id"], undo["object"]["object"]) == ("Follow", follow["id"], group.uri)
    board = (await api.get(f"{BOARDS}/{asked['id']}", token=alice, expect=200)).body
    assert (board.get("your_role"), board["member_count"], board.get("joining")) == (None, 0, None)


async def test_mirror__not_a_group_is_422_and_a_reject_keeps_its_reason(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    zed = await api.user("zed")
    assert_problem(await api.post("/api/v1/remote-boards", {"group": f"bob@127.0.0.1:{remote.port}"}, token=zed),
                   422, "not-a-group")
    remote.gone = {"cafe"}  # its document answers 410: nothing is stored
    assert_problem(await api.post("/api/v1/remote-boards", {"group": f"cafe@127.0.0.1:{remote.port}"}, token=zed),
                   422, "remote-actor-unavailable")
    remote.gone = set()
    assert_problem(await api.post("/api/v1/remote-boards", {"group": "cafe"}, token=zed), 400, "invalid-target")
    assert not await Board.exists() and not await Follow.exists()
    remote.extra["cafe"] = CAFE_TERMS
    asked = (await api.post("/api/v1/remote-boards", {"group": f"!cafe@127.0.0.1:{remote.port}"}, token=zed,
                            expect=200)).body
    await _sweep(api)
    [follow] = _sent(remote, "Follow")
    group = Group(remote)
    reject = group.wrap("Reject", group.actor, follow, content="<p>You are banned: spam</p>")
    await signed_post(api, "/users/zed/inbox", reject, group.actor, expect=202)
    await _sweep(api)
    board = (await api.get(f"{BOARDS}/{asked['id']}", token=zed, expect=200)).body
    assert (board.get("your_role"), board.get("joining"), board.get("refused_because")) == (None, "refused", "You are banned: spam")
    assert_problem(await api.post(f"{BOARDS}/{asked['id']}/entries", {"body": "hi"}, token=zed), 403, "not-a-board-member")
    # asking again sends a new Follow
    again = (await api.post(f"{BOARDS}/{asked['id']}/join", token=zed, expect=200)).body
    assert again.get("joining") == "pending"
    await _sweep(api)
    assert len(_sent(remote, "Follow")) == 2


async def test_mirror__entries_from_the_group_its_members_and_a_third_server(
    fed_api: Api, remote: Remote, far: Remote,
) -> None:
    api = fed_api
    group, alice, board = await _joined(api, remote)
    bob, carol = group.member("bob"), group.member("carol")
    top = group.note(bob, 1, "Which **coins** do you keep?")
    assert await group.announce(api, group.wrap("Create", bob, top)) == "stored board entry"
    reply = group.note(carol, 2, "Old ones", reply_to=top["id"])
    assert await group.announce(api, group.wrap("Create", carol, reply)) == "stored board entry"
    [entry] = await _entries(api, board)
    assert (entry["author"], entry["body"], entry["url"], entry["reply_count"]) == (
        f"bob@127.0.0.1:{remote.port}", "Which **coins** do you keep?", top["id"], 1)
    thread = (await api.get(f"/api/v1/entries/{entry['id']}", expect=200)).body
    assert [(r["author"], r["body"]) for r in thread["replies"]] == [(f"carol@127.0.0.1:{remote.port}", "Old ones")]
    # the same Create again stores nothing new; an Update by its author is a new version
    assert await group.announce(api, group.wrap("Create", bob, top)) == "ignored: no change"
    changed = {**top, "source": {"content": "Which coins do you keep now?", "mediaType": "text/markdown"}}
    assert await group.announce(api, group.wrap("Update", bob, changed)) == "updated board entry"
    got = (await api.get(f"/api/v1/entries/{entry['id']}", expect=200)).body
    assert (got["body"], got["version"]) == ("Which coins do you keep now?", 2)
    assert (await api.get(f"/api/v1/entries/{entry['id']}/history", expect=200)).body["items"][0]["body"] == top["source"]["content"]

    # dave on a third server: taken with a valid proof, refused with a bad one
    dave = far.actor("dave")
    signed = sign_object(group.note(dave, 7, "From far away", reply_to=top["id"]), FAR_KEY, f"{dave.uri}#ed25519-key")
    assert await group.announce(api, group.wrap("Create", dave, signed)) == "stored board entry"
    forged = {**sign_object(group.note(dave, 8, "Honest words"), FAR_KEY, f"{dave.uri}#ed25519-key"),
              "source": {"content": "Forged words", "mediaType": "text/markdown"}}
    outcome = await group.announce(api, group.wrap("Create", dave, forged))
    assert outcome.startswith("ignored: refused:"), outcome
    assert not await BoardEntry.exists(uri=forged["id"])
    # without a proof, an entry of a third server is taken as its own server serves it
    served = group.note(dave, 9, "What dave really said")
    far.objects["notes/9"] = served
    claimed = {**served, "source": {"content": "Words put in dave's mouth", "mediaType": "text/markdown"}}
    assert await group.announce(api, group.wrap("Create", dave, claimed)) == "stored board entry"
    assert (await BoardEntry.get(uri=served["id"])).body == "What dave really said"
    assert [e["body"] for e in await _entries(api, board)] == ["What dave really said", "Which coins do you keep now?"]

    # a Mastodon-shaped post (HTML, no source) addressed to the group, announced by itself
    toot = {"id": f"{remote.base}/objects/notes/20", "type": "Note", "attributedTo": bob.uri, "to": [group.uri],
            "content": "<p>Hello <a href=\"x\">@cafe</a></p><p>second &amp; last</p>"}
    assert await group.announce(api, toot) == "stored board entry"
    assert (await BoardEntry.get(uri=toot["id"])).body == "Hello @cafe\n\nsecond & last"
    # an Announce naming the activity by its URL: fetched from its server
    by_url = {**group.wrap("Create", bob, group.note(bob, 22, "Fetched")), "id": f"{remote.base}/objects/activities/22"}
    remote.objects["activities/22"] = by_url
    assert await group.announce(api, by_url["id"]) == "stored board entry"
    assert (await BoardEntry.get(uri=by_url["object"]["id"])).body == "Fetched"
    # a Lemmy-shaped post: a Page with a title of its own and its markdown in `source`
    page = {**group.note(bob, 21, "Mine are *old*"), "type": "Page", "name": "My coins", "published": "2026-01-02T03:04:05Z"}
    assert await group.announce(api, group.wrap("Create", bob, page)) == "stored board entry"
    stored = await BoardEntry.get(uri=page["id"])
    assert (stored.body, stored.created_at) == ("**My coins**\n\nMine are *old*", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


async def test_mirror__a_reply_before_its_parent_waits_and_an_update_of_the_group_changes_its_rules(
    fed_api: Api, remote: Remote,
) -> None:
    api = fed_api
    group, alice, board = await _joined(api, remote)
    bob, carol = group.member("bob"), group.member("carol")
    top = group.note(bob, 1, "First")
    early = group.wrap("Create", carol, group.note(carol, 2, "Second", reply_to=top["id"]))
    assert await group.announce(api, early) == ""  # not processed yet: retried later
    assert not await BoardEntry.exists(board_id=board["id"])
    assert await group.announce(api, group.wrap("Create", bob, top)) == "stored board entry"
    await process_due(site_of(api), now=datetime.now(UTC) + timedelta(days=1))
    replied = await BoardEntry.get(uri=f"{remote.base}/objects/notes/2")
    assert (replied.parent_id, replied.depth) == ((await BoardEntry.get(uri=top["id"])).id, 1)

    remote.extra["cafe"] = {**CAFE_TERMS, "name": "Cafe Two", "votesAllowed": False}
    update = group.wrap("Update", group.actor, group.actor.document())
    await signed_post(api, "/inbox", update, group.actor, expect=202)
    await _sweep(api)
    shown = (await api.get(f"{BOARDS}/{board['id']}", token=alice, expect=200)).body
    assert (shown["name"], shown["votes_allowed"], shown.get("your_role")) == ("Cafe Two", False, "member")
    assert_problem(await api.put(f"/api/v1/entries/{replied.id}/votes", {"value": "up"}, token=alice), 403, "votes-off")


async def test_mirror__votes_are_counted_exactly_and_deletes_tombstone(fed_api: Api, remote: Remote, far: Remote) -> None:
    api = fed_api
    group, alice, board = await _joined(api, remote)
    bob, carol = group.member("bob"), group.member("carol")
    top = group.note(bob, 1, "Vote on me")
    await group.announce(api, group.wrap("Create", bob, top))
    [entry] = await _entries(api, board)

    async def counts() -> tuple[int, int]:
        got = await BoardEntry.get(id=entry["id"])
        return got.up, got.down

    like = group.wrap("Like", carol, top["id"])
    assert await group.announce(api, like) == "vote counted"
    assert await group.announce(api, group.wrap("Like", carol, top["id"])) == "ignored: the vote stood so"
    assert await counts() == (1, 0)
    assert await group.announce(api, group.wrap("Like", bob, top["id"])) == "vote counted"
    dislike = group.wrap("Dislike", carol, top["id"])
    assert await group.announce(api, dislike) == "vote counted"
    assert await counts() == (1, 1)
    assert await group.announce(api, group.wrap("Undo", carol, dislike)) == "vote taken back"
    assert await group.announce(api, group.wrap("Undo", carol, dislike)) == "ignored: no such vote"
    assert await counts() == (1, 0)

    # deleted by someone of a third server the group does not name: refused; by its author: a
    # tombstone that keeps its place; by a moderator the group names, or one of its own server: too
    eve, mod = far.actor("eve"), far.actor("mod")
    assert (await group.announce(api, group.wrap("Delete", eve, top["id"]))).startswith("ignored: deleted by someone")
    assert await group.announce(api, group.wrap("Delete", bob, top["id"])) == "deleted board entry"
    got = (await api.get(f"/api/v1/entries/{entry['id']}", expect=200)).body
    assert (got["deleted"], got["body"], got["author"]) == (True, "", None)
    assert await group.announce(api, group.wrap("Create", bob, top)) == "ignored: the entry was deleted"
    second, third = group.note(bob, 2, "Second"), group.note(bob, 3, "Third")
    for note in (second, third):
        await group.announce(api, group.wrap("Create", bob, note))
    remote.extra["cafe"] = {**CAFE_TERMS, "moderators": [mod.uri]}
    assert await group.announce(api, group.wrap("Delete", mod, second["id"])) == "deleted board entry"
    assert await group.announce(api, group.wrap("Delete", carol, {"id": third["id"], "type": "Tombstone"})) == (
        "deleted board entry")


async def test_mirror__a_block_bans_our_user_and_its_undo_lifts_it(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    group, alice, board = await _joined(api, remote)
    await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "Before the ban"}, token=alice, expect=201)
    block = group.wrap("Block", group.actor, f"{OURS}/users/alice", target=group.uri, summary="Spam")
    assert await group.announce(api, block) == "banned from board"
    shown = (await api.get(f"{BOARDS}/{board['id']}", token=alice, expect=200)).body
    assert (shown["banned"], shown.get("your_role"), shown["member_count"]) == (True, None, 0)
    problem = assert_problem(await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "After"}, token=alice),
                             403, "banned-from-board")
    assert "Spam" in problem["detail"]
    assert_problem(await api.post(f"{BOARDS}/{board['id']}/join", token=alice), 403, "banned-from-board")
    # a Block sent straight to our user, Undo{Block} passed on: the ban is lifted and they may ask again
    undo = group.wrap("Undo", group.actor, block)
    await signed_post(api, "/users/alice/inbox", undo, group.actor, expect=202)
    await _sweep(api)
    assert (await InboxActivity.get(activity_uri=undo["id"])).outcome == "ban lifted"
    shown = (await api.get(f"{BOARDS}/{board['id']}", token=alice, expect=200)).body
    assert shown["banned"] is False
    again = (await api.post(f"{BOARDS}/{board['id']}/join", token=alice, expect=200)).body
    assert again.get("joining") == "pending"


async def test_mirror__our_posts_and_votes_go_to_the_group_signed(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    group, alice, board = await _joined(api, remote)
    bob = group.member("bob")
    top = group.note(bob, 1, "Vote on me")
    await group.announce(api, group.wrap("Create", bob, top))
    [theirs] = await _entries(api, board)

    made = (await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "Mine *too*"}, token=alice, expect=201)).body
    reply = (await api.post(f"/api/v1/entries/{theirs['id']}/replies", {"body": "Agreed"}, token=alice, expect=201)).body
    await _sweep(api)
    creates = _sent(remote, "Create")
    assert [c["object"]["source"]["content"] for c in creates] == ["Mine *too*", "Agreed"]
    first, second = creates
    assert (first["actor"], first["object"]["type"], first["object"]["id"]) == (
        f"{OURS}/users/alice", "Page", f"{OURS}/boards/{board['id']}/entries/{made['id']}")
    assert group.uri in first["to"] and first["audience"] == group.uri
    assert first["object"]["proof"]["verificationMethod"] == f"{OURS}/users/alice#ed25519-key"
    assert (second["object"]["type"], second["object"]["inReplyTo"]) == ("Note", top["id"])
    # our entry coming back through the group is not stored twice
    assert await group.announce(api, group.wrap("Create", group.actor, first["object"])) == "ignored: ours (already here)"
    assert (await BoardEntry.filter(board_id=board["id"]).count()) == 3

    await api.put(f"/api/v1/entries/{theirs['id']}/votes", {"value": "up"}, token=alice, expect=200)
    await api.delete(f"/api/v1/entries/{theirs['id']}/votes", token=alice, expect=200)
    await api.call("PATCH", f"/api/v1/entries/{made['id']}", json={"body": "Mine, edited"}, token=alice, expect=200)
    await _sweep(api)  # an edit of an entry deleted meanwhile is not sent
    await api.delete(f"/api/v1/entries/{made['id']}", token=alice, expect=200)
    await _sweep(api)
    [like] = _sent(remote, "Like")
    assert (like["actor"], like["object"]) == (f"{OURS}/users/alice", top["id"])
    [undo] = _sent(remote, "Undo")
    assert (undo["object"]["type"], undo["object"]["id"]) == ("Like", like["id"])
    [update] = _sent(remote, "Update")
    assert update["object"]["source"]["content"] == "Mine, edited"
    [delete] = _sent(remote, "Delete")
    assert delete["object"] == f"{OURS}/boards/{board['id']}/entries/{made['id']}"
    # our vote came back through the group: counted once
    assert await group.announce(api, group.wrap("Like", f"{OURS}/users/alice", top["id"])) == "ignored: ours (already here)"
    assert (await BoardEntry.get(id=theirs["id"])).up == 0


async def test_mirror__a_review_of_a_subject_of_the_groups_server(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    group, alice, board = await _joined(api, remote, terms={**CAFE_TERMS, "boardKind": "review", "votesAllowed": False})
    assert (board["kind"], board["votes_allowed"]) == ("review", False)
    review = {"id": board["id"], "body": "Fine coin", "subject_kind": "token", "subject_id": "01theirtoken", "rating": 4}
    await api.post(f"{BOARDS}/{board['id']}/entries", review, token=alice, expect=201)
    assert_problem(await api.post(f"{BOARDS}/{board['id']}/entries", review, token=alice), 409, "already-reviewed")
    await _sweep(api)
    [create] = _sent(remote, "Create")
    assert (create["object"]["rating"], create["object"]["subject"]) == (4, {"kind": "token", "id": "01theirtoken"})
    bob = group.member("bob")
    theirs = {**group.note(bob, 5, "Too shiny"), "type": "Page", "rating": 2, "subject": {"kind": "token", "id": "01theirtoken"}}
    assert await group.announce(api, group.wrap("Create", bob, theirs)) == "stored board entry"
    summary = (await api.get("/api/v1/reviews/token/01theirtoken/summary", token=alice, expect=200)).body
    assert (summary["count"], summary["mean"]) == (2, 3.0)


async def test_mirror__only_its_own_server_manages_it(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    _, alice, board = await _joined(api, remote)
    admin = await api.user("root", roles=["admin"])
    path = f"{BOARDS}/{board['id']}"
    for token in (alice, admin):
        assert_problem(await api.patch(path, {"name": "Ours now"}, token=token), 409, "remote-board")
        assert_problem(await api.post(f"{path}/invites", {}, token=token), 409, "remote-board")
        assert_problem(await api.post(f"{path}/bans", {"username": "alice", "reason": "x"}, token=token), 409, "remote-board")
        assert_problem(await api.put(f"{path}/members/alice/role", {"role": "moderator"}, token=token), 409, "remote-board")
    assert (await api.get(path, token=alice, expect=200)).body["name"] == "Cafe"


async def test_mirror__pages_show_where_the_board_lives_and_a_pending_join(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    remote.extra["cafe"] = CAFE_TERMS
    browser = Browser(api.client)
    await browser.sign_up("alice")
    listing = await browser.get("/app/boards", expect=200)
    assert "Join a board on another server" in listing
    wrong = await browser.post("/app/boards/elsewhere", {"group": "nobody"}, csrf=listing.csrf(), expect=400)
    assert wrong.field_error("group")
    joined = await browser.post("/app/boards/elsewhere", {"group": f"!cafe@127.0.0.1:{remote.port}"},
                                csrf=listing.csrf(), expect=200)
    assert_labelled(joined.text)
    assert_fits_phone(joined.text)
    assert "Asked to join" in joined and f"lives on {'127.0.0.1:' + str(remote.port)}" in joined
    assert "pending until" in joined and "Members, invites and bans" not in joined
    assert re.search(r"/app/boards/[0-9a-z]{26}/leave", joined.text)
    listing = await browser.get("/app/boards", expect=200)
    assert f"on 127.0.0.1:{remote.port}" in listing
    assert_labelled(listing.text)
    assert_fits_phone(listing.text)
    # the group says no: the page gives its reason and offers to ask again
    await _sweep(api)
    [follow] = _sent(remote, "Follow")
    group = Group(remote)
    reject = group.wrap("Reject", group.actor, follow["id"], summary="Members of the guild only")
    await signed_post(api, "/users/alice/inbox", reject, group.actor, expect=202)
    await _sweep(api)
    board_path = re.search(r"/app/boards/[0-9a-z]{26}", joined.url)
    assert board_path, joined.url
    refused = await browser.get(board_path.group(0), expect=200)
    assert "refused your request to join: Members of the guild only." in refused and "Ask again" in refused
    assert_fits_phone(refused.text)


# ---------------------------------------------------------------- refusals from the group, attachments


async def _reject(api: Api, group: Group, name: str, obj: Any, reason: str, *, by: FakeActor | None = None) -> str:
    """The group (or `by`) sends Reject{obj} to our user's inbox; the inbox row's outcome."""
    signer = by or group.actor
    reject = group.wrap("Reject", signer, obj, summary=reason)
    await signed_post(api, f"/users/{name}/inbox", reject, signer, expect=202)
    await _sweep(api)
    return (await InboxActivity.get(activity_uri=reject["id"])).outcome or ""


async def test_mirror__a_reject_marks_our_post_refused_for_its_author_only(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    group, alice, board = await _joined(api, remote)
    erin = await api.user("erin")  # another of our users, reading the public board
    bob = group.member("bob")
    top = group.note(bob, 1, "Vote on me")
    assert await group.announce(api, group.wrap("Create", bob, top)) == "stored board entry"
    [theirs] = await _entries(api, board)
    made = (await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "Mine"}, token=alice, expect=201)).body
    await api.put(f"/api/v1/entries/{theirs['id']}/votes", {"value": "up"}, token=alice, expect=200)
    await _sweep(api)
    [create] = _sent(remote, "Create")
    [like] = _sent(remote, "Like")
    assert (await api.get(f"{BOARDS}/{board['id']}", token=alice, expect=200)).body["entry_count"] == 2

    # a Reject from someone else than the group changes nothing
    outcome = await _reject(api, group, "alice", {"id": create["id"], "type": "Create"}, "fake", by=bob)
    assert outcome.startswith("ignored"), outcome
    assert (await api.get(f"/api/v1/entries/{made['id']}", token=alice, expect=200)).body["refused"] is None

    # the group refused the post (embedded, as Tallystick sends it): only alice sees it, with the reason
    refused = {"id": create["id"], "type": "Create", "actor": create["actor"], "object": create["object"]["id"]}
    outcome = await _reject(api, group, "alice", refused, "you are banned from this board: rude")
    assert outcome == "entry refused by the group: you are banned from this board: rude"
    words = f"Not accepted by cafe@127.0.0.1:{remote.port}: you are banned from this board: rude"
    mine = (await api.get(f"/api/v1/entries/{made['id']}", token=alice, expect=200)).body
    assert (mine["refused"], mine["yours"]) == (words, True)
    assert [e["id"] for e in await _entries(api, board, alice)] == [made["id"], theirs["id"]]
    assert [e["id"] for e in await _entries(api, board, erin)] == [theirs["id"]]
    assert [e["id"] for e in await _entries(api, board)] == [theirs["id"]]
    assert_problem(await api.get(f"/api/v1/entries/{made['id']}", token=erin), 404, "entry-not-found")
    assert (await api.get(f"{BOARDS}/{board['id']}", token=alice, expect=200)).body["entry_count"] == 1
    # it is not on the board: no replies, no votes
    assert_problem(await api.post(f"/api/v1/entries/{made['id']}/replies", {"body": "hm"}, token=alice), 409,
                   "entry-refused")
    assert_problem(await api.put(f"/api/v1/entries/{made['id']}/votes", {"value": "up"}, token=erin), 404,
                   "entry-not-found")
    assert_problem(await api.put(f"/api/v1/entries/{made['id']}/votes", {"value": "up"}, token=alice), 409,
                   "entry-refused")
    # the same Reject again changes nothing more
    assert await _reject(api, group, "alice", refused, "again") == "ignored: already refused"
    assert (await api.get(f"{BOARDS}/{board['id']}", token=alice, expect=200)).body["entry_count"] == 1

    # a refused vote (named by its id) is taken back here: the counts return
    assert (await BoardEntry.get(id=theirs["id"])).up == 1
    outcome = await _reject(api, group, "alice", like["id"], "votes are off on this board")
    assert outcome == "vote taken back: the group refused it: votes are off on this board"
    counted = (await api.get(f"/api/v1/entries/{theirs['id']}", token=alice, expect=200)).body
    assert (counted["up"], counted["your_vote"]) == (0, None)
    await _sweep(api)
    assert _sent(remote, "Undo") == []  # nothing to take back on the group: it never counted it
    # a refused edit leaves the entry standing (the group keeps the words it had); the row says why
    second = (await api.post(f"{BOARDS}/{board['id']}/entries", {"body": "Second"}, token=alice, expect=201)).body
    await api.call("PATCH", f"/api/v1/entries/{second['id']}", json={"body": "Second, longer"}, token=alice, expect=200)
    await _sweep(api)
    [update] = _sent(remote, "Update")
    outcome = await _reject(api, group, "alice", update["id"], "the text is too long")
    assert outcome == "edit not taken by the group: the text is too long"
    assert (await api.get(f"/api/v1/entries/{second['id']}", token=erin, expect=200)).body["refused"] is None

    # the thread page tells alice, without reply form or vote buttons
    browser = Browser(api.client)
    await browser.sign_in("alice")
    page = await browser.get(f"/app/posts/{made['id']}", expect=200)
    assert words in page and "Only you see this entry" in page
    assert "Your reply" not in page and f"/app/posts/{made['id']}/up" not in page.text
    assert_labelled(page.text)
    assert_fits_phone(page.text)


async def test_mirror__attachments_from_elsewhere_are_links(fed_api: Api, remote: Remote) -> None:
    api = fed_api
    group, alice, board = await _joined(api, remote, terms={**CAFE_TERMS, "mediaAllowed": True})
    bob = group.member("bob")
    files = [{"type": "Image", "url": f"https://pics.example/{n}.png", "mediaType": "image/png"} for n in range(6)]
    note = {**group.note(bob, 1, "Pictures"),
            "attachment": [{"type": "Document", "url": "data:image/png;base64,AAAA", "mediaType": "image/png"}, *files]}
    assert await group.announce(api, group.wrap("Create", bob, note)) == "stored board entry"
    [entry] = await _entries(api, board, alice)
    assert [m["url"] for m in entry["remote_media"]] == [f"https://pics.example/{n}.png" for n in range(4)]
    assert {m["media_type"] for m in entry["remote_media"]} == {"image/png"}
    # an Update with other files: the links follow
    changed = {**note, "attachment": [{"type": "Document", "url": "https://pics.example/menu.pdf",
                                       "mediaType": "application/pdf", "name": "Menu"}]}
    assert await group.announce(api, group.wrap("Update", bob, changed)) == "updated board entry's attachments"
    got = (await api.get(f"/api/v1/entries/{entry['id']}", token=alice, expect=200)).body
    assert got["remote_media"] == [{"url": "https://pics.example/menu.pdf", "media_type": "application/pdf", "name": "Menu"}]
    page = await Browser(api.client).get(f"/app/boards/{board['id']}", expect=200)
    assert 'href="https://pics.example/menu.pdf"' in page.text and "file (pdf) “Menu” from pics.example" in page
    assert "<img" not in page.text.split("Pictures", 1)[1]
    # a chat room's script gets them with each new message (server/static/boards-chat.js links them)
    events = await api.client.get(f"/app/boards/{board['id']}/events", headers={"Last-Event-ID": "0"})
    assert events.status == 200 and await events.content.readuntil(b"\n\n") == b"retry: 3000\n\n"
    event = (await events.content.readuntil(b"\n\n")).decode()
    events.close()
    data = orjson.loads(event.split("\ndata: ", 1)[1])  # PostgreSQL's JSONB keeps no key order: compare values
    assert data["remote_media"] == [{"url": "https://pics.example/menu.pdf", "media_type": "application/pdf", "name": "Menu"}]

"""Boards (issue 22): chat rooms, discussion threads, review boards; entries with markdown, media,
edits with history, tombstones, replies and votes; members, invites, bans, mutes. Every refusal
is a clear 4xx and stores nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from models.boards import BoardBan, BoardEntry, BoardVote
from models.events import Event
from server.settings import Settings

from .conftest import Api, assert_problem
from .dbutil import test_settings as settings_for

BOARDS = "/api/v1/boards"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for(tmp_path, database_url,
                        limits={"board_markdown_max_chars": 200, "board_media_per_entry": 1, "max_media_bytes": 1024})


async def board(api: Api, token: str, **spec: Any) -> dict[str, Any]:
    made = await api.post(BOARDS, {"name": "Talk", "kind": "discussion", **spec}, token=token, expect=201)
    assert made.headers["Location"] == f"{BOARDS}/{made.body['id']}"
    return dict(made.body)


async def post(api: Api, token: str, board_id: str, body: str = "hello", **more: Any) -> dict[str, Any]:
    made = await api.post(f"{BOARDS}/{board_id}/entries", {"body": body, **more}, token=token, expect=201)
    return dict(made.body)


async def join(api: Api, token: str, board_id: str) -> None:
    await api.post(f"{BOARDS}/{board_id}/join", token=token, expect=200)


async def test_boards__chat_room_lists_newest_last_and_catches_up_after(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    room = await board(api, alice, name="Lobby", kind="chat")
    assert room["your_role"] == "owner" and room["member_count"] == 1
    await join(api, bob, room["id"])
    first = await post(api, alice, room["id"], "*hi* <script>alert(1)</script>")
    assert "<em>hi</em>" in first["html"] and "<script" not in first["html"]
    second = await post(api, bob, room["id"], "hello alice")
    listed = await api.get(f"{BOARDS}/{room['id']}/entries", token=bob, expect=200)
    assert [item["id"] for item in listed.body["items"]] == [first["id"], second["id"]]
    after = await api.get(f"{BOARDS}/{room['id']}/entries", params={"after": first["id"]}, expect=200)
    assert [item["body"] for item in after.body["items"]] == ["hello alice"]
    assert await Event.filter(name="board.entry.created").count() == 2


async def test_boards__thread_replies_to_any_depth_and_tombstone_keeps_place(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    talk = await board(api, alice)
    await join(api, bob, talk["id"])
    top = await post(api, alice, talk["id"], "What do you collect?")
    one = (await api.post(f"/api/v1/entries/{top['id']}/replies", {"body": "Coins"}, token=bob, expect=201)).body
    two = await post(api, alice, talk["id"], "Which ones?", parent=one["id"])
    three = await post(api, bob, talk["id"], "Old ones", parent=two["id"])
    assert three["depth"] == 3 and three["thread"] == top["id"]
    await api.delete(f"/api/v1/entries/{two['id']}", token=alice, expect=200)
    thread = (await api.get(f"/api/v1/entries/{top['id']}", expect=200)).body
    gone = thread["replies"][0]["replies"][0]
    assert gone["deleted"] and gone["body"] == "" and gone["author"] is None
    assert gone["replies"][0]["body"] == "Old ones"
    assert thread["reply_count"] == 1
    listed = await api.get(f"{BOARDS}/{talk['id']}/entries", params={"sort": "new"}, expect=200)
    assert [item["id"] for item in listed.body["items"]] == [top["id"]]  # threads only


async def test_boards__edit_keeps_history(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    talk = await board(api, alice)
    entry = await post(api, alice, talk["id"], "first words")
    edited = await api.patch(f"/api/v1/entries/{entry['id']}", {"body": "second words"}, token=alice, expect=200)
    assert edited.body["version"] == 2 and edited.body["edited_at"]
    history = await api.get(f"/api/v1/entries/{entry['id']}/history", expect=200)
    assert [(item["version"], item["body"]) for item in history.body["items"]] == [(1, "first words")]
    refused = await api.patch(f"/api/v1/entries/{entry['id']}", {"body": "mine now"}, token=bob)
    assert_problem(refused, 403, "not-the-author")
    stale = await api.patch(f"/api/v1/entries/{entry['id']}", {"body": "x"}, token=alice, headers={"If-Match": '"1"'})
    assert_problem(stale, 409, "version-mismatch")


async def test_boards__bad_input_is_refused_and_nothing_is_stored(api: Api) -> None:
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    talk = await board(api, alice, replies_allowed=False)
    entries = f"{BOARDS}/{talk['id']}/entries"
    assert_problem(await api.post(entries, {"body": "x" * 201}, token=alice), 413, "body-too-long")
    assert_problem(await api.post(entries, {"body": "hi"}, token=bob), 403, "not-a-board-member")
    assert_problem(await api.post(entries, {"body": "hi"}), 401)
    top = await post(api, alice, talk["id"])
    assert_problem(await api.post(entries, {"body": "re", "parent": top["id"]}, token=alice), 403, "replies-off")
    assert_problem(await api.post(entries, {"body": "hi", "rating": 4}, token=alice), 400, "not-a-review-board")
    assert_problem(await api.post(entries, {"body": "  "}, token=alice), 400, "empty-entry")
    assert_problem(await api.post(BOARDS, {"name": "R", "kind": "review", "votes_allowed": True}, token=alice), 400)
    assert_problem(await api.post(BOARDS, {"name": "", "kind": "chat"}, token=alice), 400, "validation-failed")
    secret = await board(api, alice, visibility="invite")
    assert_problem(await api.get(f"{BOARDS}/{secret['id']}", token=carol), 404, "board-not-found")
    assert_problem(await api.post(f"{BOARDS}/{secret['id']}/join", token=carol), 404, "board-not-found")
    assert await BoardEntry.all().count() == 1


async def test_boards__review_one_per_user_per_subject_and_summary(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    coin = (await api.post("/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2},
                           token=alice, expect=201)).body["id"]
    reviews = await board(api, alice, name="Reviews", kind="review", members_only=False)
    review = {"subject_kind": "type", "subject_id": coin}
    await post(api, alice, reviews["id"], "Solid", rating=5, **review)
    await post(api, bob, reviews["id"], "Meh", rating=2, **review)
    again = await api.post(f"{BOARDS}/{reviews['id']}/entries", {"body": "Again", "rating": 1, **review}, token=bob)
    assert_problem(again, 409, "already-reviewed")
    missing = await api.post(f"{BOARDS}/{reviews['id']}/entries", {"body": "?", "rating": 3, "subject_kind": "type",
                                                                    "subject_id": "nothing"}, token=bob)
    assert_problem(missing, 404, "subject-not-found")
    assert_problem(await api.post(f"{BOARDS}/{reviews['id']}/entries", {"body": "no stars", **review}, token=bob), 400,
                   "review-incomplete")
    summary = await api.get(f"/api/v1/reviews/type/{coin}/summary", expect=200)
    assert summary.body["count"] == 2 and summary.body["mean"] == 3.5 and summary.body["stars"]["5"] == 1
    listed = await api.get(f"/api/v1/reviews/type/{coin}", expect=200)
    assert [item["body"] for item in listed.body["items"]] == ["Meh", "Solid"]
    assert await BoardEntry.filter(board_id=reviews["id"]).count() == 2


async def test_boards__votes_one_per_user_changeable(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    talk = await board(api, alice, votes_allowed=True, members_only=False)
    entry = await post(api, alice, talk["id"])
    votes = f"/api/v1/entries/{entry['id']}/votes"
    assert (await api.put(votes, {"value": "up"}, token=bob, expect=200)).body["up"] == 1
    assert_problem(await api.put(votes, {"value": "up"}, token=bob), 409, "already-voted")
    changed = await api.put(votes, {"value": "down"}, token=bob, expect=200)
    assert (changed.body["up"], changed.body["down"], changed.body["score"]) == (0, 1, -1)
    back = await api.delete(votes, token=bob, expect=200)
    assert (back.body["up"], back.body["down"]) == (0, 0)
    assert_problem(await api.delete(votes, token=bob), 404, "vote-not-found")
    no_votes = await board(api, alice)
    other = await post(api, alice, no_votes["id"])
    assert_problem(await api.put(f"/api/v1/entries/{other['id']}/votes", {"value": "up"}, token=alice), 403, "votes-off")
    assert await BoardVote.all().count() == 0


async def test_boards__200_concurrent_votes_count_exactly(api: Api) -> None:
    alice = await api.user("alice")
    talk = await board(api, alice, votes_allowed=True, members_only=False)
    entry = await post(api, alice, talk["id"])
    voters = [await api.user(f"voter{n}") for n in range(200)]
    replies = await asyncio.gather(*[
        api.put(f"/api/v1/entries/{entry['id']}/votes", {"value": "up" if n % 4 else "down"}, token=token)
        for n, token in enumerate(voters)
    ])
    assert [reply.status for reply in replies] == [200] * 200
    counted = (await api.get(f"/api/v1/entries/{entry['id']}", expect=200)).body
    assert (counted["up"], counted["down"]) == (150, 50)
    assert await BoardVote.filter(entry_id=entry["id"]).count() == 200


async def test_boards__bans_stop_posting_but_public_reading_goes_on(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    talk = await board(api, alice, votes_allowed=True)
    await join(api, bob, talk["id"])
    entry = await post(api, bob, talk["id"], "before the ban")
    assert_problem(await api.post(f"{BOARDS}/{talk['id']}/bans", {"username": "bob", "reason": "x"}, token=bob), 403,
                   "not-a-board-moderator")
    ban = await api.post(f"{BOARDS}/{talk['id']}/bans", {"username": "bob", "reason": "spam", "expires_in_hours": 24},
                         token=alice, expect=201)
    assert ban.body["reason"] == "spam" and ban.body["expires_at"]
    refused = await api.post(f"{BOARDS}/{talk['id']}/entries", {"body": "still here"}, token=bob)
    assert "spam" in assert_problem(refused, 403, "banned-from-board")["detail"]
    assert await BoardEntry.filter(board_id=talk["id"]).count() == 1
    assert_problem(await api.put(f"/api/v1/entries/{entry['id']}/votes", {"value": "up"}, token=bob), 403, "banned-from-board")
    assert_problem(await api.post(f"{BOARDS}/{talk['id']}/join", token=bob), 403, "banned-from-board")
    assert (await api.get(f"{BOARDS}/{talk['id']}/entries", token=bob, expect=200)).body["items"]
    bans = await api.get(f"{BOARDS}/{talk['id']}/bans", token=alice, expect=200)
    assert [item["username"] for item in bans.body["items"]] == ["bob@localhost"] or bans.body["items"][0]["username"].startswith("bob")
    await api.delete(f"{BOARDS}/{talk['id']}/bans/bob", token=alice, expect=204)
    await join(api, bob, talk["id"])
    await post(api, bob, talk["id"], "back again")


async def test_boards__invites_single_use_and_expiry(api: Api) -> None:
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    club = await board(api, alice, visibility="invite")
    once = await api.post(f"{BOARDS}/{club['id']}/invites", {"max_uses": 1}, token=alice, expect=201)
    code = once.body["code"]
    assert code in once.body["link"]
    await api.post(f"{BOARDS}/invites/accept", {"code": code}, token=bob, expect=200)
    assert_problem(await api.post(f"{BOARDS}/invites/accept", {"code": code}, token=carol), 410, "invite-used-up")
    assert_problem(await api.post(f"{BOARDS}/invites/accept", {"code": "x" * 20}, token=carol), 404, "invite-not-found")
    many = await api.post(f"{BOARDS}/{club['id']}/invites", {"max_uses": None}, token=alice, expect=201)
    await api.delete(f"{BOARDS}/{club['id']}/invites/{many.body['id']}", token=alice, expect=200)
    assert_problem(await api.post(f"{BOARDS}/invites/accept", {"code": many.body["code"]}, token=carol), 410,
                   "invite-expired")
    listed = await api.get(f"{BOARDS}/{club['id']}/invites", token=alice, expect=200)
    assert all("code" not in item or item["code"] is None for item in listed.body["items"])
    assert (await api.get(f"{BOARDS}/{club['id']}", token=bob, expect=200)).body["your_role"] == "member"
    assert_problem(await api.get(f"{BOARDS}/{club['id']}", token=carol), 404)


async def test_boards__mute_hides_entries_only_for_the_muter(api: Api) -> None:
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    room = await board(api, alice, kind="chat", members_only=False)
    await post(api, bob, room["id"], "noise")
    muted = await api.post(f"{BOARDS}/{room['id']}/mutes", {"username": "bob"}, token=carol, expect=200)
    assert muted.body["items"] == (await api.get(f"{BOARDS}/{room['id']}/mutes", token=carol, expect=200)).body["items"]
    assert len(muted.body["items"]) == 1 and muted.body["items"][0].startswith("bob@")
    assert (await api.get(f"{BOARDS}/{room['id']}/entries", token=carol, expect=200)).body["items"] == []
    assert len((await api.get(f"{BOARDS}/{room['id']}/entries", token=alice, expect=200)).body["items"]) == 1
    await api.delete(f"{BOARDS}/{room['id']}/mutes/bob", token=carol, expect=200)
    assert len((await api.get(f"{BOARDS}/{room['id']}/entries", token=carol, expect=200)).body["items"]) == 1


async def test_boards__media_attached_within_limits(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    talk = await board(api, alice)
    entry = await post(api, alice, talk["id"])
    url = f"/api/v1/entries/{entry['id']}/media"
    fake = await api.call("POST", url, token=alice, data=b"not a png", headers={"Content-Type": "image/png"})
    assert_problem(fake, 422, "media-content-mismatch")
    big = await api.call("POST", url, token=alice, data=PNG + b"\x00" * 1024, headers={"Content-Type": "image/png"})
    assert_problem(big, 413, "media-too-large")
    attached = await api.call("POST", url, token=alice, data=PNG, headers={"Content-Type": "image/png"}, expect=200)
    media = attached.body["media"][0]
    served = await api.client.get(f"{url}/{media}")
    assert served.status == 200 and served.headers["Content-Type"] == "image/png"
    assert await served.read() == PNG
    assert_problem(await api.call("POST", url, token=alice, data=PNG, headers={"Content-Type": "image/png"}), 409,
                   "too-many-media")
    assert_problem(await api.call("POST", url, token=bob, data=PNG, headers={"Content-Type": "image/png"}), 403)
    plain = await board(api, alice, media_allowed=False)
    other = await post(api, alice, plain["id"])
    refused = await api.call("POST", f"/api/v1/entries/{other['id']}/media", token=alice, data=PNG,
                             headers={"Content-Type": "image/png"})
    assert_problem(refused, 403, "media-off")


async def test_boards__moderators_named_by_owner_delete_others_entries(api: Api) -> None:
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    talk = await board(api, alice)
    await join(api, bob, talk["id"])
    await join(api, carol, talk["id"])
    entry = await post(api, carol, talk["id"], "off topic")
    assert_problem(await api.delete(f"/api/v1/entries/{entry['id']}", token=bob), 403, "not-the-author")
    assert_problem(await api.put(f"{BOARDS}/{talk['id']}/members/bob/role", {"role": "moderator"}, token=carol), 403)
    await api.put(f"{BOARDS}/{talk['id']}/members/bob/role", {"role": "moderator"}, token=alice, expect=200)
    deleted = await api.delete(f"/api/v1/entries/{entry['id']}", token=bob, expect=200)
    assert deleted.body["deleted"]
    members = await api.get(f"{BOARDS}/{talk['id']}/members", expect=200)
    assert [item["role"] for item in members.body["items"]] == ["owner", "moderator", "member"]
    changed = await api.patch(f"{BOARDS}/{talk['id']}", {"replies_allowed": False}, token=bob, expect=200)
    assert changed.body["replies_allowed"] is False and changed.body["version"] == 2
    await api.post(f"{BOARDS}/{talk['id']}/leave", token=carol, expect=204)
    assert_problem(await api.post(f"{BOARDS}/{talk['id']}/leave", token=alice), 409, "owner-cannot-leave")


async def test_boards__private_boards_are_listed_to_members_only(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    open_board = await board(api, alice, name="Open")
    closed = await board(api, alice, name="Closed", visibility="members")
    seen = await api.get(BOARDS, token=bob, expect=200)
    assert [item["id"] for item in seen.body["items"]] == [open_board["id"]]
    await join(api, bob, closed["id"])
    seen = await api.get(BOARDS, token=bob, expect=200)
    assert {item["id"] for item in seen.body["items"]} == {open_board["id"], closed["id"]}


async def test_boards__threads_sorted_top_hot_and_new(api: Api) -> None:
    alice, bob, carol = await api.user("alice"), await api.user("bob"), await api.user("carol")
    talk = await board(api, alice, votes_allowed=True, members_only=False)
    old, liked, fresh = [await post(api, alice, talk["id"], body) for body in ("old", "liked", "fresh")]
    for token in (bob, carol):
        await api.put(f"/api/v1/entries/{liked['id']}/votes", {"value": "up"}, token=token, expect=200)
    await api.put(f"/api/v1/entries/{old['id']}/votes", {"value": "down"}, token=bob, expect=200)
    entries = f"{BOARDS}/{talk['id']}/entries"

    async def order(sort: str | None) -> list[str]:
        reply = await api.get(entries, params={"sort": sort} if sort else None, expect=200)
        return [item["body"] for item in reply.body["items"]]

    assert await order("top") == ["liked", "fresh", "old"]
    assert await order("new") == ["fresh", "liked", "old"]
    assert await order(None) == ["liked", "fresh", "old"]  # hot: the default where votes are on
    assert_problem(await api.get(entries, params={"sort": "best"}), 400, "validation-failed")


async def test_boards__a_ban_ends_at_its_expiry(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    talk = await board(api, alice)
    await api.post(f"{BOARDS}/{talk['id']}/bans", {"username": "bob", "reason": "cool off", "expires_in_hours": 1},
                   token=alice, expect=201)
    assert_problem(await api.post(f"{BOARDS}/{talk['id']}/join", token=bob), 403, "banned-from-board")
    await BoardBan.filter(board_id=talk["id"]).update(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    await join(api, bob, talk["id"])
    await post(api, bob, talk["id"], "back after the hour")
    assert (await api.get(f"{BOARDS}/{talk['id']}/bans", token=alice, expect=200)).body["items"] == []


async def test_boards__mine_true_in_the_query_lists_only_my_boards(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    talk = await board(api, alice, name="Talk")
    await board(api, alice, name="Other")
    await join(api, bob, talk["id"])
    mine = await api.get(BOARDS, params={"mine": "true"}, token=bob, expect=200)
    assert [item["name"] for item in mine.body["items"]] == ["Talk"]
    everything = await api.get(BOARDS, params={"mine": "false"}, token=bob, expect=200)
    assert sorted(item["name"] for item in everything.body["items"]) == ["Other", "Talk"]

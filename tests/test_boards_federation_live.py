"""Issue 22's acceptance across servers: a board on A is a FEP-1b12 group; bob on B and carol on C
join it from their own servers (a thread posted before they joined is copied to them), post, reply and vote there; all three servers end up showing the
same thread (the same entries by the same people, in the same order, with the same counts and
replies); a moderator's deletion on A reaches B and C; a ban on A stops bob posting from B, and a
post B let through before it knew of the ban is refused by A and shown refused on B.

Three real servers on 127.0.0.1 with real signatures; nothing is mocked. The group's refusals of
single activities are in tests/test_boards_groups.py, the mirror's in tests/test_boards_mirrors.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from models.actors import Actor
from models.boards import BoardBan, BoardMember
from server.database import open_database

from . import dbutil
from .livesrv import LiveServer
from .test_federation_live import Instance, eventually, servers, trio  # noqa: F401

pytestmark = pytest.mark.slow
BOARDS = "/api/v1/boards"
ENTRIES = "/api/v1/entries"


def _shape(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What a reader sees of an entry and its replies, without the ids (each server has its own)."""
    return (
        entry["author"], entry["body"], entry["deleted"], entry["up"], entry["down"], entry["reply_count"],
        tuple(_shape(reply) for reply in entry.get("replies") or []),
    )


async def _threads(server: Instance, user: str, board: str) -> list[dict[str, Any]]:
    _, listed = await server.call("GET", f"{BOARDS}/{board}/entries", user, params={"sort": "new"}, expect=200)
    return list(listed["items"])


async def _thread(server: Instance, user: str, board: str, body: str) -> dict[str, Any] | None:
    """The thread whose top entry says `body`, with its replies, as `user` sees it on `server`."""
    for item in await _threads(server, user, board):
        if item["body"] == body:
            _, thread = await server.call("GET", f"{ENTRIES}/{item['id']}", user, expect=200)
            return dict(thread)
    return None


def _find(entry: dict[str, Any], body: str) -> dict[str, Any] | None:
    if entry["body"] == body:
        return entry
    for reply in entry.get("replies") or []:
        found = _find(reply, body)
        if found is not None:
            return found
    return None


async def _forget_ban(server: LiveServer, board: str, username: str) -> None:
    """Undo a ban on this server's copy of the board in its database, as if the group's Block had
    not reached it yet (a post sent then is one only the group can refuse)."""
    settings = dbutil.test_settings(Path(server.env["TALLYSTICK_DATA_DIR"]), server.env["TALLYSTICK_DATABASE_URL"])
    orm = await open_database(settings)
    try:
        user = await Actor.get(username=username, domain="")
        assert await BoardBan.filter(board_id=board, actor_id=user.id).delete() == 1
        await BoardMember.create(board_id=board, actor_id=user.id, role="member")
    finally:
        await orm.close_connections()


async def _join(server: Instance, user: str, group: str) -> str:
    """`user` joins the group from `server`; the id of the server's copy of the board, once a member."""
    _, board = await server.call("POST", "/api/v1/remote-boards", user, json={"group": group}, expect=200)

    async def member() -> bool:
        _, seen = await server.call("GET", f"{BOARDS}/{board['id']}", user, expect=200)
        return seen["your_role"] == "member"

    await eventually(member, f"{user} to be a member of {group} on {server.domain}")
    return str(board["id"])


async def test_live__members_on_b_and_c_post_reply_and_vote_on_a_board_of_a_and_all_agree(
    trio: tuple[Instance, Instance, Instance],  # noqa: F811
) -> None:
    a, b, c = trio
    a.user("alice")
    a.user("dave")
    b.user("bob")
    b.user("erin")  # reads the board on B, a member of nothing
    c.user("carol")
    for instance in trio:
        instance.server.start()
    _, board = await a.call("POST", BOARDS, "alice", json={
        "name": "Cafe", "kind": "discussion", "votes_allowed": True, "handle": "cafe"}, expect=201)
    await a.call("POST", f"{BOARDS}/{board['id']}/join", "dave", expect=200)
    # a thread of A before anyone elsewhere joined: B copies it from the group's outbox when bob joins
    _, old = await a.call("POST", f"{BOARDS}/{board['id']}/entries", "alice", json={"body": "Before bob joined"},
                          expect=201)
    await a.call("POST", f"{ENTRIES}/{old['id']}/replies", "dave", json={"body": "dave was here"}, expect=201)
    group = f"cafe@{a.domain}"
    on_b = await _join(b, "bob", group)

    copied = (f"alice@{a.domain}", "Before bob joined", False, 0, 0, 1,
              ((f"dave@{a.domain}", "dave was here", False, 0, 0, 0, ()),))

    async def history_on_b() -> tuple[Any, ...] | None:
        thread = await _thread(b, "bob", on_b, "Before bob joined")
        return _shape(thread) if thread is not None and _shape(thread) == copied else None

    await eventually(history_on_b, "the thread posted on A before bob joined, with its reply, on B")
    on_c = await _join(c, "carol", group)
    readers = ((a, "alice", board["id"]), (b, "bob", on_b), (c, "carol", on_c))

    # bob opens a thread from B; it reaches A (the group) and, announced, C
    await b.call("POST", f"{BOARDS}/{on_b}/entries", "bob", json={"body": "Hello from B"}, expect=201)

    async def everywhere(body: str) -> list[dict[str, Any]] | None:
        seen = [await _thread(server, user, copy, "Hello from B") for server, user, copy in readers]
        return seen if all(thread is not None and _find(thread, body) for thread in seen) else None

    threads = await eventually(lambda: everywhere("Hello from B"), "bob's thread on A, B and C")
    assert [thread["author"] for thread in threads] == [f"bob@{b.domain}"] * 3

    # carol replies from C, alice from A, then bob answers carol from B (a reply two deep)
    carol_sees = threads[2]
    await c.call("POST", f"{ENTRIES}/{carol_sees['id']}/replies", "carol", json={"body": "Hi bob, carol here"},
                 expect=201)
    await eventually(lambda: everywhere("Hi bob, carol here"), "carol's reply everywhere")
    await a.call("POST", f"{ENTRIES}/{threads[0]['id']}/replies", "alice", json={"body": "Welcome, says alice"},
                 expect=201)
    await eventually(lambda: everywhere("Welcome, says alice"), "alice's reply everywhere")
    bob_thread = await _thread(b, "bob", on_b, "Hello from B")
    assert bob_thread is not None
    to_carol = _find(bob_thread, "Hi bob, carol here")
    assert to_carol is not None
    await b.call("POST", f"{ENTRIES}/{to_carol['id']}/replies", "bob", json={"body": "Thanks carol"}, expect=201)
    threads = await eventually(lambda: everywhere("Thanks carol"), "bob's answer everywhere")

    # votes from all three servers: the thread up by carol (C), dave (A) and down by alice (A);
    # carol's reply up by bob (B)
    def entry_on(index: int, body: str) -> str:
        found = _find(threads[index], body)
        assert found is not None, body
        return str(found["id"])

    await c.call("PUT", f"{ENTRIES}/{entry_on(2, 'Hello from B')}/votes", "carol", json={"value": "up"}, expect=200)
    await a.call("PUT", f"{ENTRIES}/{entry_on(0, 'Hello from B')}/votes", "dave", json={"value": "up"}, expect=200)
    await a.call("PUT", f"{ENTRIES}/{entry_on(0, 'Hello from B')}/votes", "alice", json={"value": "down"}, expect=200)
    await b.call("PUT", f"{ENTRIES}/{entry_on(1, 'Hi bob, carol here')}/votes", "bob", json={"value": "up"},
                 expect=200)

    async def agreed() -> list[tuple[Any, ...]] | None:
        seen = [await _thread(server, user, copy, "Hello from B") for server, user, copy in readers]
        shapes = [_shape(thread) for thread in seen if thread is not None]
        return shapes if len(shapes) == 3 and shapes[0] == shapes[1] == shapes[2] and shapes[0][3:5] == (2, 1) else None

    shapes = await eventually(agreed, "the same thread with the same counts on A, B and C")
    bob_at, carol_at, alice_at = (f"{name}@{server.domain}" for name, server in (("bob", b), ("carol", c), ("alice", a)))
    assert shapes[0] == (
        bob_at, "Hello from B", False, 2, 1, 2, (
            (carol_at, "Hi bob, carol here", False, 1, 0, 1, ((bob_at, "Thanks carol", False, 0, 0, 0, ()),)),
            (alice_at, "Welcome, says alice", False, 0, 0, 0, ()),
        ),
    )

    # posts racing from B and C at once: every server lists them in one order (each copy is placed
    # at its post's published time, whenever it arrived)
    posters = {"B": (b, "bob", on_b), "C": (c, "carol", on_c)}
    racing = [f"race {n} from {where}" for n in range(3) for where in posters]

    async def post_from(body: str) -> None:
        server, user, copy = posters[body[-1]]
        await server.call("POST", f"{BOARDS}/{copy}/entries", user, json={"body": body}, expect=201)

    await asyncio.gather(*(post_from(body) for body in racing))

    async def raced_alike() -> list[list[str]] | None:
        orders = [[item["body"] for item in await _threads(server, user, copy) if item["body"].startswith("race")]
                  for server, user, copy in readers]
        return orders if len(orders[0]) == len(racing) and orders[0] == orders[1] == orders[2] else None

    assert sorted((await eventually(raced_alike, "the racing posts in one order on A, B and C"))[0]) == sorted(racing)

    # a moderator's deletion on A reaches B and C as a tombstone that keeps its place and replies
    await a.call("DELETE", f"{ENTRIES}/{entry_on(0, 'Hi bob, carol here')}", "alice", expect=200)

    async def tombstoned() -> bool:
        seen = [await _thread(server, user, copy, "Hello from B") for server, user, copy in readers]
        return all(thread is not None and _shape(thread)[6][0][:3] == (None, "", True) for thread in seen)

    await eventually(tombstoned, "the deletion on A, B and C")

    # alice bans bob on A: B learns it, and bob can no longer post there
    await a.call("POST", f"{BOARDS}/{board['id']}/bans", "alice",
                 json={"username": f"bob@{b.domain}", "reason": "spamming the cafe"}, expect=201)

    async def banned_on_b() -> bool:
        _, seen = await b.call("GET", f"{BOARDS}/{on_b}", "bob", expect=200)
        return bool(seen["banned"])

    await eventually(banned_on_b, "the ban to reach B")
    status, refused = await b.call("POST", f"{BOARDS}/{on_b}/entries", "bob", json={"body": "let me back in"})
    assert status == 403 and refused["code"] == "banned-from-board", refused
    assert "spamming the cafe" in refused["detail"]
    # carol on C still posts, and her post still reaches everyone (the ban is bob's alone)
    await c.call("POST", f"{BOARDS}/{on_c}/entries", "carol", json={"body": "Still open for carol"}, expect=201)

    async def carol_everywhere() -> bool:
        bodies = [[item["body"] for item in await _threads(server, user, copy)] for server, user, copy in readers]
        return all("Still open for carol" in seen for seen in bodies)

    await eventually(carol_everywhere, "carol's new thread on A, B and C")
    assert "let me back in" not in [item["body"] for item in await _threads(a, "alice", board["id"])]

    # a post bob sent before B knew of the ban (the ban forgotten in B's database): A refuses it,
    # says why, and B shows it refused to bob alone; it reaches neither A nor C
    await _forget_ban(b.server, on_b, "bob")
    await b.call("POST", f"{BOARDS}/{on_b}/entries", "bob", json={"body": "sent before I knew"}, expect=201)

    async def refused_on_b() -> dict[str, Any] | None:
        found = [item for item in await _threads(b, "bob", on_b) if item["body"] == "sent before I knew"]
        return found[0] if found and found[0]["refused"] else None

    refused_post = await eventually(refused_on_b, "A's refusal of bob's post to reach B")
    assert refused_post["refused"] == f"Not accepted by {group}: you are banned from this board: spamming the cafe"
    assert "sent before I knew" not in [item["body"] for item in await _threads(b, "erin", on_b)]
    for server, user, copy in readers[::2]:
        assert "sent before I knew" not in [item["body"] for item in await _threads(server, user, copy)]

"""A board's Group actor joined from a real second server (issue 22, item 4, the origin side).

bob on B follows the group `cafe@A` through B's own API, as he would any account: B finds it by
WebFinger, A answers with an Accept signed by the group, and bob is a member on A; what alice
posts on A reaches B as the group's Announce; unfollowing ends the membership. (Posting from B
needs the mirror side, federation/board_mirrors.py; the three-server acceptance test covers both.)
"""

from __future__ import annotations

import pytest

from .test_federation_live import Instance, eventually, pair, servers, trio  # noqa: F401

pytestmark = pytest.mark.slow


async def test_live__bob_on_b_joins_and_leaves_a_board_on_a(pair: tuple[Instance, Instance]) -> None:  # noqa: F811
    a, b = pair
    a.user("alice")
    b.user("bob")
    a.server.start()
    b.server.start()
    _, board = await a.call("POST", "/api/v1/boards", "alice", json={"name": "Café", "kind": "discussion",
                                                                      "handle": "cafe"}, expect=201)
    assert board["handle"] == f"cafe@{a.domain}"
    _, found = await b.call("POST", "/api/v1/federation/lookup", "bob", json={"target": f"cafe@{a.domain}"}, expect=200)
    assert (found["kind"], found["name"]) == ("Group", "Café")
    _, made = await b.call("POST", "/api/v1/follows", "bob", json={"target": f"cafe@{a.domain}"}, expect=201)

    async def accepted() -> bool:
        _, listed = await b.call("GET", "/api/v1/follows", "bob")
        return [f["state"] for f in listed["items"]] == ["accepted"]

    await eventually(accepted, "the group on A to accept bob's follow")
    _, members = await a.call("GET", f"/api/v1/boards/{board['id']}/members", expect=200)
    assert {m["username"]: m["role"] for m in members["items"]} == {
        f"alice@{a.domain}": "owner", f"bob@{b.domain}": "member"}

    # alice posts on A: the group's Announce reaches B, signed with the group's own key (B checks it)
    await a.call("POST", f"/api/v1/boards/{board['id']}/entries", "alice", json={"body": "Welcome"}, expect=201)
    b.tokens["root"] = b.server.create_user("root", "admin")
    group = f"{a.server.base_url}/users/cafe"

    async def announced() -> list[dict[str, object]]:
        _, rows = await b.call("GET", "/api/v1/federation/inbox", "root", expect=200)
        return [row for row in rows["items"] if row["type"] == "Announce" and row["actor"] == group]

    [row] = await eventually(announced, "the group's Announce of alice's post to reach B")
    assert row["payload"]["object"]["object"]["source"]["content"] == "Welcome"

    await b.call("DELETE", f"/api/v1/follows/{made['id']}", "bob", expect=204)

    async def left() -> bool:
        _, members = await a.call("GET", f"/api/v1/boards/{board['id']}/members", expect=200)
        return [m["username"] for m in members["items"]] == [f"alice@{a.domain}"]

    await eventually(left, "bob's Undo to reach the group on A")

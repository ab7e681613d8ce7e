"""Moderators (issue 19, item 6): assignments and their dominion (a type and its descendants, a
set, named attributes), the feed, audited and federated edits, an admin's change of ownership
that keeps the ledger whole, and bad input and permissions for every operation."""

from __future__ import annotations

from typing import Any

from federation.outbox import publish_due_events
from models.events import Event
from models.federation import OutboxActivity

from .conftest import Api, assert_problem
from .fedhelpers import site_of
from .test_ledger import assert_invariant, balance, minted

ASSIGN, FEED, AUDIT, OWNERSHIP = (
    "/api/v1/moderation/assignments", "/api/v1/moderation/feed", "/api/v1/moderation/audit", "/api/v1/admin/ownership",
)
ATTRIBUTES = [
    {"name": "title", "type": "string", "max": 20},
    {"name": "price", "type": "integer", "min": 0, "nullable": True},
    {"name": "secret", "type": "string", "private": True, "nullable": True},
]


def edit_url(token_id: str) -> str:
    return f"/api/v1/moderation/tokens/{token_id}/edit"


async def make_type(api: Api, token: str, parents: list[str] | None = None, **fields: Any) -> str:
    body = {"name": "Card", "symbol": "CRD", "fungible": False, "smallest_unit": 0, "attributes": ATTRIBUTES, **fields}
    if parents:
        body["parents"] = parents
    reply = await api.post("/api/v1/types", body, token=token)
    assert reply.status == 201, reply
    return reply.body["id"]


async def make_token(api: Api, token: str, type_id: str, **values: Any) -> str:
    reply = await api.post("/api/v1/tokens", {"type": type_id, "attributes": {"title": "Ace", **values}}, token=token)
    assert reply.status == 201, reply
    return reply.body["id"]


async def world(api: Api) -> dict[str, Any]:
    """alice owns type `card` (and `child`, deriving from it) and tokens of both; `other` is a
    type of carol's; mod is alice's moderator of `card` for title and price, able to edit."""
    m: dict[str, Any] = {name: await api.user(name) for name in ("alice", "carol", "mod", "bob")}
    m["admin"] = await api.user("root", roles=["admin"])
    m["card"] = await make_type(api, m["alice"])
    m["child"] = await make_type(api, m["alice"], parents=[m["card"]], name="Child", symbol="CHD")
    m["other"] = await make_type(api, m["carol"], name="Other", symbol="OTH")
    m["t_card"] = await make_token(api, m["alice"], m["card"])
    m["t_child"] = await make_token(api, m["alice"], m["child"])
    m["t_other"] = await make_token(api, m["carol"], m["other"])
    body = {"moderator": "mod", "type": m["card"], "attributes": ["title", "price"], "can_edit": True}
    m["assignment"] = (await api.post(ASSIGN, body, token=m["alice"], expect=201)).body
    return m


async def test_edit__inside_the_dominion_is_audited_and_published_as_the_owners_update(api: Api) -> None:
    m = await world(api)
    assert m["assignment"]["set_up_by"].startswith("alice") and m["assignment"]["by_admin"] is False
    reply = await api.post(edit_url(m["t_card"]), {"attributes": {"title": "Fixed"}, "reason": "typo"}, token=m["mod"])
    assert reply.status == 200, reply
    token = (await api.get(f"/api/v1/tokens/{m['t_card']}", expect=200)).body
    assert token["attributes"]["title"] == "Fixed" and token["version"] == reply.body["version"] == 2
    action = reply.body["action"]
    assert action["kind"] == "edit" and action["reason"] == "typo"
    assert action["before"] == {"title": "Ace"} and action["after"] == {"title": "Fixed"}
    # the owner sees it in the audit log; the moderator sees what they did
    owners = await api.get(AUDIT, token=m["alice"], expect=200)
    assert [(a["object_id"], a["actor"].split("@")[0], a["reason"]) for a in owners.body["items"]] == [(m["t_card"], "mod", "typo")]
    assert [a["id"] for a in (await api.get(AUDIT, params={"role": "actor"}, token=m["mod"], expect=200)).body["items"]] == [action["id"]]
    assert (await api.get(AUDIT, token=m["carol"], expect=200)).body["items"] == []
    # federated: the owner's token.updated, naming the moderator, becomes an Update in the owner's outbox
    event = await Event.filter(name="token.updated", object_id=m["t_card"]).order_by("-id").first()
    assert event is not None and event.payload["moderator"] and event.payload["fields"] == ["title"]
    await publish_due_events(site_of(api))
    activity = await OutboxActivity.get(event_id=event.id).select_related("actor")
    assert activity.type == "Update" and activity.actor.username == "alice"
    assert activity.document["object"]["id"].endswith(m["t_card"])


async def test_edit__descendant_types_are_covered_and_outside_is_404(api: Api) -> None:
    m = await world(api)
    body = {"attributes": {"price": 5}, "reason": "price check"}
    assert (await api.post(edit_url(m["t_child"]), body, token=m["mod"])).status == 200
    assert (await api.get(f"/api/v1/tokens/{m['t_child']}", expect=200)).body["attributes"]["price"] == 5
    # carol's type is not under mod's dominion, and a stranger moderates nothing
    assert_problem(await api.post(edit_url(m["t_other"]), body, token=m["mod"]), 404, "not-under-dominion")
    assert_problem(await api.post(edit_url(m["t_card"]), body, token=m["bob"]), 404, "not-under-dominion")
    assert_problem(await api.post(edit_url("nope"), body, token=m["mod"]), 404, "token-not-found")
    other = (await api.get(f"/api/v1/tokens/{m['t_other']}", expect=200)).body
    assert other["version"] == 1 and other["attributes"]["price"] is None


async def test_edit__attribute_limits_and_see_only_assignments_hold(api: Api) -> None:
    m = await world(api)
    refused = await api.post(edit_url(m["t_card"]), {"attributes": {"secret": "x"}, "reason": "r"}, token=m["mod"])
    assert_problem(refused, 403, "attribute-not-permitted")
    both = await api.post(edit_url(m["t_card"]), {"attributes": {"title": "Ok", "secret": "x"}, "reason": "r"}, token=m["mod"])
    assert_problem(both, 403, "attribute-not-permitted")
    body = {"moderator": "bob", "type": m["card"]}  # see only
    await api.post(ASSIGN, body, token=m["alice"], expect=201)
    assert_problem(await api.post(edit_url(m["t_card"]), {"attributes": {"title": "Bob"}, "reason": "r"}, token=m["bob"]), 403, "not-moderator")
    invalid = await api.post(edit_url(m["t_card"]), {"attributes": {"price": -1}, "reason": "r"}, token=m["mod"])
    assert_problem(invalid, 400, "invalid-attributes")
    token = (await api.get(f"/api/v1/tokens/{m['t_card']}", token=m["alice"], expect=200)).body
    assert token["version"] == 1 and token["attributes"]["title"] == "Ace" and token["attributes"]["secret"] is None
    assert (await api.get(AUDIT, token=m["alice"], expect=200)).body["items"] == []


async def test_feed__shows_changes_under_the_dominion_with_the_covered_values(api: Api) -> None:
    m = await world(api)
    patch = {"attributes": {"title": "Two", "secret": "hush", "price": 3}}
    await api.patch(f"/api/v1/tokens/{m['t_child']}", patch, token=m["alice"], expect=200)
    await api.patch(f"/api/v1/tokens/{m['t_other']}", {"attributes": {"title": "Elsewhere"}}, token=m["carol"], expect=200)
    feed = (await api.get(FEED, token=m["mod"], expect=200)).body["items"]
    assert [(item["token"], item["changed_by"].split("@")[0]) for item in feed] == [(m["t_child"], "alice")]
    assert feed[0]["values"] == {"title": {"before": "Ace", "after": "Two"}, "price": {"before": None, "after": 3}}
    assert "hush" not in str(feed)  # a private value is only for an assignment naming it
    await api.post(ASSIGN, {"moderator": "carol", "type": m["card"], "attributes": ["secret"]}, token=m["alice"], expect=201)
    carols = (await api.get(FEED, token=m["carol"], expect=200)).body["items"]
    assert [item["values"] for item in carols] == [{"secret": {"before": None, "after": "hush"}}]
    assert (await api.get(FEED, token=m["bob"], expect=200)).body["items"] == []
    # a set's moderator sees its tokens' changes
    made = await api.post("/api/v1/sets", {"name": "Mine"}, token=m["carol"], expect=201)
    await api.post(f"/api/v1/sets/{made.body['id']}/tokens", {"tokens": [m["t_other"]]}, token=m["carol"], expect=200)
    await api.post(ASSIGN, {"moderator": "bob", "set": made.body["id"], "attributes": ["title"]}, token=m["carol"], expect=201)
    bobs = (await api.get(FEED, token=m["bob"], expect=200)).body["items"]
    assert [(item["token"], item["values"]) for item in bobs] == [(m["t_other"], {"title": {"before": "Ace", "after": "Elsewhere"}})]
    body = {"attributes": {"title": "Bob"}, "reason": "r"}
    assert_problem(await api.post(edit_url(m["t_other"]), body, token=m["bob"]), 403, "not-moderator")
    assert_problem(await api.post(edit_url(m["t_card"]), body, token=m["bob"]), 404, "not-under-dominion")


async def test_assignments__who_may_set_up_list_and_revoke(api: Api) -> None:
    m = await world(api)
    # only the owner or an admin sets up; unknown things and users are 404; bad input is 400
    assert_problem(await api.post(ASSIGN, {"moderator": "bob", "type": m["card"]}, token=m["carol"]), 403, "not-owner")
    by_admin = await api.post(ASSIGN, {"moderator": "bob", "type": m["card"]}, token=m["admin"], expect=201)
    assert by_admin.body["by_admin"] is True
    assert_problem(await api.post(ASSIGN, {"moderator": "ghost", "type": m["card"]}, token=m["alice"]), 404, "user-not-found")
    assert_problem(await api.post(ASSIGN, {"moderator": "bob", "type": "nope"}, token=m["alice"]), 404, "type-not-found")
    assert_problem(await api.post(ASSIGN, {"moderator": "bob", "set": "nope"}, token=m["alice"]), 404, "set-not-found")
    assert_problem(await api.post(ASSIGN, {"moderator": "bob"}, token=m["alice"]), 400, "validation-failed")
    both = {"moderator": "bob", "type": m["card"], "set": "x"}
    assert_problem(await api.post(ASSIGN, both, token=m["alice"]), 400, "validation-failed")
    bad_name = {"moderator": "bob", "type": m["card"], "attributes": ["no such"]}
    assert_problem(await api.post(ASSIGN, bad_name, token=m["alice"]), 400, "validation-failed")
    unknown = {"moderator": "bob", "type": m["card"], "attributes": ["colour"]}
    assert_problem(await api.post(ASSIGN, unknown, token=m["alice"]), 400, "invalid-attributes")
    assert_problem(await api.post(ASSIGN, {"moderator": "bob", "type": m["card"]}), 401)
    # lists: the moderator's, the owner's, every one for admins only
    mine = (await api.get(ASSIGN, token=m["mod"], expect=200)).body["items"]
    assert [a["id"] for a in mine] == [m["assignment"]["id"]]
    set_up = (await api.get(ASSIGN, params={"role": "set_up"}, token=m["alice"], expect=200)).body["items"]
    assert [a["id"] for a in set_up] == [m["assignment"]["id"]]
    assert_problem(await api.get(ASSIGN, params={"role": "all"}, token=m["alice"]), 403, "role-required")
    assert len((await api.get(ASSIGN, params={"role": "all"}, token=m["admin"], expect=200)).body["items"]) == 2
    # revoke: a stranger is 404; the owner who set it up may; the edit then is outside the dominion
    revoke = f"{ASSIGN}/{m['assignment']['id']}/revoke"
    assert_problem(await api.post(revoke, {}, token=m["carol"]), 404, "assignment-not-found")
    assert (await api.post(revoke, {}, token=m["alice"], expect=200)).body["revoked_at"]
    assert_problem(await api.post(revoke, {}, token=m["alice"]), 409, "already-revoked")
    body = {"attributes": {"title": "Late"}, "reason": "r"}
    assert_problem(await api.post(edit_url(m["t_card"]), body, token=m["mod"]), 404, "not-under-dominion")
    # an admin revokes what the owner did not set up
    assert (await api.post(f"{ASSIGN}/{by_admin.body['id']}/revoke", {}, token=m["admin"], expect=200)).body["revoked_by"]
    assert await Event.filter(name="moderation.assignment.revoked").count() == 2


async def test_edit_and_feed__bad_input(api: Api) -> None:
    m = await world(api)
    assert_problem(await api.post(edit_url(m["t_card"]), {"attributes": {"title": "X"}}, token=m["mod"]), 400, "validation-failed")
    assert_problem(await api.post(edit_url(m["t_card"]), {"attributes": {}, "reason": "r"}, token=m["mod"]), 400, "validation-failed")
    assert_problem(await api.post(edit_url(m["t_card"]), {"attributes": {"title": "X"}, "reason": ""}, token=m["mod"]), 400, "validation-failed")
    assert_problem(await api.post(edit_url(m["t_card"]), {"attributes": {"title": "X"}, "reason": "r"}), 401)
    assert_problem(await api.get(FEED, params={"page_size": "0"}, token=m["mod"]), 400, "validation-failed")
    assert_problem(await api.get(FEED), 401)
    assert_problem(await api.get(AUDIT, params={"role": "all"}, token=m["mod"]), 403, "role-required")
    assert_problem(await api.get(AUDIT, params={"role": "nobody"}, token=m["mod"]), 400, "validation-failed")


async def test_ownership__a_unique_token_moves_on_the_ledger_audited_and_published(api: Api) -> None:
    m = await world(api)
    body = {"object_type": "token", "id": m["t_card"], "owner": "bob", "reason": "court order"}
    assert_problem(await api.post(OWNERSHIP, body, token=m["alice"]), 403, "role-required")
    reply = await api.post(OWNERSHIP, body, token=m["admin"])
    assert reply.status == 200, reply
    assert reply.body["kind"] == "owner" and reply.body["new_owner"].startswith("bob")
    token = (await api.get(f"/api/v1/tokens/{m['t_card']}", expect=200)).body
    assert token["owner"]["username"] == "bob" and token["version"] == 2
    assert await balance(api, m["card"], "bob") == "1" and await balance(api, m["card"], "alice") == "0"
    for owner in ("alice", "bob"):
        await assert_invariant(api, m["card"], owner)
    for who in ("alice", "bob"):
        audit = (await api.get(AUDIT, token=m[who], expect=200)).body["items"]
        assert [(a["reason"], a["object_id"]) for a in audit] == [("court order", m["t_card"])]
    # bob owns it now: he can give it on; the ledger agrees
    give = {"type": m["card"], "amount": "1", "token": m["t_card"], "to": "carol"}
    assert (await api.post("/api/v1/ledger/give", give, token=m["bob"])).status == 201
    await assert_invariant(api, m["card"], "carol")
    event = await Event.filter(name="token.updated", object_id=m["t_card"]).order_by("id").first()
    assert event is not None and event.payload["owner"]
    await publish_due_events(site_of(api))
    assert (await OutboxActivity.get(event_id=event.id)).type == "Update"
    assert await Event.filter(name="admin.ownership_changed", object_id=m["t_card"]).count() == 1


async def test_ownership__types_and_sets_and_bad_input(api: Api) -> None:
    m = await world(api)
    reply = await api.post(OWNERSHIP, {"object_type": "type", "id": m["other"], "owner": "alice", "reason": "merger"}, token=m["admin"])
    assert reply.status == 200, reply
    shown = (await api.get(f"/api/v1/types/{m['other']}", expect=200)).body
    assert shown["owner"]["username"] == "alice" and shown["version"] == 2
    made = await api.post("/api/v1/sets", {"name": "Shelf"}, token=m["carol"], expect=201)
    moved = await api.post(OWNERSHIP, {"object_type": "set", "id": made.body["id"], "owner": "bob", "reason": "left"}, token=m["admin"])
    assert moved.status == 200, moved
    assert (await api.get(f"/api/v1/sets/{made.body['id']}", expect=200)).body["owner"]["username"] == "bob"
    await api.post("/api/v1/sets", {"name": "Shelf"}, token=m["carol"], expect=201)
    clash = {"object_type": "set", "id": made.body["id"], "owner": "carol", "reason": "back"}
    assert_problem(await api.post(OWNERSHIP, clash, token=m["admin"]), 409, "set-name-taken")
    same = {"object_type": "token", "id": m["t_card"], "owner": "alice", "reason": "r"}
    assert_problem(await api.post(OWNERSHIP, same, token=m["admin"]), 422, "same-owner")
    for bad, status, code in (
        ({"object_type": "lot", "id": "x", "owner": "bob", "reason": "r"}, 400, "validation-failed"),
        ({"object_type": "token", "id": m["t_card"], "owner": "bob"}, 400, "validation-failed"),
        ({"object_type": "token", "id": "nope", "owner": "bob", "reason": "r"}, 404, "token-not-found"),
        ({"object_type": "type", "id": "nope", "owner": "bob", "reason": "r"}, 404, "type-not-found"),
        ({"object_type": "set", "id": "nope", "owner": "bob", "reason": "r"}, 404, "set-not-found"),
        ({"object_type": "token", "id": m["t_card"], "owner": "ghost", "reason": "r"}, 404, "user-not-found"),
    ):
        assert_problem(await api.post(OWNERSHIP, bad, token=m["admin"]), status, code)
    assert_problem(await api.post(OWNERSHIP, same), 401)
    assert (await api.get(f"/api/v1/tokens/{m['t_card']}", expect=200)).body["version"] == 1


async def test_ownership__fungible_balances_stay_whole(api: Api) -> None:
    m = await world(api)
    coin = await minted(api, m["alice"], "10.00")
    reply = await api.post(OWNERSHIP, {"object_type": "type", "id": coin, "owner": "bob", "reason": "sold"}, token=m["admin"])
    assert reply.status == 200, reply
    assert await balance(api, coin, "alice") == "10.00"  # holdings do not move with the type
    await assert_invariant(api, coin, "alice")


async def test_ownership__a_token_listed_on_the_market_is_not_moved(api: Api) -> None:
    m = await world(api)
    coin = await minted(api, m["alice"], "10.00")
    body = {"kind": "fixed_price", "type": m["card"], "tokens": [m["t_card"]], "price_type": coin, "price": "5"}
    await api.post("/api/v1/market/lots", body, token=m["alice"], expect=201)
    listed = (await api.get(f"/api/v1/tokens/{m['t_card']}", expect=200)).body
    change = {"object_type": "token", "id": m["t_card"], "owner": "bob", "reason": "r"}
    assert_problem(await api.post(OWNERSHIP, change, token=m["admin"]), 409, "token-in-escrow")
    token = (await api.get(f"/api/v1/tokens/{m['t_card']}", expect=200)).body
    assert (token["owner"], token["version"]) == (listed["owner"], listed["version"])
    assert (await api.get(AUDIT, token=m["alice"], expect=200)).body["items"] == []
    await assert_invariant(api, m["card"], "alice")

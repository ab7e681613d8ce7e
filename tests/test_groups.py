"""User groups: owner/admin/member rules, visibility, membership changes and their events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.actors import Actor, GroupMember, UserGroup
from models.events import Event
from server.cli import system_call

from .conftest import Api, assert_problem

GROUPS = "/api/v1/groups"


@dataclass
class Team:
    """alice owns the group, bob is an admin, carol a member; dave is an outsider."""

    id: str
    alice: str
    bob: str
    carol: str
    dave: str

    @property
    def url(self) -> str:
        return f"{GROUPS}/{self.id}"


async def make_group(api: Api, token: str, name: str = "Makers", **extra: Any) -> dict[str, Any]:
    reply = await api.post(GROUPS, {"name": name, **extra}, token=token)
    assert reply.status == 201, reply
    return reply.body


async def make_team(api: Api) -> Team:
    alice, bob, carol, dave = [await api.user(name) for name in ("alice", "bob", "carol", "dave")]
    group = await make_group(api, alice, description="people who make things")
    url = f"{GROUPS}/{group['id']}"
    assert (await api.post(f"{url}/members", {"username": "bob", "role": "admin"}, token=alice)).status == 200
    assert (await api.post(f"{url}/members", {"username": "carol"}, token=alice)).status == 200
    return Team(group["id"], alice, bob, carol, dave)


async def snapshot() -> tuple[Any, ...]:
    """Everything a failed call must leave untouched."""
    groups = sorted(await UserGroup.all().values_list("id", "name", "description", "owner_id"))
    members = sorted(await GroupMember.all().values_list("group_id", "user_id", "role"))
    return groups, members, await Event.all().count()


def roles(body: dict[str, Any]) -> dict[str, str]:
    return {member["username"]: member["role"] for member in body["members"]}


async def last_event(name: str) -> Event:
    event = await Event.filter(name=name).order_by("-id").first()
    assert event is not None, f"no {name} event was recorded"
    return event


async def actor_id(username: str) -> str:
    return (await Actor.get(username=username)).id


# --- create ----------------------------------------------------------------------------


async def test_groups_create__caller_owns_it_and_an_event_is_recorded(api: Api) -> None:
    alice = await api.user("alice")
    reply = await api.post(GROUPS, {"name": "  Makers ", "description": "we make"}, token=alice)
    assert reply.status == 201, reply
    body = reply.body
    assert reply.headers["Location"] == f"{GROUPS}/{body['id']}"
    assert body["name"] == "Makers" and body["description"] == "we make"
    assert body["owner"]["username"] == "alice" and body["my_role"] == "owner"
    assert body["members"] == [{"username": "alice", "role": "owner", "added_at": body["created_at"]}]
    assert body["member_count"] == 1 and body["created_at"].endswith("Z")
    assert await GroupMember.all().count() == 0  # the owner is not a membership row
    event = await last_event("group.created")
    assert event.object_type == "group" and event.object_id == body["id"]
    assert event.payload == {"name": "Makers", "owner": "alice"} and event.actor_id == await actor_id("alice")


async def test_groups_create__names_are_unique_ignoring_case(api: Api) -> None:
    alice, bob = await api.user("alice"), await api.user("bob")
    await make_group(api, alice, "Makers")
    before = await snapshot()
    assert_problem(await api.post(GROUPS, {"name": "makers"}, token=bob), 409, "group-name-taken")
    assert_problem(await api.post(GROUPS, {"name": "Makers"}, token=alice), 409, "group-name-taken")
    assert await snapshot() == before


async def test_groups_create__bad_input_is_refused_and_changes_nothing(api: Api) -> None:
    alice = await api.user("alice")
    cases: list[Any] = [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": 42},
        {"name": None},
        {"name": "x" * 101},
        {"name": "two\nlines"},
        {"name": "ok", "description": "d" * 2001},
        {"name": "ok", "description": ["not", "text"]},
        {"name": "ok", "owner": "bob"},
    ]
    before = await snapshot()
    for body in cases:
        problem = assert_problem(await api.post(GROUPS, body, token=alice), 400, "validation-failed")
        assert problem["errors"], body
    reply = await api.call("POST", GROUPS, data="{oops", headers={"Content-Type": "application/json"}, token=alice)
    assert_problem(reply, 400, "malformed-json")
    assert await snapshot() == before


async def test_groups_create__needs_an_active_signed_in_user(api: Api) -> None:
    alice = await api.user("alice")
    await system_call(api.settings, "admin.users.freeze", {"username": "alice"})
    before = await snapshot()
    assert_problem(await api.post(GROUPS, {"name": "Makers"}), 401, "authentication-required")
    assert_problem(await api.post(GROUPS, {"name": "Makers"}, token=alice), 403, "account-frozen")
    assert await snapshot() == before


# --- read ------------------------------------------------------------------------------


async def test_groups_get__members_see_everyone_with_roles(api: Api) -> None:
    team = await make_team(api)
    for token, mine in ((team.alice, "owner"), (team.bob, "admin"), (team.carol, "member")):
        reply = await api.get(team.url, token=token)
        assert reply.status == 200, reply
        assert reply.body["my_role"] == mine
        assert reply.body["members"][0] == {"username": "alice", "role": "owner", "added_at": reply.body["created_at"]}
        assert roles(reply.body) == {"alice": "owner", "bob": "admin", "carol": "member"}
        assert reply.body["member_count"] == 3


async def test_groups_get__outsiders_and_unknown_ids_get_404(api: Api) -> None:
    team = await make_team(api)
    admin = await api.user("root", roles=["admin"])
    for token in (team.dave, admin):  # site admins are outsiders too
        assert_problem(await api.get(team.url, token=token), 404, "group-not-found")
    assert_problem(await api.get(f"{GROUPS}/01NOSUCHGROUP", token=team.alice), 404, "group-not-found")
    assert_problem(await api.get(f"{GROUPS}/{'x' * 65}", token=team.alice), 400, "validation-failed")
    assert_problem(await api.get(team.url), 401, "authentication-required")


async def test_groups_list__only_my_groups_with_my_role(api: Api) -> None:
    team = await make_team(api)
    await make_group(api, team.dave, "Dave's own")
    other = await make_group(api, team.carol, "Carol's club")
    reply = await api.get(GROUPS, token=team.carol)
    assert reply.status == 200, reply
    listed = {item["name"]: (item["my_role"], item["member_count"]) for item in reply.body["items"]}
    assert listed == {"Makers": ("member", 3), "Carol's club": ("owner", 1)}
    assert "members" not in reply.body["items"][0]
    assert reply.body["items"][0]["id"] == other["id"]  # newest first by default
    reply = await api.get(GROUPS, token=team.bob)
    assert [(item["name"], item["my_role"]) for item in reply.body["items"]] == [("Makers", "admin")]
    loner = await api.user("erin")
    assert (await api.get(GROUPS, token=loner)).body["items"] == []


async def test_groups_list__pages_and_bad_paging_input(api: Api) -> None:
    alice = await api.user("alice")
    for index in range(3):
        await make_group(api, alice, f"Group {index}")
    first = await api.get(GROUPS, token=alice, params={"page_size": 2, "sort": "created_at"})
    assert [item["name"] for item in first.body["items"]] == ["Group 0", "Group 1"]
    assert first.body["next"] and first.body["previous"] is None
    second = await api.get(first.body["next"], token=alice)
    assert [item["name"] for item in second.body["items"]] == ["Group 2"] and second.body["next"] is None
    for params in ({"page_size": 0}, {"page_size": 51}, {"page": "two"}, {"sort": "name"}, {"colour": "red"}):
        assert_problem(await api.get(GROUPS, token=alice, params=params), 400, "validation-failed")
    assert_problem(await api.get(GROUPS), 401, "authentication-required")


# --- update ----------------------------------------------------------------------------


async def test_groups_update__owner_and_admin_edit_the_description(api: Api) -> None:
    team = await make_team(api)
    for token, text in ((team.alice, "by the owner"), (team.bob, "by an admin")):
        reply = await api.patch(team.url, {"description": text}, token=token)
        assert reply.status == 200, reply
        assert reply.body["description"] == text
        assert (await api.get(team.url, token=team.carol)).body["description"] == text
        event = await last_event("group.updated")
        assert event.object_id == team.id and event.payload["changes"] == {"description": text}
    assert await Event.filter(name="group.updated").count() == 2


async def test_groups_update__members_and_outsiders_cannot_edit(api: Api) -> None:
    team = await make_team(api)
    before = await snapshot()
    assert_problem(await api.patch(team.url, {"description": "mine now"}, token=team.carol), 403, "group-role-required")
    assert_problem(await api.patch(team.url, {"description": "mine now"}, token=team.dave), 404, "group-not-found")
    assert_problem(await api.patch(team.url, {"description": "mine now"}), 401)
    assert await snapshot() == before


async def test_groups_update__bad_input_changes_nothing(api: Api) -> None:
    team = await make_team(api)
    before = await snapshot()
    assert_problem(await api.patch(team.url, {}, token=team.alice), 400, "nothing-to-update")
    for body in (
        {"description": "d" * 2001},
        {"description": 7},
        {"name": "Renamed"},
        {"owner": "not a name!"},
        {"owner": ""},
    ):
        assert_problem(await api.patch(team.url, body, token=team.alice), 400, "validation-failed")
    assert_problem(await api.patch(f"{GROUPS}/nope", {"description": "x"}, token=team.alice), 404, "group-not-found")
    assert await snapshot() == before


async def test_groups_update__owner_transfers_ownership_to_a_member(api: Api) -> None:
    team = await make_team(api)
    reply = await api.patch(team.url, {"owner": "Carol"}, token=team.alice)
    assert reply.status == 200, reply
    assert reply.body["owner"]["username"] == "carol" and reply.body["my_role"] == "admin"
    assert roles(reply.body) == {"carol": "owner", "alice": "admin", "bob": "admin"}
    event = await last_event("group.updated")
    assert event.payload["changes"] == {"owner": {"from": "alice", "to": "carol"}}
    assert event.actor_id == await actor_id("alice")
    # the new owner has every right; the previous one is an admin now
    assert_problem(await api.delete(team.url, token=team.alice), 403, "group-role-required")
    assert_problem(await api.delete(f"{team.url}/members/carol", token=team.alice), 409, "cannot-remove-owner")
    assert (await api.delete(f"{team.url}/members/alice", token=team.carol)).status == 204
    assert (await api.delete(team.url, token=team.carol)).status == 204


async def test_groups_update__only_the_owner_transfers_and_only_to_members(api: Api) -> None:
    team = await make_team(api)
    before = await snapshot()
    assert_problem(await api.patch(team.url, {"owner": "bob"}, token=team.bob), 403, "group-role-required")
    assert_problem(await api.patch(team.url, {"owner": "bob", "description": "x"}, token=team.carol), 403)
    assert_problem(await api.patch(team.url, {"owner": "dave"}, token=team.alice), 422, "new-owner-not-member")
    assert_problem(await api.patch(team.url, {"owner": "nobody"}, token=team.alice), 404, "user-not-found")
    assert await snapshot() == before
    reply = await api.patch(team.url, {"owner": "alice"}, token=team.alice)  # already the owner: no change
    assert reply.status == 200 and reply.body["owner"]["username"] == "alice"
    assert await snapshot() == before


# --- delete ----------------------------------------------------------------------------


async def test_groups_delete__only_the_owner_deletes(api: Api) -> None:
    team = await make_team(api)
    before = await snapshot()
    assert_problem(await api.delete(team.url, token=team.bob), 403, "group-role-required")
    assert_problem(await api.delete(team.url, token=team.carol), 403, "group-role-required")
    assert_problem(await api.delete(team.url, token=team.dave), 404, "group-not-found")
    assert_problem(await api.delete(f"{GROUPS}/missing", token=team.alice), 404, "group-not-found")
    assert await snapshot() == before
    reply = await api.delete(team.url, token=team.alice)
    assert reply.status == 204, reply
    for token in (team.alice, team.bob, team.carol):
        assert_problem(await api.get(team.url, token=token), 404, "group-not-found")
    assert await UserGroup.all().count() == 0 and await GroupMember.all().count() == 0
    event = await last_event("group.deleted")
    assert event.object_id == team.id and event.payload == {"name": "Makers", "members_removed": 2}
    assert (await api.get(GROUPS, token=team.carol)).body["items"] == []
    await make_group(api, team.dave, "Makers")  # the name is free again


# --- add members and change roles ------------------------------------------------------


async def test_groups_add_member__admin_adds_plain_members(api: Api) -> None:
    team = await make_team(api)
    reply = await api.post(f"{team.url}/members", {"username": "DAVE"}, token=team.bob)
    assert reply.status == 200, reply
    assert roles(reply.body)["dave"] == "member" and reply.body["my_role"] == "admin"
    event = await last_event("group.member_added")
    assert event.object_id == team.id and event.payload == {"username": "dave", "role": "member"}
    assert event.actor_id == await actor_id("bob")
    assert (await api.get(team.url, token=team.dave)).body["my_role"] == "member"


async def test_groups_add_member__who_may_add_whom(api: Api) -> None:
    team = await make_team(api)
    await api.user("erin")
    before = await snapshot()
    members = f"{team.url}/members"
    assert_problem(await api.post(members, {"username": "erin", "role": "admin"}, token=team.bob), 403, "group-role-required")
    assert_problem(await api.post(members, {"username": "erin"}, token=team.carol), 403, "group-role-required")
    assert_problem(await api.post(members, {"username": "erin"}, token=team.dave), 404, "group-not-found")
    assert_problem(await api.post(members, {"username": "dave"}, token=team.dave), 404, "group-not-found")
    assert_problem(await api.post(members, {"username": "erin"}), 401)
    assert await snapshot() == before
    reply = await api.post(members, {"username": "erin", "role": "admin"}, token=team.alice)
    assert reply.status == 200 and roles(reply.body)["erin"] == "admin"


async def test_groups_add_member__bad_input_and_duplicates_change_nothing(api: Api) -> None:
    team = await make_team(api)
    await api.user("gone")
    await system_call(api.settings, "admin.users.delete", {"username": "gone"})
    members = f"{team.url}/members"
    before = await snapshot()
    for body in ({}, {"username": ""}, {"username": "bad name"}, {"username": "u" * 31}, {"username": 5},
                 {"username": "dave", "role": "owner"}, {"username": "dave", "role": "boss"}, {"username": "dave", "extra": 1}):
        assert_problem(await api.post(members, body, token=team.alice), 400, "validation-failed")
    assert_problem(await api.post(members, {"username": "nobody"}, token=team.alice), 404, "user-not-found")
    assert_problem(await api.post(members, {"username": "gone"}, token=team.alice), 404, "user-not-found")
    assert_problem(await api.post(members, {"username": "carol"}, token=team.alice), 409, "already-member")
    assert_problem(await api.post(members, {"username": "bob", "role": "admin"}, token=team.alice), 409, "already-member")
    assert_problem(await api.post(members, {"username": "carol"}, token=team.bob), 409, "already-member")
    assert_problem(await api.post(members, {"username": "alice"}, token=team.alice), 409, "already-owner")
    assert_problem(await api.post(f"{GROUPS}/missing/members", {"username": "dave"}, token=team.alice), 404, "group-not-found")
    assert await snapshot() == before


async def test_groups_add_member__owner_promotes_and_demotes_admins(api: Api) -> None:
    team = await make_team(api)
    members = f"{team.url}/members"
    reply = await api.post(members, {"username": "carol", "role": "admin"}, token=team.alice)
    assert reply.status == 200 and roles(reply.body)["carol"] == "admin"
    event = await last_event("group.member_role_changed")
    assert event.payload == {"username": "carol", "role": "admin", "previous_role": "member"}
    reply = await api.post(members, {"username": "bob", "role": "member"}, token=team.alice)
    assert reply.status == 200 and roles(reply.body)["bob"] == "member"
    assert (await last_event("group.member_role_changed")).payload["previous_role"] == "admin"
    assert await Event.filter(name="group.member_role_changed").count() == 2


async def test_groups_add_member__admins_cannot_change_roles(api: Api) -> None:
    team = await make_team(api)
    members = f"{team.url}/members"
    await api.post(members, {"username": "dave", "role": "admin"}, token=team.alice, expect=200)
    before = await snapshot()
    assert_problem(await api.post(members, {"username": "carol", "role": "admin"}, token=team.bob), 403, "group-role-required")
    assert_problem(await api.post(members, {"username": "dave", "role": "member"}, token=team.bob), 403, "group-role-required")
    assert_problem(await api.post(members, {"username": "bob", "role": "member"}, token=team.bob), 403, "group-role-required")
    assert await snapshot() == before


# --- remove members and leave ----------------------------------------------------------


async def test_groups_remove_member__admin_removes_plain_members_only(api: Api) -> None:
    team = await make_team(api)
    await api.post(f"{team.url}/members", {"username": "dave", "role": "admin"}, token=team.alice, expect=200)
    before = await snapshot()
    assert_problem(await api.delete(f"{team.url}/members/dave", token=team.bob), 403, "group-role-required")
    assert_problem(await api.delete(f"{team.url}/members/bob", token=team.carol), 403, "group-role-required")
    assert await snapshot() == before
    reply = await api.delete(f"{team.url}/members/Carol", token=team.bob)
    assert reply.status == 204, reply
    assert_problem(await api.get(team.url, token=team.carol), 404, "group-not-found")
    event = await last_event("group.member_removed")
    assert event.payload == {"username": "carol", "role": "member", "left": False}
    assert event.actor_id == await actor_id("bob")
    assert (await api.delete(f"{team.url}/members/dave", token=team.alice)).status == 204  # owner removes an admin
    assert roles((await api.get(team.url, token=team.alice)).body) == {"alice": "owner", "bob": "admin"}


async def test_groups_remove_member__members_leave(api: Api) -> None:
    team = await make_team(api)
    for username, token, role in (("carol", team.carol, "member"), ("bob", team.bob, "admin")):
        assert (await api.delete(f"{team.url}/members/{username}", token=token)).status == 204
        event = await last_event("group.member_removed")
        assert event.payload == {"username": username, "role": role, "left": True}
        assert (await api.get(GROUPS, token=token)).body["items"] == []
    assert roles((await api.get(team.url, token=team.alice)).body) == {"alice": "owner"}


async def test_groups_remove_member__nobody_removes_the_owner(api: Api) -> None:
    team = await make_team(api)
    before = await snapshot()
    for token in (team.alice, team.bob, team.carol):
        assert_problem(await api.delete(f"{team.url}/members/alice", token=token), 409, "cannot-remove-owner")
    assert await snapshot() == before


async def test_groups_remove_member__unknown_members_and_groups(api: Api) -> None:
    team = await make_team(api)
    before = await snapshot()
    assert_problem(await api.delete(f"{team.url}/members/dave", token=team.alice), 404, "member-not-found")
    assert_problem(await api.delete(f"{team.url}/members/nobody", token=team.alice), 404, "member-not-found")
    assert_problem(await api.delete(f"{team.url}/members/bad%20name", token=team.alice), 400, "validation-failed")
    assert_problem(await api.delete(f"{team.url}/members/carol", token=team.dave), 404, "group-not-found")
    assert_problem(await api.delete(f"{GROUPS}/missing/members/carol", token=team.alice), 404, "group-not-found")
    assert_problem(await api.delete(f"{team.url}/members/carol", token=team.alice, params={"x": "1"}), 400)
    assert await snapshot() == before


async def test_groups_remove_member__deleted_users_can_still_be_removed(api: Api) -> None:
    team = await make_team(api)
    await system_call(api.settings, "admin.users.delete", {"username": "carol"})
    assert (await api.delete(f"{team.url}/members/carol", token=team.bob)).status == 204
    assert "carol" not in roles((await api.get(team.url, token=team.alice)).body)


async def test_groups__routes_appear_in_openapi(api: Api) -> None:
    paths = (await api.get("/api/v1/openapi.json")).body["paths"]
    assert {"post", "get"} <= set(paths[GROUPS])
    assert {"get", "patch", "delete"} <= set(paths[f"{GROUPS}/{{id}}"])
    assert "post" in paths[f"{GROUPS}/{{id}}/members"] and "delete" in paths[f"{GROUPS}/{{id}}/members/{{username}}"]

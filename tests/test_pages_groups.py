"""The groups pages: make a group, add people (as members or admins), edit the description, hand
the group on, remove people and leave after a confirm step, delete it after a confirm step;
refusals in words beside the fields with the input kept; no JavaScript."""

from __future__ import annotations

import re

import pytest

from models.actors import GroupMember, UserGroup

from .conftest import Api
from .pagehelpers import Browser
from .test_pages_session import assert_labelled

PAGE = "/app/groups"


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def _members(group_id: str) -> dict[str, str]:
    rows = await GroupMember.filter(group_id=group_id).select_related("user")
    return {row.user.username: row.role for row in rows}


async def test_pages_groups__make_add_people_hand_on_and_delete(browser: Browser, api: Api) -> None:
    await api.user("bob")
    await api.user("carol")
    await browser.sign_up("alice")
    form = await browser.get(PAGE, expect=200)
    assert "You are in no groups yet" in form and "<script" not in form.text
    assert_labelled(form.text)

    made = await browser.post(PAGE, {"name": "Chess club", "description": "Tuesdays"}, csrf=form.csrf(), expect=200)
    assert "Group Chess club made" in made and "You own it" in made and "Tuesdays" in made
    assert_labelled(made.text)
    group = await UserGroup.get(name="Chess club")
    here = f"{PAGE}/{group.id}"
    added = await browser.post(f"{here}/members", {"username": "bob", "role": "admin"}, csrf=form.csrf(), expect=200)
    assert "bob is now an admin of the group" in added
    await browser.post(f"{here}/members", {"username": "@carol", "role": "member"}, csrf=form.csrf(), expect=200)
    assert await _members(group.id) == {"bob": "admin", "carol": "member"}
    listed = await browser.get(PAGE, expect=200)
    assert re.search(r"Chess club</a>.*?Owner.*?>3<", listed.text, re.S), listed.text[:3000]

    described = await browser.post(f"{here}/description", {"description": "Tuesdays and Fridays"}, csrf=form.csrf(),
                                   expect=200)
    assert "Description saved" in described and (await UserGroup.get(id=group.id)).description == "Tuesdays and Fridays"

    asked = await browser.get(f"{here}?confirm=remove&username=carol", expect=200)
    assert "Remove carol from Chess club?" in asked and "carol" in await _members(group.id)
    removed = await browser.post(f"{here}/members/carol/remove", {}, csrf=asked.csrf(), expect=200)
    assert "carol is no longer in the group" in removed and "carol" not in await _members(group.id)

    handed = await browser.post(f"{here}/owner", {"owner": "bob"}, csrf=form.csrf(), expect=200)
    assert "bob owns the group now" in handed and "You are an admin" in handed
    assert (await UserGroup.get(id=group.id).prefetch_related("owner")).owner.username == "bob"
    assert "Delete the group" not in handed, "only the owner deletes"

    await browser.post("/signout", {}, csrf=handed.csrf(), expect=200)
    await browser.sign_in("bob")
    asked = await browser.get(f"{here}?confirm=delete", expect=200)
    assert "Delete Chess club?" in asked and "cannot be undone" in asked
    assert await UserGroup.filter(id=group.id).exists(), "asking deletes nothing"
    gone = await browser.post(f"{here}/delete", {}, csrf=asked.csrf(), expect=200)
    assert "Group deleted" in gone and "You are in no groups yet" in gone
    assert not await UserGroup.filter(id=group.id).exists()


async def test_pages_groups__refusals_are_explained_and_the_input_kept(browser: Browser, api: Api) -> None:
    await api.user("bob")
    await browser.sign_up("alice")
    form = await browser.get(PAGE, expect=200)
    empty = await browser.post(PAGE, {"name": "", "description": "kept words"}, csrf=form.csrf(), expect=400)
    assert "Give the group a name" in (empty.field_error("name") or "") and "kept words" in empty
    await browser.post(PAGE, {"name": "Makers"}, csrf=form.csrf(), expect=200)
    taken = await browser.post(PAGE, {"name": "makers", "description": "again"}, csrf=form.csrf(), expect=409)
    assert "already exists" in (taken.field_error("name") or "") and 'value="makers"' in taken.text
    group = await UserGroup.get(name="Makers")
    here = f"{PAGE}/{group.id}"
    nobody = await browser.post(f"{here}/members", {"username": "nobody_here"}, csrf=form.csrf(), expect=404)
    assert "nobody_here" in nobody and 'value="nobody_here"' in nobody.text
    badly = await browser.post(f"{here}/members", {"username": "not a name!"}, csrf=form.csrf(), expect=400)
    assert "is not a username" in (badly.field_error("username") or ""), badly.text[:3000]
    assert_labelled(badly.text)
    no_owner = await browser.post(f"{here}/owner", {"owner": "bob"}, csrf=form.csrf(), expect=422)
    assert "bob is not a member of this group: add them first" in no_owner
    owner_kept = await browser.post(f"{here}/members/alice/remove", {}, csrf=form.csrf(), expect=409)
    assert "nobody can remove the owner" in owner_kept
    assert await _members(group.id) == {} and await UserGroup.filter(id=group.id).exists()


async def test_pages_groups__admins_and_members_see_only_what_they_may_do(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    await api.user("carol")
    made = await api.post("/api/v1/groups", {"name": "Team"}, token=alice, expect=201)
    group_id = made.body["id"]
    await api.post(f"/api/v1/groups/{group_id}/members", {"username": "carol"}, token=alice, expect=200)
    await browser.sign_up("bob")
    await api.post(f"/api/v1/groups/{group_id}/members", {"username": "bob", "role": "admin"}, token=alice, expect=200)
    here = f"{PAGE}/{group_id}"
    seen = await browser.get(here, expect=200)
    assert "You are an admin" in seen and "Add someone" in seen and "Hand the group on" not in seen
    assert 'name="role"' in seen.text and "Admin: also adds and removes people" not in seen, "admins add plain members only"
    refused = await browser.post(f"{here}/members", {"username": "dave_x", "role": "admin"}, csrf=seen.csrf(),
                                 expect=403)
    assert "only the group's owner may make someone an admin" in refused
    not_owner = await browser.post(f"{here}/delete", {}, csrf=seen.csrf(), expect=403)
    assert "only the group's owner may delete the group" in not_owner
    left = await browser.post(f"{here}/members/bob/remove", {}, csrf=seen.csrf(), expect=200)
    assert "You left the group" in left and "Team" not in left.text.split("<main")[1]
    assert await _members(group_id) == {"carol": "member"}


async def test_pages_groups__another_users_group_is_not_found(browser: Browser, api: Api) -> None:
    bob = await api.user("bob")
    theirs = (await api.post("/api/v1/groups", {"name": "Secret society"}, token=bob, expect=201)).body
    await browser.sign_up("alice")
    form = await browser.get(PAGE, expect=200)
    assert "Secret society" not in form
    seen = await browser.get(f"{PAGE}/{theirs['id']}", expect=404)
    assert "Secret society" not in seen and "<title>Page not found" in seen.text
    await browser.post(f"{PAGE}/{theirs['id']}/members", {"username": "alice"}, csrf=form.csrf(), expect=404)
    await browser.post(f"{PAGE}/{theirs['id']}/description", {"description": "mine"}, csrf=form.csrf(), expect=404)
    await browser.post(f"{PAGE}/{theirs['id']}/delete", {}, csrf=form.csrf(), expect=404)
    group = await UserGroup.get(id=theirs["id"])
    assert group.description == "" and await _members(group.id) == {}


@pytest.mark.parametrize("token", [None, "forged"])
async def test_pages_groups__a_post_without_the_csrf_token_is_refused(browser: Browser, api: Api,
                                                                      token: str | None) -> None:
    await browser.sign_up("alice")
    refused = await browser.post(PAGE, {"name": "Forged"}, csrf=token, expect=403)
    assert "security token" in refused and not await UserGroup.filter(name="Forged").exists()


async def test_pages_groups__groups_webhooks_and_agents_are_reached_from_your_profile(browser: Browser) -> None:
    home = await browser.sign_up("alice")
    assert 'href="/app/profile"' in home.text, "the @name in the header opens your profile"
    profile = await browser.get("/app/profile", expect=200)
    assert "This is you" in profile
    for path in ("/app/groups", "/app/webhooks", "/app/agents"):
        assert f'href="{path}"' in profile.text
        await browser.get(path, expect=200)

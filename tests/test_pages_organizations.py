"""The organization pages: my organizations and the create form; the owner's and admins' forms
to add members, change roles, remove (after a confirm page) and issue shares; the members'
shares as a picture. Every form: it works, bad input is shown beside the field with the input
kept and a 4xx status, a non-member gets 404 where the API does, and CSRF is checked."""

from __future__ import annotations

import re
from typing import Any

import pytest

from models.organizations import OrgMember

from .conftest import Api
from .pagehelpers import Browser, Page
from .test_organizations import SHARES, organization
from .test_pages_session import assert_labelled

MINE = "/app/organizations"
ACME = f"{MINE}/acme"


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


def value_of(page: Page, field_id: str) -> str | None:
    """The value an <input id=...> shows (the user's input kept after a refusal)."""
    match = re.search(rf'<input id="{re.escape(field_id)}"[^>]*value="([^"]*)"', page.text)
    return match.group(1) if match else None


async def members(name: str = "acme") -> dict[str, str]:
    rows = await OrgMember.filter(organization__actor__username=name).select_related("user")
    return {row.user.username: row.role for row in rows}


async def test_pages_organizations__create_from_my_organizations_and_see_it_listed(browser: Browser) -> None:
    await browser.sign_up("alice")
    mine = await browser.get(MINE, expect=200)
    assert "You belong to no organization yet" in mine and 'href="/app/organizations">Organizations</a>' in mine.text
    assert "<script" not in mine.text
    assert_labelled(mine.text)
    made = await browser.post(MINE, {"name": "acme", "display_name": "Acme Cooperative", "summary": "We make anvils.",
                                     "quorum_percent": "60", "voting_days": "0.5"}, csrf=mine.csrf(), expect=200)
    assert made.url.endswith(ACME) and "Organization created" in made and "<h1>Acme Cooperative</h1>" in made.text
    assert "60% of the members' shares" in made and "voting lasts 12 hours" in made and "you are its owner" in made
    assert "No shares issued yet" in made
    listed = await browser.get(MINE, expect=200)
    assert 'id="org-acme"' in listed.text and "you are its owner" in listed


async def test_pages_organizations__create_refused_shows_why_and_keeps_the_input(browser: Browser) -> None:
    await browser.sign_up("alice")
    mine = await browser.get(MINE, expect=200)
    bad = await browser.post(MINE, {"name": "no spaces!", "display_name": "Mine", "quorum_percent": "0", "voting_days": "3"},
                             csrf=mine.csrf(), expect=400)
    assert bad.field_error("name") and bad.field_error("quorum_percent"), bad.text[:3000]
    assert value_of(bad, "f-name") == "no spaces!" and value_of(bad, "f-display-name") == "Mine"
    assert_labelled(bad.text)
    days = await browser.post(MINE, {"name": "acme", "quorum_percent": "50", "voting_days": "soon"}, csrf=mine.csrf(),
                              expect=400)
    assert days.field_error("voting_days") and value_of(days, "f-voting-days") == "soon"
    for odd in ("NaN", "Infinity", "1e400"):
        refused = await browser.post(MINE, {"name": "acme", "quorum_percent": "50", "voting_days": odd}, csrf=mine.csrf(),
                                     expect=400)
        assert refused.field_error("voting_days") and value_of(refused, "f-voting-days") == odd, odd
    taken = await browser.post(MINE, {"name": "alice", "quorum_percent": "50", "voting_days": "3"}, csrf=mine.csrf(),
                               expect=409)
    assert "is taken" in (taken.field_error("name") or "") and value_of(taken, "f-name") == "alice"
    assert "You belong to no organization yet" in taken


async def test_pages_organizations__owner_adds_a_member_issues_shares_changes_a_role_and_removes(
    browser: Browser, api: Api
) -> None:
    await organization(api)
    await api.user("newcomer")
    await browser.sign_in("alice")
    profile = await browser.get(ACME, expect=200)
    assert 'id="add-form"' in profile.text and 'id="shares-form"' in profile.text and "<script" not in profile.text
    assert_labelled(profile.text)
    # The shares as a picture: one bar per holder, and the same in figures.
    assert profile.text.count('class="share-row"') == len(SHARES) and "alice: 40 shares (40%)" in profile
    assert '<tr id="member-alice">' in profile.text and '40 <span class="meta">(40%)</span>' in profile.text

    added = await browser.post(f"{ACME}/members", {"username": "newcomer", "role": "member"}, csrf=profile.csrf(),
                               expect=200)
    assert "newcomer is a member now" in added and (await members())["newcomer"] == "member"
    issued = await browser.post(f"{ACME}/shares", {"to": "newcomer", "amount": "20"}, csrf=profile.csrf(), expect=200)
    assert "Issued 20 shares to newcomer" in issued and "newcomer: 20 shares (16.7%)" in issued
    role = await browser.post(f"{ACME}/members/newcomer/role", {"role": "admin"}, csrf=profile.csrf(), expect=200)
    assert "newcomer is an admin now" in role and (await members())["newcomer"] == "admin"

    confirm = await browser.get(f"{ACME}/members/newcomer/remove", expect=200)
    assert "Remove newcomer from Acme?" in confirm and 'id="remove-form"' in confirm.text
    assert (await members())["newcomer"] == "admin"  # asking changes nothing
    removed = await browser.post(f"{ACME}/members/newcomer/remove", {}, csrf=confirm.csrf(), expect=200)
    assert "newcomer is no longer a member" in removed and "newcomer" not in await members()


async def test_pages_organizations__manager_forms_refused_show_why_and_keep_the_input(browser: Browser, api: Api) -> None:
    await organization(api)
    await browser.sign_in("alice")
    profile = await browser.get(ACME, expect=200)
    unknown = await browser.post(f"{ACME}/members", {"username": "nobody", "role": "admin"}, csrf=profile.csrf(), expect=404)
    assert unknown.field_error("username") == "unknown user" and value_of(unknown, "add-username") == "nobody"
    assert re.search(r'<option value="admin" selected>', unknown.text)
    twice = await browser.post(f"{ACME}/members", {"username": "bob"}, csrf=profile.csrf(), expect=409)
    assert "'bob' is already a member" in twice and value_of(twice, "add-username") == "bob"
    nothing = await browser.post(f"{ACME}/shares", {"to": "bob", "amount": "-5"}, csrf=profile.csrf(), expect=400)
    assert nothing.field_error("amount") and value_of(nothing, "shares-amount") == "-5" and value_of(nothing, "shares-to") == "bob"
    stranger = await browser.post(f"{ACME}/shares", {"to": "zed", "amount": "5"}, csrf=profile.csrf(), expect=404)
    assert "'zed' is not a member" in stranger and value_of(stranger, "shares-to") == "zed"
    owner = await browser.post(f"{ACME}/members/alice/role", {"role": "member"}, csrf=profile.csrf(), expect=409)
    assert "the owner's role does not change" in owner and (await members())["alice"] == "owner"
    stays = await browser.post(f"{ACME}/members/alice/remove", {}, csrf=profile.csrf(), expect=409)
    assert "the owner cannot be removed" in stays


async def test_pages_organizations__a_plain_member_sees_no_manager_forms_and_is_refused(browser: Browser, api: Api) -> None:
    await organization(api)
    await browser.sign_in("carol")
    profile = await browser.get(ACME, expect=200)
    assert 'id="add-form"' not in profile.text and "you are a member" in profile and "Leave this organization" in profile
    refused = await browser.post(f"{ACME}/members", {"username": "zed"}, csrf=profile.csrf(), expect=403)
    assert "this needs the admin or owner role" in refused and "zed" not in await members()
    refused = await browser.post(f"{ACME}/shares", {"to": "carol", "amount": "1000"}, csrf=profile.csrf(), expect=403)
    assert "this needs the admin or owner role" in refused
    leave = await browser.get(f"{ACME}/members/carol/remove", expect=200)
    assert "Leave Acme?" in leave
    left = await browser.post(f"{ACME}/members/carol/remove", {}, csrf=leave.csrf(), expect=200)
    assert left.url.endswith(MINE) and "You left acme" in left and "carol" not in await members()


async def test_pages_organizations__a_non_member_gets_404_where_the_api_does(browser: Browser, api: Api) -> None:
    await organization(api)
    await browser.sign_in("zed")
    public = await browser.get(ACME, expect=200)  # the profile is public, as organizations.get is
    assert 'id="add-form"' not in public.text and "Proposals" not in public
    for path, data in ((f"{ACME}/members", {"username": "zed"}), (f"{ACME}/shares", {"to": "zed", "amount": "5"}),
                       (f"{ACME}/members/bob/role", {"role": "admin"}), (f"{ACME}/members/bob/remove", {})):
        refused = await browser.post(path, data, csrf=public.csrf(), expect=404)
        assert "you are not a member of 'acme'" in refused, path
    await browser.get(f"{ACME}/members/nobody/remove", expect=404)
    await browser.get(f"{MINE}/nowhere", expect=404)
    assert "zed" not in await members()


@pytest.mark.parametrize("token", [None, "forged"])
async def test_pages_organizations__forms_without_a_valid_csrf_token_change_nothing(
    browser: Browser, api: Api, token: Any
) -> None:
    await organization(api)
    await browser.sign_in("alice")
    await browser.get(ACME, expect=200)
    for path, data in ((MINE, {"name": "other", "quorum_percent": "50", "voting_days": "1"}),
                       (f"{ACME}/members", {"username": "zed"}), (f"{ACME}/shares", {"to": "bob", "amount": "5"}),
                       (f"{ACME}/members/bob/role", {"role": "admin"}), (f"{ACME}/members/bob/remove", {})):
        refused = await browser.post(path, data, csrf=token, expect=403)
        assert "security token" in refused, path
    assert await members() == {"alice": "owner", "bob": "member", "carol": "member", "dave": "member", "erin": "member"}
    await browser.get(f"{MINE}/other", expect=404)  # not created

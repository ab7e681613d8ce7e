"""The agents page: allow an agent one of my tokens or a set's tokens (picked from a list, not
pasted ids), review the changes it reports (apply or refuse, in words), withdraw it after a
confirm step; refusals beside the fields with the input kept; no JavaScript."""

from __future__ import annotations

import re

import pytest

from models.agents import AgentGrant, AgentReport

from .conftest import Api
from .pagehelpers import Browser
from .sethelpers import make_set, make_token, make_type
from .test_pages_session import assert_labelled

PAGE = "/app/agents"
REPORTS = "/api/v1/agents/reports"


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def _alice_with_a_gem(browser: Browser, api: Api) -> tuple[str, str]:
    """alice (signed in in the browser) owns a Gem labelled "raw": (her API token, the token's id)."""
    await browser.sign_up("alice")
    login = await api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)
    alice = str(login.body["token"])
    return alice, await make_token(api, alice, await make_type(api, alice), label="raw", colour="red")


async def _label(api: Api, token_id: str) -> str:
    return str((await api.get(f"/api/v1/tokens/{token_id}", expect=200)).body["attributes"]["label"])


async def test_pages_agents__allow_review_apply_refuse_and_withdraw(browser: Browser, api: Api) -> None:
    alice, gem = await _alice_with_a_gem(browser, api)
    robot = await api.user("robot", roles=["agent"])
    form = await browser.get(PAGE, expect=200)
    assert "No changes wait for you" in form and "You have allowed no agents" in form and "<script" not in form.text
    assert f'<option value="token:{gem}">Gem “raw”</option>' in form.text, "tokens are picked by name"
    assert_labelled(form.text)

    allowed = await browser.post(f"{PAGE}/grants", {"agent": "robot", "target": f"token:{gem}",
                                                     "needs_approval": "on"}, csrf=form.csrf(), expect=200)
    assert "may now report changes" in allowed and "wait for your yes" in allowed and "Gem “raw”" in allowed
    grant = await AgentGrant.get(token_id=gem)
    assert grant.needs_approval and grant.attributes == []

    first = await api.post(REPORTS, {"token": gem, "attributes": {"label": "cut"}, "note": "polished"}, token=robot,
                           expect=201)
    waiting = await browser.get(PAGE, expect=200)
    assert re.search(r"robot</strong> reports a change to <a [^>]*>Gem “raw”</a>", waiting.text)
    assert "label becomes cut" in waiting
    assert "Their note: polished" in waiting
    assert not re.search(r">\d{4}-\d\d-\d\dT", waiting.text), "no raw timestamps shown"
    applied = await browser.post(f"{PAGE}/reports/{first.body['id']}/approve", {}, csrf=form.csrf(), expect=200)
    assert "Applied: the token's label changed" in applied and "No changes wait for you" in applied
    assert await _label(api, gem) == "cut"
    assert re.search(r"label becomes cut on .*?applied", applied.text, re.S)

    second = await api.post(REPORTS, {"token": gem, "attributes": {"label": "lost"}}, token=robot, expect=201)
    refused = await browser.post(f"{PAGE}/reports/{second.body['id']}/reject", {}, csrf=form.csrf(), expect=200)
    assert "Refused: the token stays as it is" in refused and await _label(api, gem) == "cut"

    third = await api.post(REPORTS, {"token": gem, "attributes": {"label": "late"}}, token=robot, expect=201)
    await api.patch(f"/api/v1/tokens/{gem}", {"attributes": {"colour": "blue"}}, token=alice, expect=200)
    stale = await browser.post(f"{PAGE}/reports/{third.body['id']}/approve", {}, csrf=form.csrf(), expect=409)
    assert "The token changed after the agent reported this" in stale and await _label(api, gem) == "cut"

    asked = await browser.get(f"{PAGE}?confirm=withdraw&grant={grant.id}", expect=200)
    assert "reporting on Gem “cut”?" in asked and "are refused too" in asked
    assert await AgentGrant.filter(id=grant.id).exists(), "asking withdraws nothing"
    withdrawn = await browser.post(f"{PAGE}/grants/{grant.id}/withdraw", {}, csrf=asked.csrf(), expect=200)
    assert "Withdrawn" in withdrawn and "You have allowed no agents" in withdrawn
    assert (await AgentReport.get(id=third.body["id"])).state == "rejected"


async def test_pages_agents__a_set_is_picked_from_the_list(browser: Browser, api: Api) -> None:
    alice, _ = await _alice_with_a_gem(browser, api)
    await api.user("robot", roles=["agent"])
    shelf = await make_set(api, alice, "Shop shelf")
    form = await browser.get(PAGE, expect=200)
    assert f'<option value="set:{shelf["id"]}">Shop shelf</option>' in form.text
    await browser.post(f"{PAGE}/grants", {"agent": "@robot", "target": f"set:{shelf['id']}",
                                          "attributes": "label, colour"}, csrf=form.csrf(), expect=200)
    grant = await AgentGrant.get(set_id=shelf["id"])
    assert grant.attributes == ["colour", "label"] and not grant.needs_approval
    listed = await browser.get(PAGE, expect=200)
    assert "the tokens in the set Shop shelf" in listed and "colour, label" in listed and "apply at once" in listed


async def test_pages_agents__refusals_are_explained_beside_the_field_and_kept(browser: Browser, api: Api) -> None:
    _, gem = await _alice_with_a_gem(browser, api)
    await api.user("bob")
    form = await browser.get(PAGE, expect=200)
    empty = await browser.post(f"{PAGE}/grants", {"agent": "", "target": f"token:{gem}", "attributes": "label"},
                               csrf=form.csrf(), expect=400)
    assert "Enter the agent's username" in (empty.field_error("agent") or "")
    assert f'<option value="token:{gem}" selected>' in empty.text and 'value="label"' in empty.text
    nothing = await browser.post(f"{PAGE}/grants", {"agent": "robot", "target": ""}, csrf=form.csrf(), expect=400)
    assert "Pick the token or the set" in (nothing.field_error("target") or "")
    unknown = await browser.post(f"{PAGE}/grants", {"agent": "nobody_here", "target": f"token:{gem}"},
                                 csrf=form.csrf(), expect=404)
    assert "there is no user" in (unknown.field_error("agent") or "") and 'value="nobody_here"' in unknown.text
    person = await browser.post(f"{PAGE}/grants", {"agent": "bob", "target": f"token:{gem}"}, csrf=form.csrf(),
                                expect=400)
    assert "does not have the agent role" in (person.field_error("agent") or "")
    assert_labelled(person.text)
    assert not await AgentGrant.all().exists()


async def test_pages_agents__another_users_grants_tokens_and_reports_are_not_found(browser: Browser, api: Api) -> None:
    bob = await api.user("bob")
    robot = await api.user("robot", roles=["agent"])
    bobs_gem = await make_token(api, bob, await make_type(api, bob), label="bob's")
    grant = (await api.post("/api/v1/agents/grants", {"agent": "robot", "token": bobs_gem, "needs_approval": True},
                            token=bob, expect=201)).body
    report = (await api.post(REPORTS, {"token": bobs_gem, "attributes": {"label": "x"}}, token=robot, expect=201)).body
    await _alice_with_a_gem(browser, api)
    form = await browser.get(PAGE, expect=200)
    assert "bob's" not in form and "label becomes x" not in form
    await browser.post(f"{PAGE}/grants/{grant['id']}/withdraw", {}, csrf=form.csrf(), expect=404)
    await browser.post(f"{PAGE}/reports/{report['id']}/approve", {}, csrf=form.csrf(), expect=404)
    await browser.post(f"{PAGE}/reports/{report['id']}/reject", {}, csrf=form.csrf(), expect=404)
    theirs = await browser.post(f"{PAGE}/grants", {"agent": "robot", "target": f"token:{bobs_gem}"}, csrf=form.csrf(),
                                expect=404)
    assert "you have no token" in (theirs.field_error("target") or "")
    assert await AgentGrant.filter(id=grant["id"]).exists()
    assert (await AgentReport.get(id=report["id"])).state == "pending"


@pytest.mark.parametrize("token", [None, "forged"])
async def test_pages_agents__a_post_without_the_csrf_token_is_refused(browser: Browser, api: Api,
                                                                      token: str | None) -> None:
    _, gem = await _alice_with_a_gem(browser, api)
    await api.user("robot", roles=["agent"])
    refused = await browser.post(f"{PAGE}/grants", {"agent": "robot", "target": f"token:{gem}"}, csrf=token,
                                 expect=403)
    assert "security token" in refused and not await AgentGrant.all().exists()

"""Moderation pages (issue 19, item 6): the moderator's queue with an edit form per token, the
audit log for owners and moderators, and the assignments page with an admin's ownership change;
no JavaScript, every field labelled."""

from __future__ import annotations

import pytest

from .conftest import Api
from .pagehelpers import Browser
from .test_moderation import ASSIGN, make_token, make_type
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def test_pages_moderation__owner_sets_up_moderator_edits_from_the_queue_owner_reads_the_log(
    browser: Browser, api: Api
) -> None:
    alice = await api.user("alice")
    await api.user("mod")
    card = await make_type(api, alice)
    token_id = await make_token(api, alice, card)
    await browser.sign_in("alice")
    page = await browser.get("/app/moderation/assignments", expect=200)
    assert "No moderators yet" in page and "Change ownership" not in page
    assert_labelled(page.text)
    refused = await browser.post("/app/moderation/assignments", {"moderator": "ghost", "kind": "type", "target": card},
                                 csrf=page.csrf(), expect=404)
    assert "there is no user named" in refused
    made = await browser.post("/app/moderation/assignments", {"moderator": "mod", "kind": "type", "target": card,
                                                              "attributes": "title", "can_edit": "on"}, csrf=page.csrf(), expect=200)
    assert "mod is now a moderator" in made and "see and edit" in made
    await api.patch(f"/api/v1/tokens/{token_id}", {"attributes": {"title": "Spam"}}, token=alice, expect=200)

    await browser.sign_in("mod")
    queue = await browser.get("/app/moderation", expect=200)
    assert "Spam" in queue and "title" in queue and f'action="/app/moderation/tokens/{token_id}/edit"' in queue
    assert_labelled(queue.text)
    assert "<script" not in queue.text
    missing = await browser.post(f"/app/moderation/tokens/{token_id}/edit", {"a-title": "Clean", "reason": ""},
                                 csrf=queue.csrf(), expect=400)
    assert 'data-field="reason"' in missing.text
    done = await browser.post(f"/app/moderation/tokens/{token_id}/edit", {"a-title": "Clean", "reason": "spam removed"},
                              csrf=queue.csrf(), expect=200)
    assert "the edit is in the audit log" in done
    assert (await api.get(f"/api/v1/tokens/{token_id}", expect=200)).body["attributes"]["title"] == "Clean"
    mine = await browser.get("/app/moderation/audit?role=actor", expect=200)
    assert "spam removed" in mine and "Spam → Clean" in mine

    await browser.sign_in("alice")
    log = await browser.get("/app/moderation/audit", expect=200)
    assert "spam removed" in log and "mod@" in log and "(moderator)" in log


async def test_pages_moderation__admin_changes_ownership_and_revokes(browser: Browser, api: Api) -> None:
    alice = await api.user("alice")
    await api.user("bob")
    await api.user("root", roles=["admin"])
    card = await make_type(api, alice)
    token_id = await make_token(api, alice, card)
    await api.post(ASSIGN, {"moderator": "bob", "type": card}, token=alice, expect=201)
    await browser.sign_in("root")
    page = await browser.get("/app/moderation/assignments", expect=200)
    assert "Every assignment" in page and "Change ownership (admin)" in page and "bob@" in page
    assert_labelled(page.text)
    bad = await browser.post("/app/admin/ownership", {"object_type": "token", "id": token_id, "owner": "bob", "reason": ""},
                             csrf=page.csrf(), expect=400)
    assert 'data-field="reason"' in bad.text
    moved = await browser.post("/app/admin/ownership", {"object_type": "token", "id": token_id, "owner": "bob",
                                                        "reason": "dispute settled"}, csrf=page.csrf(), expect=200)
    assert "The token now belongs to bob" in moved
    assert (await api.get(f"/api/v1/tokens/{token_id}", expect=200)).body["owner"]["username"] == "bob"
    assignment = (await api.get(ASSIGN, params={"role": "set_up"}, token=alice, expect=200)).body["items"][0]["id"]
    revoked = await browser.post(f"/app/moderation/assignments/{assignment}/revoke", {}, csrf=page.csrf(), expect=200)
    assert "The assignment is revoked" in revoked and "No moderators yet" in revoked
    await browser.sign_in("bob")
    assert "dispute settled" in await browser.get("/app/moderation/audit", expect=200)

"""Admin pages (issue 23, item 1): add and delete users, block single remote accounts, and the
list of outgoing deliveries; each calls the operation the API calls, and refuses non-admins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.actors import Actor
from models.federation import Delivery

from .conftest import Api
from .pagehelpers import Browser
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def test_pages_admin__adds_a_user_whose_token_is_shown_once_and_works(browser: Browser, api: Api) -> None:
    await api.user("root", roles=["admin"])
    await browser.sign_in("root")
    page = await browser.get("/app/admin/users", expect=200)
    assert "Add a user" in page
    assert_labelled(page.text)
    made = await browser.post("/app/admin/users", [("username", "carol"), ("email", "carol@example.org"),
                                                   ("password", "long enough"), ("roles", "moderator")],
                              csrf=page.csrf(), expect=200)
    assert "<strong>carol</strong> can sign in now" in made.text
    token = made.text.split('<p class="secret">', 1)[1].split("<", 1)[0]
    me = await api.get("/api/v1/users/me", token=token, expect=200)
    assert me.body["username"] == "carol" and me.body["roles"] == ["moderator"]
    again = await browser.get("/app/admin/users", expect=200)
    assert token not in again.text and 'id="user-carol"' in again.text


async def test_pages_admin__a_refused_new_user_keeps_the_input_and_says_why(browser: Browser, api: Api) -> None:
    await api.user("root", roles=["admin"])
    await browser.sign_in("root")
    page = await browser.get("/app/admin/users", expect=200)
    short = await browser.post("/app/admin/users", [("username", "dave"), ("email", "dave@example.org"),
                                                    ("password", "short"), ("roles", "admin")],
                               csrf=page.csrf(), expect=400)
    assert short.field_error("password") and not short.field_error("username")
    assert 'value="dave"' in short.text and 'value="dave@example.org"' in short.text
    assert 'value="short"' not in short.text  # a password is never written back into the page
    assert 'id="new-role-admin" name="roles" value="admin" checked' in short.text
    taken = await browser.post("/app/admin/users", [("username", "root"), ("email", "r2@example.org"),
                                                    ("password", "long enough")], csrf=page.csrf(), expect=409)
    assert "taken" in (taken.field_error("username") or "")
    listed = await api.get("/api/v1/admin/users", token=await api.user("other", roles=["admin"]), expect=200)
    assert {user["username"] for user in listed.body["items"]} == {"root", "other"}


async def test_pages_admin__deletes_a_user_after_a_confirm_step(browser: Browser, api: Api) -> None:
    await api.user("root", roles=["admin"])
    bob = await api.user("bob")
    await browser.sign_in("root")
    listing = await browser.get("/app/admin/users", expect=200)
    assert 'href="/app/admin/users/bob/delete"' in listing.text
    confirm = await browser.get("/app/admin/users/bob/delete", expect=200)
    assert "Their history stays" in confirm and "stops working" in confirm
    await api.get("/api/v1/users/me", token=bob, expect=200)  # nothing changed by opening the confirm page
    done = await browser.post("/app/admin/users/bob/delete", {}, csrf=confirm.csrf(), expect=200)
    assert "bob is deleted" in done and "deleted; history kept" in done
    assert (await api.get("/api/v1/users/me", token=bob)).status == 401
    self_delete = await browser.post("/app/admin/users/root/delete", {}, csrf=confirm.csrf(), expect=409)
    assert "cannot" in self_delete and "Delete the account root?" in self_delete
    missing = await browser.post("/app/admin/users/ghost/delete", {}, csrf=confirm.csrf(), expect=404)
    assert "ghost" in missing


async def test_pages_admin__blocks_and_unblocks_one_remote_account(browser: Browser, api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    await browser.sign_in("root")
    page = await browser.get("/app/admin/blocks", expect=200)
    assert "No single account is blocked." in page
    assert_labelled(page.text)
    bad = await browser.post("/app/admin/blocks/actors", {"actor": "ftp://x"}, csrf=page.csrf(), expect=400)
    assert "user@host" in (bad.field_error("actor") or "") and 'value="ftp://x"' in bad.text
    empty = await browser.post("/app/admin/blocks/actors", {"actor": ""}, csrf=page.csrf(), expect=400)
    assert empty.field_error("actor")
    local = await browser.post("/app/admin/blocks/actors", {"actor": "root@" + api.settings.domain},
                               csrf=page.csrf(), expect=422)
    assert "this server" in (local.field_error("actor") or "")
    uri = "https://spam.example/users/troll"
    blocked = await browser.post("/app/admin/blocks/actors", {"actor": uri}, csrf=page.csrf(), expect=200)
    assert f"{uri} is blocked." in blocked and "No single account is blocked." not in blocked
    listed = (await api.get("/api/v1/admin/federation/actor-blocks", token=admin, expect=200)).body["items"]
    assert [item["actor"] for item in listed] == [uri]
    assert "No domain is blocked." in blocked  # one account, not its server
    lifted = await browser.post("/app/admin/blocks/actors/unblock", {"id": listed[0]["id"], "actor": uri},
                                csrf=page.csrf(), expect=200)
    assert f"{uri} is no longer blocked." in lifted and "No single account is blocked." in lifted
    assert (await api.get("/api/v1/admin/federation/actor-blocks", token=admin, expect=200)).body["items"] == []


async def _delivery(signer: Actor, name: str, state: str, **values: object) -> None:
    await Delivery.create(signer=signer, activity_uri=f"https://here.example/activities/{name}",
                          inbox=f"https://{name}.example/inbox", domain=f"{name}.example", body="{}", state=state,
                          **values)


async def test_pages_admin__deliveries_in_words_filtered_by_state(browser: Browser, api: Api) -> None:
    await api.user("root", roles=["admin"])
    root = await Actor.get(username="root")
    soon = datetime.now(UTC) + timedelta(minutes=10)
    await _delivery(root, "slow", "pending", attempts=3, last_status=503, last_error="Service Unavailable",
                    next_at=soon)
    await _delivery(root, "fine", "delivered", attempts=1, delivered_at=datetime.now(UTC))
    await _delivery(root, "gone", "failed", attempts=1, last_status=410, last_error="Gone")
    await browser.sign_in("root")
    page = await browser.get("/app/admin/deliveries", expect=200)
    assert_labelled(page.text)
    assert "To slow.example" in page and "waiting to be sent" in page and "tried 3 times" in page
    assert "next try in 10 minutes" in page and "the server answered 503: Service Unavailable" in page
    assert "To fine.example" in page and "To gone.example" in page and "gave up" in page
    assert "+00:00" not in page.text and "{" not in page.text.split("<main", 1)[1]  # no raw timestamps or JSON
    pending = await browser.get("/app/admin/deliveries?state=pending", expect=200)
    assert "To slow.example" in pending and "To fine.example" not in pending
    assert 'value="pending" selected' in pending.text
    by_domain = await browser.get("/app/admin/deliveries?domain=gone.example", expect=200)
    assert "To gone.example" in by_domain and "To slow.example" not in by_domain
    none = await browser.get("/app/admin/deliveries?state=delivered&domain=slow.example", expect=200)
    assert "None delivered to slow.example." in none


async def test_pages_admin__refused_to_non_admins_and_without_csrf(browser: Browser, api: Api) -> None:
    await api.user("root", roles=["admin"])
    await api.user("bob")
    await browser.sign_up("ann")
    for path in ("/app/admin/users", "/app/admin/deliveries", "/app/admin/blocks", "/app/admin/users/bob/delete"):
        assert (await browser.get(path)).status == 403, path
    home = await browser.get("/", expect=200)
    for path, data in (("/app/admin/users", {"username": "eve", "email": "e@example.org", "password": "long enough"}),
                       ("/app/admin/users/bob/delete", {}),
                       ("/app/admin/blocks/actors", {"actor": "https://spam.example/users/x"}),
                       ("/app/admin/blocks/actors/unblock", {"id": "x"})):
        assert (await browser.post(path, data, csrf=home.csrf())).status == 403, path
    await browser.sign_in("root")
    for path, data in (("/app/admin/users", {"username": "eve", "email": "e@example.org", "password": "long enough"}),
                       ("/app/admin/users/bob/delete", {}),
                       ("/app/admin/blocks/actors", {"actor": "https://spam.example/users/x"})):
        refused = await browser.post(path, data, csrf="forged")
        assert refused.status == 403 and "security token" in refused, path
    root = await api.user("other", roles=["admin"])
    users = (await api.get("/api/v1/admin/users", token=root, expect=200)).body["items"]
    assert "eve" not in {user["username"] for user in users} and {u["status"] for u in users} == {"active"}
    assert (await api.get("/api/v1/admin/federation/actor-blocks", token=root, expect=200)).body["items"] == []


async def test_pages_admin__deliveries_page_on_keeping_the_filter(browser: Browser, api: Api) -> None:
    await api.user("root", roles=["admin"])
    root = await Actor.get(username="root")
    await Delivery.bulk_create([
        Delivery(signer=root, activity_uri=f"https://here.example/activities/{n}", inbox="https://far.example/inbox",
                 domain="far.example", body="{}", state="failed", attempts=8, last_error="timed out")
        for n in range(52)
    ])
    await _delivery(root, "near", "pending", attempts=0)
    await browser.sign_in("root")
    first = await browser.get("/app/admin/deliveries?state=failed", expect=200)
    assert first.text.count('class="delivery state-failed"') == 50 and "To near.example" not in first
    assert 'href="/app/admin/deliveries?state=failed&amp;page=2"' in first.text
    second = await browser.get("/app/admin/deliveries?state=failed&page=2", expect=200)
    assert second.text.count('class="delivery state-failed"') == 2 and "Older" not in second
    assert "tried 8 times" in second and "Last problem: timed out" in second
    odd = await browser.get("/app/admin/deliveries?state=failed&page=zero", expect=200)  # read as the first page
    assert odd.text.count('class="delivery state-failed"') == 50
    long = await browser.get("/app/admin/deliveries?domain=" + "x" * 300, expect=400)
    assert "no server has a name that long" in long and 'value="' + "x" * 300 + '"' in long.text

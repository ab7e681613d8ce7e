"""One token or type from its pages: edit a token's values (enum values from a select; a
concurrent change shown, not overwritten), delete a token or an unused type after a confirm
page, delete your account with your password; others' tokens and types are 404s."""

from __future__ import annotations

import re

import pytest

from models.actors import User
from models.tokens import Token, TokenType

from .conftest import Api
from .pagehelpers import Browser
from .sethelpers import make_token, make_type
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def signed_up(browser: Browser, api: Api, name: str) -> str:
    await browser.sign_up(name)
    login = await api.post("/api/v1/auth/login", {"username": name, "password": "correct horse"}, expect=200)
    return str(login.body["token"])


async def test_pages_tokens__edit_values_with_selects_errors_and_conflicts(browser: Browser, api: Api) -> None:
    alice = await signed_up(browser, api, "alice")
    gem = await make_type(api, alice)
    ruby = await make_token(api, alice, gem, label="Ruby", colour="red", count=3)
    token_page = await browser.get(f"/app/tokens/{ruby}", expect=200)
    assert f'href="/app/tokens/{ruby}/edit"' in token_page.text
    form = await browser.get(f"/app/tokens/{ruby}/edit", expect=200)
    assert_labelled(form.text)
    assert '<select id="f-a-colour" name="a-colour"' in form.text and '<option value="red" selected>' in form.text
    bad = await browser.post(f"/app/tokens/{ruby}/edit", {"a-label": "Big ruby", "a-colour": "red", "a-count": "many",
                                                          "version": "1"}, csrf=form.csrf(), expect=400)
    assert bad.field_error("a-count") and 'value="Big ruby"' in bad.text and 'value="many"' in bad.text
    assert (await Token.get(id=ruby)).attributes["label"] == "Ruby"
    saved = await browser.post(f"/app/tokens/{ruby}/edit", {"a-label": "Big ruby", "a-colour": "blue", "a-count": "",
                                                            "a-active": "true", "version": "1"},
                               csrf=form.csrf(), expect=200)
    assert "Token saved." in saved and "Big ruby" in saved
    stored = (await Token.get(id=ruby)).attributes
    assert stored["colour"] == "blue" and stored["active"] is True and "count" not in stored
    await api.patch(f"/api/v1/tokens/{ruby}", {"attributes": {"label": "Their ruby"}}, token=alice, expect=200)
    stale = await browser.post(f"/app/tokens/{ruby}/edit", {"a-label": "Mine", "version": "2"}, csrf=form.csrf(),
                               expect=409)
    assert "Someone changed this token while you were editing" in stale and 'value="Their ruby"' in stale.text
    assert (await Token.get(id=ruby)).attributes["label"] == "Their ruby"


async def test_pages_tokens__delete_a_token_then_its_type(browser: Browser, api: Api) -> None:
    alice = await signed_up(browser, api, "alice")
    gem = await make_type(api, alice)
    ruby = await make_token(api, alice, gem, label="Ruby")
    confirm = await browser.get(f"/app/tokens/{ruby}/delete", expect=200)
    assert "This cannot be undone" in confirm and "is burnt" in confirm
    gone = await browser.post(f"/app/tokens/{ruby}/delete", {}, csrf=confirm.csrf(), expect=200)
    assert "Token deleted." in gone and (await Token.get(id=ruby)).is_deleted
    await browser.get(f"/app/tokens/{ruby}", expect=404)
    type_confirm = await browser.get(f"/app/types/{gem}/delete", expect=200)
    in_use = await browser.post(f"/app/types/{gem}/delete", {}, csrf=type_confirm.csrf(), expect=409)
    assert "It cannot be deleted: this type has ledger entries" in in_use
    assert not (await TokenType.get(id=gem)).is_deleted
    unused = await make_type(api, alice, name="Pebble", symbol="PBL")
    type_page = await browser.get(f"/app/types/{unused}", expect=200)
    assert f'href="/app/types/{unused}/delete"' in type_page.text
    deleted = await browser.post(f"/app/types/{unused}/delete", {}, csrf=type_page.csrf(), expect=200)
    assert "Token type Pebble deleted." in deleted and (await TokenType.get(id=unused)).is_deleted


async def test_pages_tokens__others_tokens_and_types_are_not_found_and_forged_forms_refused(
    browser: Browser, api: Api
) -> None:
    bob = await api.user("bob")
    gem = await make_type(api, bob)
    ruby = await make_token(api, bob, gem, label="Ruby")
    alice = await signed_up(browser, api, "alice")
    seen = await browser.get(f"/app/tokens/{ruby}", expect=200)
    assert f"/app/tokens/{ruby}/edit" not in seen.text
    for path in (f"/app/tokens/{ruby}/edit", f"/app/tokens/{ruby}/delete", f"/app/types/{gem}/delete"):
        await browser.get(path, expect=404)
        await browser.post(path, {"a-label": "Mine"}, csrf=seen.csrf(), expect=404)
    assert not (await Token.get(id=ruby)).is_deleted and (await Token.get(id=ruby)).attributes["label"] == "Ruby"
    mine = await make_token(api, alice, await make_type(api, alice, name="Own", symbol="OWN"), label="Mine")
    await browser.post(f"/app/tokens/{mine}/delete", {}, csrf="forged", expect=403)
    await browser.post(f"/app/tokens/{mine}/edit", {"a-label": "x"}, expect=403)
    assert not (await Token.get(id=mine)).is_deleted


async def test_pages_account__delete_needs_the_password_and_says_what_happens(browser: Browser, api: Api) -> None:
    await signed_up(browser, api, "alice")
    confirm = await browser.get("/app/account/delete", expect=200)
    assert "Your tokens, sets, token types and ledger history stay on this server" in confirm
    assert_labelled(confirm.text)
    await browser.post("/app/account/delete", {"password": "correct horse"}, csrf="forged", expect=403)
    wrong = await browser.post("/app/account/delete", {"password": "wrong"}, csrf=confirm.csrf(), expect=403)
    assert wrong.field_error("password") == "That is not your password; nothing was deleted."
    assert (await User.get(username="alice")).status == "active"
    gone = await browser.post("/app/account/delete", {"password": "correct horse"}, csrf=confirm.csrf(), expect=200)
    assert "Your account is deleted." in gone and "Sign in" in gone
    assert (await User.get(username="alice")).status == "deleted"
    await api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=401)


async def test_pages_manage__each_new_page_has_a_title_one_heading_labels_and_no_script(
    browser: Browser, api: Api
) -> None:
    alice = await signed_up(browser, api, "alice")
    gem = await make_type(api, alice)
    ruby = await make_token(api, alice, gem, label="Ruby", colour="red")
    shelf = await api.post("/api/v1/sets", {"name": "Shelf"}, token=alice, expect=201)
    await api.post(f"/api/v1/sets/{shelf.body['id']}/tokens", {"tokens": [ruby]}, token=alice, expect=200)
    queued = await api.post("/api/v1/sets", {"name": "Later"}, token=alice, headers={"Prefer": "respond-async"},
                            expect=202)
    set_path = f"/app/sets/{shelf.body['id']}"
    paths = [
        set_path, f"{set_path}/edit", f"{set_path}/delete", f"{set_path}/search",
        f"{set_path}/search?searched=1&f0-attribute=colour&f0-op=eq&f0-value=red",
        f"/app/tokens/{ruby}/edit", f"/app/tokens/{ruby}/delete", f"/app/types/{gem}/delete",
        "/app/jobs", f"/app/jobs/{queued.body['id']}", "/app/imports", "/app/account/delete",
    ]
    for path in paths:
        page = await browser.get(path, expect=200)
        assert re.search(r"<title>[^<]+</title>", page.text) and page.text.count("<h1") == 1, path
        assert "<script" not in page.text and ' style="' not in page.text, path
        assert_labelled(page.text)

"""Sets from their pages: add tokens by ticking them in a list of your own, edit (a change made
meanwhile is shown, not overwritten), take a token out, search by attribute, delete after a
confirm page; another user's set is a 404 and a forged form is refused."""

from __future__ import annotations

import pytest

from models.sets import SetMember, TokenSet

from .conftest import Api
from .pagehelpers import Browser
from .sethelpers import make_set, make_token, make_type
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def signed_up(browser: Browser, api: Api, name: str) -> str:
    """Sign the browser up as `name`; the API token of the same user."""
    await browser.sign_up(name)
    login = await api.post("/api/v1/auth/login", {"username": name, "password": "correct horse"}, expect=200)
    return str(login.body["token"])


async def shelf(api: Api, token: str) -> tuple[str, list[str]]:
    """A set and three tokens of a Gem type (none in the set yet)."""
    gem = await make_type(api, token)
    tokens = [
        await make_token(api, token, gem, label="Ruby", colour="red", weight="12.5", count=3),
        await make_token(api, token, gem, label="Sapphire", colour="blue", weight="3", count=7),
        await make_token(api, token, gem, label="Garnet", colour="red", weight="40", count=1),
    ]
    return (await make_set(api, token, "Shelf"))["id"], tokens


async def test_pages_sets__tick_tokens_to_add_then_take_one_out(browser: Browser, api: Api) -> None:
    alice = await signed_up(browser, api, "alice")
    set_id, (ruby, sapphire, garnet) = await shelf(api, alice)
    page = await browser.get(f"/app/sets/{set_id}", expect=200)
    assert "Your tokens not in this set" in page and "Gem: Ruby" in page and "Gem: Garnet" in page
    assert ruby not in page.text.replace(f'value="{ruby}"', "").replace(f"pick-{ruby}", "")  # titled, not by id
    assert_labelled(page.text)
    nothing = await browser.post(f"/app/sets/{set_id}/tokens", {}, csrf=page.csrf(), expect=422)
    assert "tick at least one token" in (nothing.field_error("tokens") or "")
    added = await browser.post(f"/app/sets/{set_id}/tokens", [("pick", ruby), ("pick", garnet)], csrf=page.csrf(),
                               expect=200)
    assert "Added 2 token(s)." in added
    assert set(await SetMember.filter(set_id=set_id).values_list("token_id", flat=True)) == {ruby, garnet}
    assert f'id="pick-{sapphire}"' in added.text and f'id="pick-{ruby}"' not in added.text
    bad = await browser.post(f"/app/sets/{set_id}/tokens", [("pick", sapphire), ("tokens", "nosuchtoken")],
                             csrf=page.csrf(), expect=404)
    assert bad.field_error("tokens") and "nosuchtoken" in bad.text  # the pasted id is kept
    assert f'id="pick-{sapphire}" type="checkbox" name="pick" value="{sapphire}" checked' in bad.text
    out = await browser.post(f"/app/sets/{set_id}/tokens/{ruby}/remove", {}, csrf=page.csrf(), expect=200)
    assert "Token taken out of the set." in out
    assert set(await SetMember.filter(set_id=set_id).values_list("token_id", flat=True)) == {garnet}
    await browser.post(f"/app/sets/{set_id}/tokens/{ruby}/remove", {}, csrf=page.csrf(), expect=404)


async def test_pages_sets__edit_keeps_input_on_errors_and_shows_a_concurrent_change(browser: Browser, api: Api) -> None:
    alice = await signed_up(browser, api, "alice")
    set_id, _ = await shelf(api, alice)
    await make_set(api, alice, "Drawer")
    form = await browser.get(f"/app/sets/{set_id}/edit", expect=200)
    assert_labelled(form.text)
    blank = await browser.post(f"/app/sets/{set_id}/edit", {"name": "", "description": "kept text", "version": "1"},
                               csrf=form.csrf(), expect=400)
    assert blank.field_error("name") and "kept text" in blank
    taken = await browser.post(f"/app/sets/{set_id}/edit", {"name": "Drawer", "description": "", "version": "1"},
                               csrf=form.csrf(), expect=409)
    assert "Drawer" in (taken.field_error("name") or "")
    saved = await browser.post(f"/app/sets/{set_id}/edit", {"name": "Glass case", "description": "*shiny*",
                                                            "version": "1"}, csrf=form.csrf(), expect=200)
    assert "Set saved." in saved and "<h1>Glass case</h1>" in saved.text and "<em>shiny</em>" in saved.text
    await api.patch(f"/api/v1/sets/{set_id}", {"name": "Cabinet"}, token=alice, expect=200)
    stale = await browser.post(f"/app/sets/{set_id}/edit", {"name": "Box", "description": "", "version": "2"},
                               csrf=form.csrf(), expect=409)
    assert "Someone changed this set while you were editing" in stale and 'value="Cabinet"' in stale.text
    assert (await TokenSet.get(id=set_id)).name == "Cabinet"


async def test_pages_sets__search_by_equals_range_and_pattern(browser: Browser, api: Api) -> None:
    alice = await signed_up(browser, api, "alice")
    set_id, tokens = await shelf(api, alice)
    await api.post(f"/api/v1/sets/{set_id}/tokens", {"tokens": tokens}, token=alice, expect=200)
    form = await browser.get(f"/app/sets/{set_id}/search", expect=200)
    assert_labelled(form.text)
    base = f"/app/sets/{set_id}/search?searched=1"
    red = await browser.get(f"{base}&f0-attribute=colour&f0-op=eq&f0-value=red", expect=200)
    assert "2 token(s) found" in red and "Ruby" in red and "Garnet" in red and "Sapphire" not in red
    both = await browser.get(f"{base}&f0-attribute=colour&f0-op=eq&f0-value=red&f1-attribute=weight&f1-op=range"
                             "&f1-min=10&f1-max=20", expect=200)
    assert "1 token(s) found" in both and "Ruby" in both and "Garnet" not in both
    pattern = await browser.get(f"{base}&f0-attribute=label&f0-op=regex&f0-pattern=^S", expect=200)
    assert "1 token(s) found" in pattern and "Sapphire" in pattern
    bad = await browser.get(f"{base}&f0-attribute=weight&f0-op=range&f0-min=20&f0-max=10", expect=400)
    assert "min must not be greater than max" in bad and 'value="20"' in bad.text


async def test_pages_sets__delete_after_confirming(browser: Browser, api: Api) -> None:
    alice = await signed_up(browser, api, "alice")
    set_id, tokens = await shelf(api, alice)
    confirm = await browser.get(f"/app/sets/{set_id}/delete", expect=200)
    assert "The tokens themselves stay as they are" in confirm and "Keep it" in confirm
    assert (await TokenSet.get(id=set_id)).is_deleted is False  # opening the page changes nothing
    gone = await browser.post(f"/app/sets/{set_id}/delete", {}, csrf=confirm.csrf(), expect=200)
    assert "Set Shelf deleted. Its tokens are untouched." in gone and gone.url.endswith("/app/sets")
    assert (await TokenSet.get(id=set_id)).is_deleted
    await browser.get(f"/app/sets/{set_id}", expect=404)
    await api.get(f"/api/v1/tokens/{tokens[0]}", token=alice, expect=200)


async def test_pages_sets__another_users_set_is_not_found_and_forged_forms_are_refused(
    browser: Browser, api: Api
) -> None:
    bob = await api.user("bob")
    theirs, (ruby, *_rest) = await shelf(api, bob)
    await api.post(f"/api/v1/sets/{theirs}/tokens", {"tokens": [ruby]}, token=bob, expect=200)
    await signed_up(browser, api, "alice")
    seen = await browser.get(f"/app/sets/{theirs}", expect=200)  # sets are public to read
    assert "Edit" not in seen and "Take out" not in seen and "Add tokens" not in seen
    for path in ("edit", "delete"):
        await browser.get(f"/app/sets/{theirs}/{path}", expect=404)
        await browser.post(f"/app/sets/{theirs}/{path}", {"name": "Mine"}, csrf=seen.csrf(), expect=404)
    await browser.post(f"/app/sets/{theirs}/tokens/{ruby}/remove", {}, csrf=seen.csrf(), expect=404)
    await browser.post(f"/app/sets/{theirs}/export", {}, csrf=seen.csrf(), expect=404)
    mine, _ = await shelf(api, (await api.post(
        "/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)).body["token"])
    await browser.post(f"/app/sets/{mine}/delete", {}, csrf="forged", expect=403)
    await browser.post(f"/app/sets/{mine}/delete", {}, expect=403)
    assert not (await TokenSet.get(id=mine)).is_deleted and not (await TokenSet.get(id=theirs)).is_deleted
    assert await SetMember.filter(set_id=theirs).count() == 1

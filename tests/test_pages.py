"""The web pages call the same operations as the API: types, mint/give/burn, tokens, sets, jobs, admin."""

from __future__ import annotations

import re

import pytest

from .conftest import Api
from .pagehelpers import Browser, Page
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


def type_id_of(page: Page) -> str:
    match = re.search(r"/app/types/([0-9a-z]{26})$", page.url)
    assert match, page.url
    return match.group(1)


async def make_type(browser: Browser, **extra: str) -> str:
    form = {
        "name": "Coffee cups",
        "symbol": "CUP",
        "fungible": "on",
        "smallest_unit": "0",
        "description": "",
        "rows": "2",
        "attr-0-name": "roast",
        "attr-0-type": "enum",
        "attr-0-enum": "light, dark",
        "attr-1-name": "strength",
        "attr-1-type": "integer",
        "attr-1-min": "1",
        "attr-1-max": "5",
    } | extra
    page = await browser.submit("/app/types/new", "/app/types/new", form)
    assert page.status == 200, page.text[:2000]
    return type_id_of(page)


async def test_pages__create_a_type_with_two_attributes(browser: Browser, api: Api) -> None:
    await browser.sign_up("ann")
    type_id = await make_type(browser)
    reply = await api.get(f"/api/v1/types/{type_id}")
    assert [(a["name"], a["type"]) for a in reply.body["attributes"]] == [("roast", "enum"), ("strength", "integer")]
    assert reply.body["attributes"][1]["min"] == 1 and reply.body["attributes"][0]["enum"] == ["light", "dark"]


async def test_pages__schema_editor_adds_rows_without_javascript(browser: Browser) -> None:
    await browser.sign_up("ann")
    opened = await browser.get("/app/types/new")
    assert opened.text.count('class="schema-row"') == 2
    page = await browser.post(
        "/app/types/new", {"name": "X", "symbol": "X", "rows": "2", "attr-0-name": "a", "more": "1"}, csrf=opened.csrf()
    )
    assert page.status == 200 and page.text.count('class="schema-row"') == 3  # the filled row plus two blank ones
    assert 'value="a"' in page.text and 'value="X"' in page.text
    assert_labelled(page.text)


async def test_pages__bad_schema_row_is_marked_and_nothing_is_created(browser: Browser, api: Api) -> None:
    token = await api.user("probe")
    await browser.sign_up("ann")
    page = await browser.submit(
        "/app/types/new",
        "/app/types/new",
        {
            "name": "Broken",
            "symbol": "B",
            "fungible": "on",
            "smallest_unit": "0",
            "rows": "1",
            "attr-0-name": "9bad name",
            "attr-0-type": "string",
        },
    )
    assert page.status == 400 and page.field_error("attr-0-name")
    listed = await api.get("/api/v1/types", params={"owner": "ann"}, token=token)
    assert listed.body["items"] == []


async def test_pages__mint_give_and_see_balance_and_trace(browser: Browser, api: Api, aiohttp_client) -> None:
    await api.user("bob")
    await browser.sign_up("ann")
    type_id = await make_type(browser)
    minted = await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/mint", {"amount": "100"})
    assert minted.status == 200 and "Minted 100." in minted
    given = await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"amount": "10", "to": "bob"})
    assert given.status == 200 and "Gave 10." in given
    # the trace: the create first, then this give, drawn as a chain
    steps = re.findall(r'<li class="step[^"]*"[^>]*>\s*<span class="kind kind-(\w+)">', given.text)
    assert steps == ["create", "give"]
    wallet = await browser.get("/")
    assert re.search(rf'data-type="{type_id}">.*?class="num balance">90<', wallet.text, re.S)
    bob = Browser(await aiohttp_client(api.client.server))
    await bob.sign_in("bob")
    bob_wallet = await bob.get("/")
    assert re.search(rf'data-type="{type_id}">.*?class="num balance">10<', bob_wallet.text, re.S)


async def test_pages__bad_amount_shows_beside_the_field_and_changes_nothing(browser: Browser, api: Api) -> None:
    await api.user("bob")
    await browser.sign_up("ann")
    type_id = await make_type(browser)
    await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/mint", {"amount": "100"})
    for amount in ("-5", "abc", "1000", "0.5"):
        page = await browser.submit(
            f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"amount": amount, "to": "bob"}
        )
        assert page.status in (400, 409, 422), page.text[:300]
        assert page.field_error("amount"), page.text
        assert f'value="{amount}"' in page.text  # what was typed stays in the form
    to_self = await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"amount": "5", "to": "ann"})
    assert to_self.status == 422 and to_self.field_error("to")
    unknown = await browser.submit(
        f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"amount": "5", "to": "nobody"}
    )
    assert unknown.status == 404 and "nobody" in (unknown.field_error("to") or "")
    again = await browser.get(f"/app/types/{type_id}")
    assert re.search(r'class="balance">100<', again.text)


async def test_pages__token_page_renders_markdown_safely(browser: Browser) -> None:
    await browser.sign_up("ann")
    type_id = await make_type(
        browser,
        **{
            "fungible": "",
            "rows": "1",
            "attr-0-name": "notes",
            "attr-0-type": "markdown",
            "attr-0-enum": "",
            "attr-1-name": "",
        },
    )
    page = await browser.submit(
        f"/app/types/{type_id}",
        f"/app/types/{type_id}/tokens",
        {
            "a-notes": "**bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        },
    )
    assert page.status == 200 and "/app/tokens/" in page.url
    assert "<strong>bold</strong>" in page.text
    assert "<script>alert" not in page.text and not re.search(r"<img[^>]*onerror", page.text)
    assert 'href="javascript:' not in page.text
    assert "@ann" in page and "owned by ann@" in page


async def test_pages__sets_create_add_tokens_and_render_with_the_format(browser: Browser, api: Api) -> None:
    await browser.sign_up("ann")
    type_id = await make_type(browser, fungible="")
    token_page = await browser.submit(
        f"/app/types/{type_id}", f"/app/types/{type_id}/tokens", {"a-roast": "dark", "a-strength": "3"}
    )
    token_id = token_page.url.rsplit("/", 1)[1]
    created = await browser.submit("/app/sets", "/app/sets", {"name": "Shelf", "description": "My *shelf*"})
    assert created.status == 200 and "<em>shelf</em>" in created.text
    set_id = created.url.rsplit("/", 1)[1]
    added = await browser.post(f"/app/sets/{set_id}/tokens", {"tokens": token_id}, csrf=created.csrf())
    assert "Added 1 token(s)." in added and f"/app/tokens/{token_id}" in added.text
    assert f'src="/api/v1/sets/{set_id}/format/html"' in added.text
    bad = await browser.post(f"/app/sets/{set_id}/tokens", {"tokens": "nosuchtoken"}, csrf=added.csrf())
    assert bad.status >= 400 and bad.field_error("tokens")
    duplicate = await browser.submit("/app/sets", "/app/sets", {"name": "Shelf"})
    assert duplicate.status == 409 and duplicate.field_error("name")


async def test_pages__job_list_shows_status(browser: Browser, api: Api) -> None:
    token = await api.user("jo")
    reply = await api.post(
        "/api/v1/types",
        {"name": "T", "symbol": "T", "fungible": True, "smallest_unit": 0},
        token=token,
        headers={"Prefer": "respond-async"},
    )
    assert reply.status == 202
    await browser.sign_in("jo")
    page = await browser.get("/app/jobs", expect=200)
    assert "New token type" in page and re.search(r'class="state-(queued|running|succeeded)"', page.text)
    assert "types.create" not in page  # people read what a job does, not the operation's name


async def test_pages__admin_freezes_regenerates_and_sets_roles(browser: Browser, api: Api) -> None:
    await api.user("root", roles=["admin"])
    old = await api.user("carl")
    await browser.sign_in("root")
    page = await browser.get("/app/admin/users")
    assert page.status == 200 and 'id="user-carl"' in page.text
    frozen = await browser.post("/app/admin/users/carl/freeze", {}, csrf=page.csrf())
    assert re.search(r'id="user-carl">.*?class="status">frozen<', frozen.text, re.S)
    refused = await api.post(
        "/api/v1/types", {"name": "T", "symbol": "T", "fungible": True, "smallest_unit": 0}, token=old
    )
    assert refused.status == 403
    await browser.post("/app/admin/users/carl/unfreeze", {}, csrf=page.csrf(), expect=200)
    regenerated = await browser.post("/app/admin/users/carl/token", {}, csrf=page.csrf())
    new = re.search(r'class="secret">([^<]+)<', regenerated.text).group(1)
    assert (await api.get("/api/v1/me", token=old)).status == 401
    assert (await api.get("/api/v1/me", token=new)).body["username"] == "carl"
    roles = [("roles", "tester"), ("roles", "job-read")]
    await browser.post("/app/admin/users/carl/roles", roles, csrf=page.csrf(), expect=200)
    assert (await api.get("/api/v1/me", token=new)).body["roles"] == ["job-read", "tester"]


async def test_pages__admin_pages_are_refused_to_other_users(browser: Browser, api: Api) -> None:
    await api.user("carl")
    await browser.sign_in("carl")
    page = await browser.get("/app/admin/users")
    assert page.status == 403 and "<title>Not allowed" in page.text
    home = await browser.get("/")
    refused = await browser.post("/app/admin/users/carl/freeze", {}, csrf=home.csrf())
    assert refused.status == 403


@pytest.mark.parametrize("path", ["/", "/app/types/new", "/app/sets", "/app/jobs"])
async def test_pages__signed_in_pages_have_titles_and_labelled_inputs(browser: Browser, path: str) -> None:
    await browser.sign_up("ann")
    page = await browser.get(path)
    assert page.status == 200 and re.search(r"<title>[^<]+</title>", page.text)
    assert_labelled(page.text)


async def test_pages__missing_things_are_friendly_404_pages(browser: Browser) -> None:
    for path in ("/app/types/nosuch", "/app/tokens/nosuch", "/app/entries/nosuch", "/app/sets/nosuch"):
        page = await browser.get(path)
        assert page.status == 404 and "<title>Page not found" in page.text, path


async def test_pages__edit_a_type_keeps_options_the_editor_does_not_show(browser: Browser, api: Api) -> None:
    token = await api.user("ed")
    created = await api.post(
        "/api/v1/types",
        {
            "name": "Cards",
            "symbol": "CRD",
            "fungible": False,
            "smallest_unit": 0,
            "attributes": [{"name": "rarity", "type": "string", "default": "common", "private": True}],
        },
        token=token,
    )
    type_id = created.body["id"]
    await browser.sign_in("ed")
    form = await browser.get(f"/app/types/{type_id}/edit")
    assert form.status == 200 and 'value="rarity"' in form.text
    assert_labelled(form.text)
    saved = await browser.post(
        f"/app/types/{type_id}/edit",
        {
            "name": "Trading cards",
            "symbol": "CRD",
            "smallest_unit": "0",
            "version": "1",
            "rows": "2",
            "attr-0-name": "rarity",
            "attr-0-type": "string",
            "attr-0-max": "20",
            "attr-1-name": "year",
            "attr-1-type": "integer",
        },
        csrf=form.csrf(),
    )
    assert saved.status == 200 and "Token type Trading cards saved." in saved
    body = (await api.get(f"/api/v1/types/{type_id}")).body
    rarity = body["attributes"][0]
    assert (
        body["name"] == "Trading cards" and rarity["max"] == 20 and rarity["default"] == "common" and rarity["private"]
    )
    assert [a["name"] for a in body["attributes"]] == ["rarity", "year"]
    stale = await browser.post(
        f"/app/types/{type_id}/edit", {"name": "Old", "symbol": "CRD", "version": "1", "rows": "0"}, csrf=form.csrf()
    )
    assert stale.status == 409 and "version" in stale
    assert (await api.get(f"/api/v1/types/{type_id}")).body["name"] == "Trading cards"


async def test_pages__only_the_owner_may_edit_a_type(browser: Browser, api: Api) -> None:
    token = await api.user("ed")
    created = await api.post(
        "/api/v1/types", {"name": "C", "symbol": "C", "fungible": True, "smallest_unit": 0}, token=token
    )
    await browser.sign_up("eve")
    page = await browser.get(f"/app/types/{created.body['id']}/edit")
    assert page.status == 403


async def test_pages__the_owner_gives_a_unique_token_from_its_page(browser: Browser, api: Api) -> None:
    await api.user("bob")
    await browser.sign_up("ann")
    type_id = await make_type(browser, fungible="")
    token_page = await browser.submit(
        f"/app/types/{type_id}", f"/app/types/{type_id}/tokens", {"a-roast": "light", "a-strength": "2"}
    )
    assert 'id="give-token-form"' in token_page.text
    token_id = token_page.url.rsplit("/", 1)[1]
    given = await browser.post(
        f"/app/types/{type_id}/give", {"token": token_id, "amount": "1", "to": "bob"}, csrf=token_page.csrf()
    )
    assert given.status == 200 and "Gave 1." in given
    after = await browser.get(f"/app/tokens/{token_id}")
    assert re.search(r'class="owner">bob@', after.text) and 'id="give-token-form"' not in after.text


async def test_pages__every_page_passes_the_accessibility_smoke_check(browser: Browser, api: Api) -> None:
    """Each page: a <title>, one <h1>, lang set, and a label for every form control."""
    await api.user("root", roles=["admin"])
    await browser.sign_in("root")
    unique = await make_type(browser, fungible="")
    token_page = await browser.submit(
        f"/app/types/{unique}", f"/app/types/{unique}/tokens", {"a-roast": "dark", "a-strength": "4"}
    )
    fungible = await make_type(browser, name="Beans", symbol="BN")
    entry = await browser.submit(f"/app/types/{fungible}", f"/app/types/{fungible}/mint", {"amount": "3"})
    made_set = await browser.submit("/app/sets", "/app/sets", {"name": "Box"})
    app = (await api.post("/api/v1/apps", {"client_name": "A", "redirect_uris": "https://a.example/cb"})).body
    paths = [
        "/",
        "/signin?next=/",
        "/app/types/new",
        f"/app/types/{unique}",
        f"/app/types/{unique}/edit",
        f"/app/types/{fungible}",
        token_page.url,
        entry.url,
        "/app/sets",
        made_set.url,
        "/app/jobs",
        "/app/admin/users",
        "/app/apps",
        "/app/delegations",
        "/no/such/page",
        f"/oauth/authorize?client_id={app['client_id']}&redirect_uri=https://a.example/cb&response_type=code",
    ]
    for path in paths:
        page = await browser.get(path.removeprefix(str(browser.client.make_url(""))))
        assert page.status == (404 if "no/such" in path else 200), path
        assert re.search(r"<title>[^<]+</title>", page.text), path
        assert '<html lang="en">' in page.text and page.text.count("<h1") == 1, path
        assert_labelled(page.text)

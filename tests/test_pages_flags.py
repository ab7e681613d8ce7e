"""Flags on the operation page: anyone signed in labels an operation, sees who set each label,
and takes their own off; someone else's label stays and has no remove button for them."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api
from .pagehelpers import Browser
from .test_pages_session import assert_labelled


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def _login(api: Api, username: str) -> str:
    reply = await api.post("/api/v1/auth/login", {"username": username, "password": "correct horse"}, expect=200)
    return str(reply.body["token"])


async def test_pages_flags__flag_see_who_and_remove_your_own(browser: Browser, api: Api, aiohttp_client: Any) -> None:
    await browser.sign_up("alice")
    alice = await _login(api, "alice")
    coin = (await api.post("/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2},
                           token=alice, expect=201)).body["id"]
    made = (await api.post("/api/v1/ledger/create", {"type": coin, "amount": "10.00"}, token=alice, expect=201)).body
    path = f"/app/entries/{made['id']}"
    opened = await browser.get(path, expect=200)
    assert "Flag this operation" in opened and "<script" not in opened.text
    assert_labelled(opened.text)

    bad = await browser.post(f"{path}/flags", {"flag": "Not OK!"}, csrf=opened.csrf(), expect=400)
    assert bad.field_error("flag") and 'value="Not OK!"' in bad.text, bad.text[:2000]
    assert "Not OK!" not in (await api.get(f"/api/v1/ledger/operations/{made['id']}", token=alice, expect=200)).text

    flagged = await browser.post(f"{path}/flags", {"flag": "disputed"}, csrf=opened.csrf(), expect=200)
    assert "Flagged disputed." in flagged and "set by alice@" in flagged and "Remove disputed" in flagged
    stored = await api.get(f"/api/v1/ledger/operations/{made['id']}", token=alice, expect=200)
    assert stored.body["flags"] == ["disputed"]

    # bob flags it too; alice sees his label but no button to remove it
    bob_browser = Browser(await aiohttp_client(api.client.server))  # a second cookie jar
    await bob_browser.sign_up("bob")
    bob_page = await bob_browser.get(path, expect=200)
    await bob_browser.post(f"{path}/flags", {"flag": "checked"}, csrf=bob_page.csrf(), expect=200)
    seen = await browser.get(path, expect=200)
    assert "set by bob@" in seen and "Remove checked" not in seen and "Remove disputed" in seen
    refused = await browser.post(f"{path}/flags", {"flag": "checked", "remove": "1"}, csrf=opened.csrf(), expect=403)
    assert "only they or a moderator can remove it" in refused

    removed = await browser.post(f"{path}/flags", {"flag": "disputed", "remove": "1"}, csrf=opened.csrf(), expect=200)
    assert "Flag disputed removed." in removed
    after = await api.get(f"/api/v1/ledger/operations/{made['id']}", token=alice, expect=200)
    assert after.body["flags"] == ["checked"]


async def test_pages_flags__signed_out_sees_no_form_and_cannot_post(
    browser: Browser, api: Api, aiohttp_client: Any
) -> None:
    await browser.sign_up("carol")
    carol = await _login(api, "carol")
    coin = (await api.post("/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0},
                           token=carol, expect=201)).body["id"]
    made = (await api.post("/api/v1/ledger/create", {"type": coin, "amount": "5"}, token=carol, expect=201)).body
    anonymous = Browser(await aiohttp_client(api.client.server))
    page = await anonymous.get(f"/app/entries/{made['id']}", expect=200)
    assert "Flag this operation" not in page
    refused = await anonymous.post(f"/app/entries/{made['id']}/flags", {"flag": "spam"},
                                   csrf=(await anonymous.get("/signin", expect=200)).csrf())
    assert "/signin" in refused.url and "Flagged" not in refused
    stored = await api.get(f"/api/v1/ledger/operations/{made['id']}", token=carol, expect=200)
    assert stored.body["flags"] == []

"""The watchers page: make a watcher from a form (its errors beside the fields), see its last
firings, turn it off and on, delete it; every field labelled, no JavaScript."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.watchers import Watcher
from server.settings import Settings

from .conftest import Api
from .dbutil import test_settings as settings_for
from .pagehelpers import Browser
from .test_pages_session import assert_labelled
from .test_watchers import tick

PAGE = "/app/watchers"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """No embedded runner: the tests drive watchers.checks themselves (run_due), check by check."""
    return settings_for(tmp_path, database_url, embedded_workers=False)


@pytest.fixture
def browser(api: Api) -> Browser:
    return Browser(api.client)


async def test_pages_watchers__make_see_firings_turn_off_and_delete(browser: Browser, api: Api) -> None:
    await browser.sign_up("alice")
    form = await browser.get(PAGE, expect=200)
    assert "You have no watchers yet" in form and "<script" not in form.text
    assert_labelled(form.text)
    alice = await api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)
    coin = (await api.post("/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 2},
                           token=alice.body["token"], expect=201)).body["id"]
    await api.post("/api/v1/ledger/create", {"type": coin, "amount": "10.00"}, token=alice.body["token"], expect=201)
    bad = await browser.post(PAGE, {"name": "low", "kind": "balance", "fire_on": "hit", "every_minutes": "0.5",
                                    "type": coin, "actor": "alice", "below": "50"}, csrf=form.csrf(), expect=400)
    assert bad.field_error("every_minutes"), bad.text[:2000]
    assert_labelled(bad.text)
    nothing = await browser.post(PAGE, {"name": "low", "kind": "balance", "every_minutes": "5", "type": coin,
                                        "actor": "alice"}, csrf=form.csrf(), expect=400)
    assert "needs query.above, query.below or both" in nothing
    made = await browser.post(PAGE, {"name": "low coins", "kind": "balance", "fire_on": "hit", "every_minutes": "5",
                                     "type": coin, "actor": "alice", "below": "50"}, csrf=form.csrf(), expect=200)
    assert "Watcher saved" in made and "low coins" in made and "It has not fired yet" in made
    assert await tick(api, 0) == 1
    seen = await browser.get(PAGE, expect=200)
    assert "1 found (10.00)" in seen, seen.text[:3000]
    watcher = await Watcher.get(name="low coins")
    off = await browser.post(f"{PAGE}/{watcher.id}/off", {}, csrf=form.csrf(), expect=200)
    assert "Watcher off" in off and "Turn on" in off
    assert not (await Watcher.get(id=watcher.id)).enabled
    on = await browser.post(f"{PAGE}/{watcher.id}/on", {}, csrf=form.csrf(), expect=200)
    assert "Turn off" in on
    await api.user("bob")
    assert await Watcher.filter(id=watcher.id).exists()
    gone = await browser.post(f"{PAGE}/{watcher.id}/delete", {}, csrf=form.csrf(), expect=200)
    assert "Watcher deleted" in gone and "You have no watchers yet" in gone


async def test_pages_watchers__another_users_watcher_is_not_found(browser: Browser, api: Api) -> None:
    bob = await api.user("bob")
    coin = (await api.post("/api/v1/types", {"name": "Coin", "symbol": "CN", "fungible": True, "smallest_unit": 0}, token=bob,
                           expect=201)).body["id"]
    theirs = await api.post("/api/v1/watchers", {"name": "b", "kind": "lots", "query": {"type": coin, "within_minutes": 60}},
                            token=bob, expect=201)
    await browser.sign_up("alice")
    form = await browser.get(PAGE, expect=200)
    refused = await browser.post(f"{PAGE}/{theirs.body['id']}/off", {}, csrf=form.csrf(), expect=404)
    assert "there is no watcher" in refused
    assert (await Watcher.get(id=theirs.body["id"])).enabled
    assert (await browser.get("/app/watchers", expect=None)) is not None

"""The network pages: make a network, discover from a handle (progress on its page, no
JavaScript), make a subnetwork by a filter, make a distribution and see its allocations;
every field labelled; other people's pages are 404."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from models.engine import run_due
from models.machines import DISTRIBUTION_RUNS

from .conftest import Api
from .fedhelpers import Remote, fed_api, remote, site_of  # noqa: F401  (fixtures)
from .networkhelpers import run_discoveries, star_with_followers
from .pagehelpers import Browser
from .test_ledger import new_type
from .test_pages_session import assert_labelled


def path_of(url: str) -> str:
    """The path of a page's URL (the browser gets paths), without the query."""
    return urlsplit(url).path


@pytest.fixture
def browser(fed_api: Api) -> Browser:
    return Browser(fed_api.client)


async def test_pages_networks__discover_filter_and_distribute(browser: Browser, fed_api: Api, remote: Remote) -> None:
    await browser.sign_up("alice")
    start = star_with_followers(remote, ["ann", "anna", "ben"])
    listing = await browser.get("/app/networks", expect=200)
    assert "You have no networks yet" in listing
    assert_labelled(listing.text)
    empty = await browser.post("/app/networks", {"name": ""}, csrf=listing.csrf(), expect=400)
    assert empty.field_error("name"), empty.text[:2000]
    made = await browser.post("/app/networks", {"name": "Friends"}, csrf=listing.csrf(), expect=200)
    assert "Network made" in made and "No entries yet" in made
    assert_labelled(made.text)
    network_path = path_of(made.url)
    started = await browser.post(f"{network_path}/discover", {"start": start, "collections": "followers"},
                                 csrf=made.csrf(), expect=200)
    assert "Discovery started" in started and "Waiting to start" in started
    assert '<meta http-equiv="refresh" content="5">' in started.text and "<script" not in started.text
    await run_discoveries(fed_api)
    progress = await browser.get(path_of(started.url), expect=200)
    assert "Finished" in progress and "3 entries found, 1 pages read" in progress
    assert 'http-equiv="refresh"' not in progress.text
    network = await browser.get(network_path, expect=200)
    assert f"ann@127.0.0.1:{remote.port}" in network and f"ben@127.0.0.1:{remote.port}" in network
    sub = await browser.post(f"{network_path}/subnetworks", {"name": "A team", "attribute": "handle", "op": "regex",
                                                             "pattern": "^ann"}, csrf=network.csrf(), expect=200)
    assert "Subnetwork made: 2 entries match" in sub and "Filtered from" in sub
    bad = await browser.post(f"{network_path}/subnetworks", {"name": "B", "attribute": "handle", "op": "regex",
                                                             "pattern": "("}, csrf=network.csrf(), expect=400)
    assert "Make a subnetwork" in bad
    refused = await browser.post(f"{network_path}/discover", {"start": "nobody"}, csrf=network.csrf(), expect=400)
    assert "is not @name@server" in refused
    # a distribution to the whole network
    alice = await fed_api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}, expect=200)
    coin = (await new_type(fed_api, alice.body["token"], smallest_unit=0))["id"]
    await fed_api.post("/api/v1/ledger/create", {"type": coin, "amount": "10"}, token=alice.body["token"], expect=201)
    form = await browser.get(f"/app/distributions?network={network_path.rsplit('/', 1)[1]}", expect=200)
    assert_labelled(form.text)
    short = await browser.post("/app/distributions", {"network": network_path.rsplit("/", 1)[1], "type": coin, "amount": "4",
                                                      "days": "30"}, csrf=form.csrf(), expect=409)
    assert "Make a distribution" in short
    given = await browser.post("/app/distributions", {"network": network_path.rsplit("/", 1)[1], "type": coin,
                                                      "amount": "2", "name": "Hello", "days": "30"}, csrf=form.csrf(), expect=200)
    assert "Distribution made" in given and "0 of 3 allocated" in given
    assert await run_due(site_of(fed_api), DISTRIBUTION_RUNS) == 1
    shown = await browser.get(path_of(given.url), expect=200)
    assert "3 of 3 allocated; 0 claimed, 0 expired" in shown and shown.text.count("waiting</td>") == 3
    svg = re.search(r"<svg.*?</svg>", shown.text, re.S)
    assert svg and 'role="img"' in svg.group(0)


async def test_pages_networks__other_peoples_pages_are_not_found(browser: Browser, fed_api: Api) -> None:
    bob = await fed_api.user("bob")
    network = await fed_api.post("/api/v1/networks", {"name": "Mine"}, token=bob, expect=201)
    await browser.sign_up("eve")
    await browser.get(f"/app/networks/{network.body['id']}", expect=404)
    await browser.get("/app/discoveries/nosuch", expect=404)
    await browser.get("/app/distributions/nosuch", expect=404)
    mine = await browser.get("/app/distributions", expect=200)
    assert "You have no distributions yet" in mine
